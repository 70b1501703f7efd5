//go:build linux

package rawproc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SpawnArgs is everything the child that Spawn clones needs, prepared
// before the clone: it runs no Go code that allocates.
type SpawnArgs struct {
	CloneFlags   uintptr
	Pidfd        int32   // the child's pidfd, which clone (CLONE_PIDFD) stores here
	ParentFD     uintptr // a pidfd of the calling process
	ErrFD        uintptr // write end of the report pipe (close-on-exec)
	GateR, GateW uintptr // the id-map gate, or 0
	HoldR, HoldW uintptr // the hold before execve (Prepare), or 0
	// HoldReaps: the held process ignores SIGCHLD, so that the kernel
	// reaps every child it gets (the orphans of a held PID namespace,
	// of which it is PID 1) at once. For a process that is never started
	// (Namespace.Create): the disposition would survive execve.
	HoldReaps bool

	// Steps is the set-up, performed after the id-map gate.
	Steps []Step
	WD    WorkDir

	Fds        []int // descriptor i of the program is Fds[i]; -1: closed
	NextFD     int   // free descriptors start here (above every Fds[i] and i)
	Setsid     bool
	Setpgid    bool
	Pgid       int
	Foreground bool
	Setctty    bool
	Ctty       int
	// Reaper (WithKillDescendants without a PID namespace): the cloned
	// process forks a subreaper, which forks the program.
	Reaper Subreaper
	// Init (WithMinimalInit): the cloned process stays PID 1 and forks the
	// program as PID 2, which leads a process group of its own in the
	// terminal's foreground if InitTakesTerminal.
	Init              bool
	InitTakesTerminal bool
	InitCtty          int // the terminal, among the program's descriptors
	Path              *byte
	Argv, Envv        **byte
	// ExecFD, if ExecByFD, is a descriptor (close-on-exec) of the program,
	// opened by the parent before the clone: the child executes it with
	// execveat(ExecFD, "", AT_EMPTY_PATH) instead of execve(Path), so that
	// a mount namespace the child joined cannot substitute another file
	// (a /proc of its own with self/exe pointing elsewhere).
	ExecFD   uintptr
	ExecByFD bool
	report   [8]byte
	// program is set by WithMinimalInit's PID 1 (or the subreaper) in its
	// own memory before it clones the program with CLONE_VM: vmChild is
	// then PID 2 (programChild), not the set-up.
	program bool
	// ResetSignals has bit N-1 set for each signal N that the Go runtime
	// handles and the program must get with its default action.
	ResetSignals uint64
	// Mask is the signal mask the program starts with (bit N-1 for signal
	// N): os/exec gives its children the mask the calling program started
	// with.
	Mask uint64
	// RestoreNofile: before execve, the child sets RLIMIT_NOFILE back to
	// Nofile (soft, hard) if its soft limit is still the hard one less one,
	// where the Go runtime raised it as it started, as os/exec's children
	// do (see syscall's rlimit.go).
	RestoreNofile bool
	Nofile        Rlimit
	// TimeFork: the cloned process forks the program, as PID 1 does, and
	// stays in front of it; the program dies with it. A fork enters the
	// time namespace that the set-up made, which execve does only since
	// Linux 6.3.
	TimeFork bool
	// NoVMFork: the fork of the program (Init, Reaper, TimeFork) copies
	// this process instead of sharing its memory: the set-up made a time
	// namespace for its children, and the kernel refuses CLONE_VM to a
	// process whose children's time namespace differs from its own.
	NoVMFork bool
	// OwnMemory: the cloned process must not share the caller's memory:
	// it joins a time namespace, which setns(2) refuses a process sharing
	// its memory with another (EUSERS).
	OwnMemory bool
	// Stack, if not nil and VMClone, is the stack of a child that shares
	// the caller's memory (see vmclone.go and SharesMemory). The caller
	// frees it once the child has executed its program or exited.
	Stack *Stack

	// IntoCgroup says that the child is born in the cgroup v2 directory
	// of the descriptor CgroupFD (clone3 with CLONE_INTO_CGROUP, Linux
	// 5.7), which may be any descriptor, 0 included (a caller whose
	// standard input is closed gets the directory as 0), as with
	// syscall.SysProcAttr's UseCgroupFD. Such a child shares the caller's
	// memory as any other where SharesMemory says so (cloneVM with
	// clone3).
	IntoCgroup bool
	CgroupFD   int
	cloneArgs  cloneArgs
}

