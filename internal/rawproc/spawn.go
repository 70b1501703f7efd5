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
	report            [8]byte
	// ResetSignals has bit N-1 set for each signal N that the Go runtime
	// handles and the program must get with its default action.
	ResetSignals uint64
	// TimeFork: the cloned process forks the program, as PID 1 does, and
	// stays in front of it; the program dies with it. A fork enters the
	// time namespace that the set-up made, which execve does only since
	// Linux 6.3.
	TimeFork bool

	// CgroupFD, if positive, is a descriptor of the cgroup v2 directory
	// that the child is born in (clone3 with CLONE_INTO_CGROUP, Linux 5.7).
	CgroupFD  int
	cloneArgs cloneArgs
}

// A report, written by the child into the pipe ErrFD: the code of the
// failed step (an index into Steps, or one of the Code constants) and its
// errno, each a native-endian uint32; CodeHeld and errno 0 when a held
// child (HoldR) is set up. A successful execve closes the pipe.
const ReportSize = 8

// Spawn clones the child and, in it, performs the set-up and executes
// the program. It returns the child's pid in the parent.
//
// The child side never returns and must not call anything that can grow the
// stack, allocate or take a lock: only syscall.RawSyscall6 (nosplit) and
// arithmetic, as the standard library's code between fork and exec.
//
//go:norace
//go:nocheckptr
//go:noinline
func Spawn(a *SpawnArgs) (pid int, err syscall.Errno) {
	var (
		st   uint32
		e    syscall.Errno
		r1   uintptr
		none uint64
		act  kernelSigaction // zero: SIG_DFL
		b    [1]byte
		pgrp int32
		fd   uintptr
	)
	// clone(flags, stack, parent_tid, ...): with CLONE_PIDFD the kernel
	// stores the pidfd at parent_tid, in the parent's memory.
	if a.CgroupFD > 0 {
		r1, e = rawCloneIntoCgroup(&a.cloneArgs, a.CloneFlags, uintptr(unsafe.Pointer(&a.Pidfd)), uintptr(a.CgroupFD))
	} else {
		r1, e = rawClone(a.CloneFlags, uintptr(unsafe.Pointer(&a.Pidfd)))
	}
	if e != 0 || r1 != 0 {
		return int(r1), e
	}

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
			st = CodeWaitMaps
			goto fail
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, a.GateR, 0, 0, 0, 0, 0)
	}

	// The set-up: the plan's steps, in order.
	if i, e2 := RunSteps(a.Steps, &a.WD); i >= 0 {
		st, e = uint32(i), e2
		goto fail
	}

	// The process as os/exec makes it: session, group, terminal,
	// descriptors.
	if a.Setsid {
		if _, _, e = syscall.RawSyscall6(unix.SYS_SETSID, 0, 0, 0, 0, 0, 0); e != 0 {
			st = CodeSetsid
			goto fail
		}
	}
	if a.Setpgid || a.Foreground {
		if _, _, e = syscall.RawSyscall6(unix.SYS_SETPGID, 0, uintptr(a.Pgid), 0, 0, 0, 0); e != 0 {
			st = CodeSetpgid
			goto fail
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
			st = CodeForeground
			goto fail
		}
	}
	st = CodeFiles
	if a.ErrFD < uintptr(len(a.Fds)) {
		// The report pipe would be overwritten: move it up.
		r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, a.ErrFD, unix.F_DUPFD_CLOEXEC, uintptr(a.NextFD), 0, 0, 0)
		if e != 0 {
			goto fail
		}
		a.ErrFD = r1
		a.NextFD = int(r1) + 1
	}
	if a.HoldR != 0 && a.HoldR < uintptr(len(a.Fds)) {
		r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, a.HoldR, unix.F_DUPFD_CLOEXEC, uintptr(a.NextFD), 0, 0, 0)
		if e != 0 {
			goto fail
		}
		a.HoldR = r1
		a.NextFD = int(r1) + 1
	}
	// First move every source that a lower descriptor would overwrite out
	// of the way, then put each in place.
	for i := range a.Fds {
		if a.Fds[i] >= 0 && a.Fds[i] < i {
			r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, uintptr(a.Fds[i]), unix.F_DUPFD_CLOEXEC, uintptr(a.NextFD), 0, 0, 0)
			if e != 0 {
				goto fail
			}
			a.Fds[i] = int(r1)
			a.NextFD = int(r1) + 1
		}
	}
	for i := range a.Fds {
		switch {
		case a.Fds[i] < 0:
			syscall.RawSyscall6(unix.SYS_CLOSE, uintptr(i), 0, 0, 0, 0, 0)
		case a.Fds[i] == i:
			_, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, uintptr(i), unix.F_SETFD, 0, 0, 0, 0)
		default:
			_, _, e = syscall.RawSyscall6(unix.SYS_DUP3, uintptr(a.Fds[i]), uintptr(i), 0, 0, 0, 0)
		}
		if e != 0 {
			goto fail
		}
	}
	if a.Setctty {
		if _, _, e = syscall.RawSyscall6(unix.SYS_IOCTL, uintptr(a.Ctty), unix.TIOCSCTTY, 1, 0, 0, 0); e != 0 {
			st = CodeSetctty
			goto fail
		}
	}

	if a.HoldR != 0 {
		// Prepare: report that the set-up is done, and hold until Start
		// (a byte) or Abort (end of file, then SIGKILL).
		*(*uint32)(unsafe.Pointer(&a.report[0])) = CodeHeld
		*(*uint32)(unsafe.Pointer(&a.report[4])) = 0
		syscall.RawSyscall6(unix.SYS_WRITE, a.ErrFD, uintptr(unsafe.Pointer(&a.report[0])), 8, 0, 0, 0)
		if r1, _, _ = syscall.RawSyscall6(unix.SYS_READ, a.HoldR, uintptr(unsafe.Pointer(&b[0])), 1, 0, 0, 0); r1 != 1 {
			syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, a.HoldR, 0, 0, 0, 0, 0)
	}

	if a.Reaper.On {
		// WithKillDescendants: this process, the caller's child, forks the
		// subreaper, sends on to it every signal it gets and exits with its
		// status; the subreaper forks the program (as WithMinimalInit's PID 1
		// does, below) and, when the program has ended or this process has
		// died (SIGKILL included), kills the descendants left. First check
		// that it will find them.
		fd, _, e = syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(a.Reaper.Children)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			st = CodeChildrenFile
			goto fail
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
		a.Reaper.Parent, _, _ = syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		r1, e = rawClone(uintptr(syscall.SIGCHLD), 0)
		if e != 0 {
			st = CodeForkSubreaper
			goto fail
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
		r1, e = rawClone(unix.CLONE_VFORK|uintptr(syscall.SIGCHLD), 0)
		if e != 0 {
			st = CodeForkProgram
			goto fail
		}
		if r1 != 0 {
			syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, uintptr(^uint32(0)), 0, 0, 0, 0) // every descriptor: max_fd is an unsigned int
			syscall.RawSyscall6(unix.SYS_CLOSE, a.ErrFD, 0, 0, 0, 0, 0)
			InitLoop(r1, !a.InitTakesTerminal, &a.Reaper)
		}
		if a.Reaper.On || a.TimeFork {
			// The program dies with the subreaper (or the relay).
			syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
		}
		// PID 2. Every signal is still blocked, so a background group may
		// take the terminal.
		if a.InitTakesTerminal {
			r1, _, _ = syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
			pgrp = int32(r1)
			syscall.RawSyscall6(unix.SYS_SETPGID, 0, 0, 0, 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_IOCTL, uintptr(a.InitCtty), unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)), 0, 0, 0)
		}
	}

	// Default dispositions for the signals the Go runtime handles (ignored
	// ones stay ignored, as across execve), then the program with an empty
	// signal mask.
	for sig := uintptr(1); sig < 65; sig++ {
		if a.ResetSignals&(1<<(sig-1)) != 0 {
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&act[0])), 0, 8, 0, 0)
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&none)), 0, 8, 0, 0)
	_, _, e = syscall.RawSyscall6(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.Path)), uintptr(unsafe.Pointer(a.Argv)), uintptr(unsafe.Pointer(a.Envv)), 0, 0, 0)
	st = CodeExec

fail:
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
	return 0, 0
}