// SharesMemory reports whether Spawn clones the child with CLONE_VM: it
// runs in the caller's address space until it has executed the program or
// exited, so the caller must keep a, everything it points to and a.Stack
// alive and unchanged until then. Otherwise the child is a fork-style copy
// (WithMinimalInit's PID 1, WithKillDescendants' cloned process and the
// TimeFork relay outlive the program's execve, one that joins a time
// namespace (OwnMemory), and architectures without cloneVM). A child born in a cgroup (IntoCgroup) shares it too: cloneVM
// makes clone3(2) for it.
func (a *SpawnArgs) SharesMemory() bool {
	return VMClone && a.Stack != nil && !a.Init && !a.Reaper.On && !a.TimeFork && !a.OwnMemory
}

// Suspends reports whether Spawn's calling thread sleeps until the child
// has executed the program or exited (CLONE_VFORK): the child shares the
// caller's memory and the caller has nothing to do for it in between (no
// id-map gate, no hold).
func (a *SpawnArgs) Suspends() bool {
	return a.SharesMemory() && a.GateR == 0 && a.HoldR == 0
}

// A report, written by the child into the pipe ErrFD: the code of the
// failed step (an index into Steps, or one of the Code constants) and its
// errno, each a native-endian uint32; CodeHeld and errno 0 when a held
// child (HoldR) is set up. A successful execve closes the pipe.
const ReportSize = 8

// Spawn clones the child and, in it, performs the set-up and executes
// the program. It returns the child's pid in the parent.
//
// The child shares the caller's memory (CLONE_VM, on a.Stack) if
// a.SharesMemory(), and the calling thread sleeps until the child has
// executed or exited (CLONE_VFORK) if a.Suspends(); otherwise it is a
// fork-style copy. The caller blocks every signal on the calling thread
// (locked to it) around Spawn.
//
// The child never returns and must not call anything that can grow the
// stack, allocate or take a lock: only syscall.RawSyscall6 (nosplit) and
// arithmetic, as the standard library's code between fork and exec. A
// fork-style child runs on a copy of this function's frame (in place before
// the clone, hence noinline) and nosplit callees; a CLONE_VM child runs
// vmChild on its own stack. In a CLONE_VM child every write lands in the
// caller's memory: it writes only non-pointer fields of a and the buffers
// it points to, which the caller does not read.
//
// cgroups: a child born in a cgroup (a.IntoCgroup) is cloned by clone3(2)
// with CLONE_INTO_CGROUP. Where cloneVM exists it is the same CLONE_VM
// child as any other (cloneVM makes clone3 with struct clone_args holding
// the cgroup descriptor, the stack's base and size and the pidfd pointer);
// elsewhere, and for the processes that outlive the program's execve
// (Init, Reaper, TimeFork), it is a fork-style copy (rawCloneIntoCgroup).
//
//go:norace
//go:nocheckptr
//go:noinline
func Spawn(a *SpawnArgs) (pid int, err syscall.Errno) {
	var (
		e  syscall.Errno
		r1 uintptr
		fd uintptr
	)
	if a.SharesMemory() {
		flags := a.CloneFlags | unix.CLONE_VM
		if a.Suspends() {
			flags |= unix.CLONE_VFORK
		}
		if a.IntoCgroup {
			// clone3(args, size), born in the cgroup: args holds the
			// stack's base and size, and where the pidfd goes.
			a.cloneArgs.intoCgroup(flags, uintptr(unsafe.Pointer(&a.Pidfd)), uintptr(a.CgroupFD), a.Stack.base(), StackSize)
			r1, e2 := cloneVM(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&a.cloneArgs)), unsafe.Sizeof(a.cloneArgs), 0, a, vmEntries())
			return int(r1), syscall.Errno(e2)
		}
		// clone(flags, stack, parent_tid, ...): with CLONE_PIDFD the kernel
		// stores the pidfd at parent_tid, in the parent's memory.
		r1, e2 := cloneVM(unix.SYS_CLONE, flags, a.Stack.top(), uintptr(unsafe.Pointer(&a.Pidfd)), a, vmEntries())
		return int(r1), syscall.Errno(e2)
	}
	if a.IntoCgroup {
		r1, e = rawCloneIntoCgroup(&a.cloneArgs, a.CloneFlags, uintptr(unsafe.Pointer(&a.Pidfd)), uintptr(a.CgroupFD))
	} else {
		r1, e = rawClone(a.CloneFlags, uintptr(unsafe.Pointer(&a.Pidfd)))
	}
	if e != 0 || r1 != 0 {
		return int(r1), e
	}

	// The fork-style child.
	if st, e := spawnSetup(a); st != codeOK {
		spawnFail(a, st, e)
	}
	// The set-up: the plan's steps, in order.
	if i, e := RunSteps(a.Steps, &a.WD); i >= 0 {
		spawnFail(a, uint32(i), e)
	}
	if st, e := spawnAfterSteps(a); st != codeOK {
		spawnFail(a, st, e)
	}
	if a.Reaper.On {
		// WithKillDescendants: this process, the caller's child, forks the
		// subreaper, sends on to it every signal it gets and exits with its
		// status; the subreaper forks the program (as WithMinimalInit's PID 1
		// does, below) and, when the program has ended or this process has
		// died (SIGKILL included), kills the descendants left. First check
		// that it will find them.
		fd, e = a.Reaper.openChildren()
		if e != 0 {
			spawnFail(a, CodeChildrenFile, e)
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
		a.Reaper.Parent, _, _ = syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		r1, e = rawClone(uintptr(syscall.SIGCHLD), 0)
		if e != 0 {
			spawnFail(a, CodeForkSubreaper, e)
		}
		if r1 != 0 {
			// The subreaper shares this process's group, and so gets
			// what the terminal sends the group itself.
			syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, uintptr(^uint32(0)), 0, 0, 0, 0) // every descriptor: max_fd is an unsigned int
			InitLoop(r1, true, nil)
		}
		// The subreaper: its parent's death is a signal to it, not its
		// end. If the parent died before that was armed, go now.
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGCHLD), 0, 0, 0, 0)
		if r1, _, _ = syscall.RawSyscall6(unix.SYS_GETPPID, 0, 0, 0, 0, 0, 0); r1 != a.Reaper.Parent {
			syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
		}
	}

	if a.Init || a.Reaper.On || a.TimeFork {
		// WithMinimalInit: PID 1 forks the program as PID 2 and stays. vfork:
		// PID 1 goes on once PID 2 has executed the program or reported
		// why it could not, and then closes the report pipe, which tells
		// the parent that the program runs. PID 1 keeps no descriptor.
		// The subreaper of WithKillDescendants does the same.
		//
		// This process is a copy of the caller, whose memory may be large:
		// where cloneVM exists, PID 2 shares this copy until execve
		// (CLONE_VM, on the copy of a.Stack; this process sleeps meanwhile
		// with CLONE_VFORK, so the stack is PID 2's alone) instead of
		// copying its page tables again.
		if VMClone && a.Stack != nil && !a.NoVMFork {
			a.program = true
			var e2 uintptr
			r1, e2 = cloneVM(unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_VFORK|uintptr(syscall.SIGCHLD), a.Stack.top(), 0, a, vmEntries())
			e = syscall.Errno(e2)
		} else {
			r1, e = rawClone(unix.CLONE_VFORK|uintptr(syscall.SIGCHLD), 0)
		}
		if e != 0 {
			spawnFail(a, CodeForkProgram, e)
		}
		if r1 != 0 {
			if a.Reaper.On {
				a.Reaper.closeAllButChildren()
			} else {
				syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, uintptr(^uint32(0)), 0, 0, 0, 0) // every descriptor: max_fd is an unsigned int
			}
			InitLoop(r1, !a.InitTakesTerminal, &a.Reaper)
		}
		programChild(a)
	}
	spawnExec(a)
	return 0, 0
}

// vmChildPre is the child's part before the plan's steps; it returns only
// if it succeeded. (On amd64 and arm64 cloneVM calls vmChildPre, RunSteps
// and vmChildPost itself, so that RunSteps's deep nosplit chain starts
// from the child's first frame, within the linker's limit even in a
// fuzzing build.)
//
//go:nosplit
//go:norace
//go:nocheckptr
func vmChildPre(a *SpawnArgs) {
	if a.program {
		programChild(a)
	}
	if st, e := spawnSetup(a); st != codeOK {
		spawnFail(a, st, e)
	}
}

// vmChildPost is the child's part after the plan's steps, given RunSteps'
// results: the failed step's report, or the rest of the set-up and the
// program. It never returns.
//
//go:nosplit
//go:norace
//go:nocheckptr
func vmChildPost(a *SpawnArgs, i int, e syscall.Errno) {
	if i >= 0 {
		spawnFail(a, uint32(i), e)
	}
	if st, e := spawnAfterSteps(a); st != codeOK {
		spawnFail(a, st, e)
	}
	spawnExec(a)
}

// programChild is the program forked by WithMinimalInit's PID 1,
// WithKillDescendants' subreaper or the TimeFork relay: PID 2 (with the
// subreaper's or the relay's death as its own), which may take the
// terminal, then executes the program. It never
// returns.
//
//go:nosplit
//go:norace
//go:nocheckptr
func programChild(a *SpawnArgs) {
	var pgrp int32
	if a.Reaper.On || a.TimeFork {
		// The program dies with the subreaper (or the relay).
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
	}
	// Every signal is still blocked, so a background group may take the
	// terminal.
	if a.InitTakesTerminal {
		r1, _, _ := syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		pgrp = int32(r1)
		syscall.RawSyscall6(unix.SYS_SETPGID, 0, 0, 0, 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_IOCTL, uintptr(a.InitCtty), unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)), 0, 0, 0)
	}
	spawnExec(a)
}

// codeOK is spawnSetup's code when every step succeeded.
const codeOK = ^uint32(0)

// spawnSetup is the set-up of Spawn's child before the plan's steps: the
// parent's death and the id-map gate. It returns codeOK, or the code of
// the failed step and its errno.
//
//go:nosplit
//go:norace
//go:nocheckptr
func spawnSetup(a *SpawnArgs) (st uint32, e syscall.Errno) {
	var (
		r1 uintptr
		b  [1]byte
	)
	// The child. Die with the thread that cloned us; if the calling process
	// is already gone (it died before the death signal was armed), go now.
	dieWithParent(uintptr(syscall.SIGKILL), a.ParentFD)
	if a.HoldW != 0 {
		// Only the parent may hold the write end: its closing is Abort.
		syscall.RawSyscall6(unix.SYS_CLOSE, a.HoldW, 0, 0, 0, 0, 0)
	}

	if a.GateR != 0 {
		// Wait until the parent has written the id maps; nothing (EOF)
		// means it gave up.
		syscall.RawSyscall6(unix.SYS_CLOSE, a.GateW, 0, 0, 0, 0, 0)
		r1, _, e = syscall.RawSyscall6(unix.SYS_READ, a.GateR, uintptr(unsafe.Pointer(&b[0])), 1, 0, 0, 0)
		if r1 != 1 {
			return CodeWaitMaps, e
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, a.GateR, 0, 0, 0, 0, 0)
	}

	return codeOK, 0
}

// spawnAfterSteps is the set-up of Spawn's child after the plan's steps, up
// to the hold of Prepare: it returns codeOK, or the code of the failed
// step and its errno. (The steps are run by the child's first function,
// Spawn or vmChild, so that their deep nosplit chain starts from it.)
//
//go:nosplit
//go:norace
//go:nocheckptr
func spawnAfterSteps(a *SpawnArgs) (st uint32, e syscall.Errno) {
	var (
		r1   uintptr
		b    [1]byte
		pgrp int32
	)
	// The process as os/exec makes it: session, group, terminal,
	// descriptors.
	if a.Setsid {
		if _, _, e = syscall.RawSyscall6(unix.SYS_SETSID, 0, 0, 0, 0, 0, 0); e != 0 {
			return CodeSetsid, e
		}
	}
	if a.Setpgid || a.Foreground {
		if _, _, e = syscall.RawSyscall6(unix.SYS_SETPGID, 0, uintptr(a.Pgid), 0, 0, 0, 0); e != 0 {
			return CodeSetpgid, e
		}
	}
	if a.Foreground {
		pgrp = int32(a.Pgid)
		if pgrp == 0 {
			r1, _, _ = syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
			pgrp = int32(r1)
		}
		// Every signal is blocked, so a background group may do it.
		if _, _, e = syscall.RawSyscall6(unix.SYS_IOCTL, uintptr(a.Ctty), unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)), 0, 0, 0); e != 0 {
			return CodeForeground, e
		}
	}
	st = CodeFiles
	if a.ErrFD < uintptr(len(a.Fds)) {
		// The report pipe would be overwritten: move it up.
		r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, a.ErrFD, unix.F_DUPFD_CLOEXEC, uintptr(a.NextFD), 0, 0, 0)
		if e != 0 {
			return st, e
		}
		a.ErrFD = r1
		a.NextFD = int(r1) + 1
	}
	if a.ExecByFD && a.ExecFD < uintptr(len(a.Fds)) {
		r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, a.ExecFD, unix.F_DUPFD_CLOEXEC, uintptr(a.NextFD), 0, 0, 0)
		if e != 0 {
			return st, e
		}
		a.ExecFD = r1
		a.NextFD = int(r1) + 1
	}
	if a.HoldR != 0 && a.HoldR < uintptr(len(a.Fds)) {
		r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, a.HoldR, unix.F_DUPFD_CLOEXEC, uintptr(a.NextFD), 0, 0, 0)
		if e != 0 {
			return st, e
		}
		a.HoldR = r1
		a.NextFD = int(r1) + 1
	}
	if a.Reaper.On && *a.Reaper.Children != '/' && a.Reaper.ProcDir < uintptr(len(a.Fds)) {
		// The subreaper opens its children file relative to it later.
		r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, a.Reaper.ProcDir, unix.F_DUPFD_CLOEXEC, uintptr(a.NextFD), 0, 0, 0)
		if e != 0 {
			return st, e
		}
		a.Reaper.ProcDir = r1
		a.NextFD = int(r1) + 1
	}
	// First move every source that a lower descriptor would overwrite out
	// of the way, then put each in place.
	fds := a.Fds // a local slice: no bounds check (see RunSteps)
	for i := range fds {
		if fds[i] >= 0 && fds[i] < i {
			r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, uintptr(fds[i]), unix.F_DUPFD_CLOEXEC, uintptr(a.NextFD), 0, 0, 0)
			if e != 0 {
				return st, e
			}
			fds[i] = int(r1)
			a.NextFD = int(r1) + 1
		}
	}
	for i := range fds {
		switch {
		case fds[i] < 0:
			syscall.RawSyscall6(unix.SYS_CLOSE, uintptr(i), 0, 0, 0, 0, 0)
		case fds[i] == i:
			_, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, uintptr(i), unix.F_SETFD, 0, 0, 0, 0)
		default:
			_, _, e = syscall.RawSyscall6(unix.SYS_DUP3, uintptr(fds[i]), uintptr(i), 0, 0, 0, 0)
		}
		if e != 0 {
			return st, e
		}
	}
	if a.Setctty {
		if _, _, e = syscall.RawSyscall6(unix.SYS_IOCTL, uintptr(a.Ctty), unix.TIOCSCTTY, 1, 0, 0, 0); e != 0 {
			return CodeSetctty, e
		}
	}

	if a.HoldR != 0 {
		// Prepare: report that the set-up is done, and hold until Start
		// (a byte) or Abort (end of file, then SIGKILL).
		if a.HoldReaps {
			// rt_sigaction(SIGCHLD, SIG_IGN): the first word is the
			// handler on every architecture built (clone_test.go).
			ign := kernelSigaction{1}
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(syscall.SIGCHLD), uintptr(unsafe.Pointer(&ign[0])), 0, 8, 0, 0)
		}
		*(*uint32)(unsafe.Pointer(&a.report[0])) = CodeHeld
		*(*uint32)(unsafe.Pointer(&a.report[4])) = 0
		syscall.RawSyscall6(unix.SYS_WRITE, a.ErrFD, uintptr(unsafe.Pointer(&a.report[0])), 8, 0, 0, 0)
		if r1, _, _ = syscall.RawSyscall6(unix.SYS_READ, a.HoldR, uintptr(unsafe.Pointer(&b[0])), 1, 0, 0, 0); r1 != 1 {
			syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, a.HoldR, 0, 0, 0, 0, 0)
	}

	return codeOK, 0
}

// spawnExec sets the runtime's signals to their default action, sets the
// signal mask to a.Mask and executes the program; if execve fails it
// reports that and exits. It never returns.
//
//go:nosplit
//go:norace
//go:nocheckptr
func spawnExec(a *SpawnArgs) {
	var act kernelSigaction // zero: SIG_DFL
	// Default dispositions for the signals the Go runtime handles (ignored
	// ones stay ignored, as across execve), then the program with the
	// mask asked for (Mask).
	for sig := uintptr(1); sig < 65; sig++ {
		if a.ResetSignals&(1<<(sig-1)) != 0 {
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&act[0])), 0, 8, 0, 0)
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&a.Mask)), 0, 8, 0, 0)
	var e syscall.Errno
	if a.RestoreNofile {
		// Unless someone changed it since (prlimit from outside), as
		// os/exec decides.
		var cur Rlimit
		_, _, e = syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0, uintptr(unsafe.Pointer(&cur)), 0, 0)
		if e != 0 || cur[0] == a.Nofile[1]-1 && cur[1] == a.Nofile[1] {
			syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&a.Nofile)), 0, 0, 0)
		}
	}
	if a.ExecByFD {
		_, _, e = syscall.RawSyscall6(unix.SYS_EXECVEAT, a.ExecFD, cstr(emptyPath), uintptr(unsafe.Pointer(a.Argv)), uintptr(unsafe.Pointer(a.Envv)), unix.AT_EMPTY_PATH, 0)
	} else {
		_, _, e = syscall.RawSyscall6(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.Path)), uintptr(unsafe.Pointer(a.Argv)), uintptr(unsafe.Pointer(a.Envv)), 0, 0, 0)
	}
	spawnFail(a, CodeExec, e)
}

// spawnFail writes the report of step st and errno e, and exits as a shell
// would: 127 if the program was not found, 126 if it could not be
// executed, 125 if the set-up failed.
//
//go:nosplit
//go:norace
//go:nocheckptr
func spawnFail(a *SpawnArgs, st uint32, e syscall.Errno) {
	var r1 uintptr
	// Report the step and errno (the parent reaps us), and exit as a
	// shell would.
	*(*uint32)(unsafe.Pointer(&a.report[0])) = st
	*(*uint32)(unsafe.Pointer(&a.report[4])) = uint32(e)
	syscall.RawSyscall6(unix.SYS_WRITE, a.ErrFD, uintptr(unsafe.Pointer(&a.report[0])), 8, 0, 0, 0)
	r1 = 125
	if st == CodeExec {
		r1 = 126
		if e == syscall.ENOENT {
			r1 = 127
		}
	}
	syscall.RawSyscall6(unix.SYS_EXIT_GROUP, r1, 0, 0, 0, 0, 0)
}
