//go:build linux

package rawproc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The minimal init of WithMinimalInit.
//
// An init written in Go cannot make the command PID 2: the Go runtime's
// threads are created first and take the first ids of the namespace. So the
// Go child (outside the new PID namespace) unshares CLONE_NEWPID for its
// children and forks a raw, single-threaded copy of itself that becomes PID
// 1 (ForkInit). It mounts /proc, forks the command, which is PID 2,
// forwards every signal it receives to it, reaps every child, and exits
// with the command's status; the kernel then ends the namespace.
//
// WithKillDescendants runs the same machinery without a PID namespace: the
// raw process is then a child subreaper in front of the command, which
// outlives its parent to kill the command's descendants (see Subreaper).

// InitArgs is everything PID 1 (or the subreaper) needs, prepared before
// the fork.
type InitArgs struct {
	Path       *byte
	Argv, Envv **byte
	ParentFD   uintptr // a pidfd of the Go child that forks PID 1
	Pidfd      int32   // PID 1's pidfd, which clone (CLONE_PIDFD) stores here
	// Steps are performed by PID 1 before it forks the command: the
	// mount of /proc of its PID namespace and the working directory
	// entered again after it. If step i fails, Fail[i] is written to
	// standard error and PID 1 exits with status 125: Fail has one
	// message for each step (PID 1 indexes it without a bounds check).
	Steps    []Step
	WD       WorkDir
	Fail     [][]byte
	FailFork []byte
	// TakeTerminal: the command leads a process group of its own in the
	// foreground of the terminal on fd 0.
	TakeTerminal bool
	// Reaper: the raw process is a subreaper, not PID 1
	// (WithKillDescendants).
	Reaper Subreaper
	// Relay: the raw process is neither PID 1 nor a subreaper, only in
	// front of the command, which dies with it (a time namespace before
	// Linux 6.3, which only a fork enters).
	Relay bool
}

// Subreaper is the state of a raw process that ends its descendants
// (WithKillDescendants): a child subreaper (PR_SET_CHILD_SUBREAPER), so
// that every orphan among them is re-parented to it, whose parent-death
// signal is SIGCHLD, which it takes anyway. After each signal it compares
// its parent with the one it started under: another one means that the
// parent died, and then it kills every descendant and exits. When the
// command ends, it kills the descendants left too.
type Subreaper struct {
	On       bool
	Parent   uintptr // the pid of its parent when it started
	Children *byte   // ChildrenFile, or "thread-self/children" relative to ProcDir
	// ProcDir is the directory descriptor of a relative Children: the
	// caller's /proc, where a joined mount namespace's /proc is whatever
	// its owner put there.
	ProcDir uintptr
	fd      uintptr // Children, opened by the subreaper itself; 0: not open
	buf     [512]byte
	info    [siginfoSize]byte // waitid's
}

// openChildren opens r's children file; the calling thread is the one
// whose children it lists.
//
//go:nosplit
//go:norace
//go:nocheckptr
func (r *Subreaper) openChildren() (uintptr, syscall.Errno) {
	dir := atFDCWD
	if *r.Children != '/' {
		dir = r.ProcDir
	}
	fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, dir, uintptr(unsafe.Pointer(r.Children)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	return fd, e
}

// closeAllButChildren closes every descriptor of the subreaper but its
// children file, opened now (0 if it cannot be: killDescendants then
// tries again by name, and reaps what it can), which it reads again at
// each round.
//
//go:nosplit
//go:norace
//go:nocheckptr
func (r *Subreaper) closeAllButChildren() {
	fd, e := r.openChildren()
	if e == 0 && fd < 3 {
		// Above the standard descriptors (0 means "not open" in r.fd).
		nfd, _, e2 := syscall.RawSyscall6(unix.SYS_FCNTL, fd, unix.F_DUPFD_CLOEXEC, 3, 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
		fd, e = nfd, e2
	}
	if e != 0 {
		syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, uintptr(^uint32(0)), 0, 0, 0, 0) // every descriptor: max_fd is an unsigned int
		return
	}
	r.fd = fd
	syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, fd-1, 0, 0, 0, 0)
	syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, fd+1, uintptr(^uint32(0)), 0, 0, 0, 0)
}

// ChildrenFile lists the children of the calling thread ("PID PID ... ");
// a subreaper is single-threaded, so they are all of its children.
const ChildrenFile = "/proc/thread-self/children"

// siginfoSize is the size of siginfo_t.
const siginfoSize = 128

// siKernel is SI_KERNEL, the si_code of a signal that the kernel sent.
const siKernel = 0x80

// ForkInit forks PID 1 of the new PID namespace and returns its pid in the
// parent. The caller has blocked every signal on the calling thread.
//
// The child side never returns and must not call anything that can grow the
// stack or allocate: only syscall.RawSyscall6 (nosplit) and arithmetic.
//
//go:norace
//go:nocheckptr
//go:noinline
func ForkInit(a *InitArgs) (pid int, err syscall.Errno) {
	var (
		none uint64
		pgrp int32
		act  kernelSigaction // zero: SIG_DFL
		old  kernelSigaction
	)
	// CLONE_PIDFD: the Go child holds a pidfd of PID 1 from the clone on,
	// and signals it through that alone.
	r1, e := rawClone(unix.CLONE_PIDFD|uintptr(syscall.SIGCHLD), uintptr(unsafe.Pointer(&a.Pidfd)))
	if e != 0 || r1 != 0 {
		return int(r1), e
	}

	// PID 1. Die with the Go child that forked us; if it is already gone
	// (it died before the death signal was armed), go now. A subreaper
	// takes its parent's death as a signal, to end the descendants first.
	if a.Reaper.On {
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0)
		dieWithParent(uintptr(syscall.SIGCHLD), a.ParentFD)
	} else {
		dieWithParent(uintptr(syscall.SIGKILL), a.ParentFD)
	}
	// The set-up that needs the PID namespace: /proc, and the working
	// directory again after it.
	if i, _ := RunSteps(a.Steps, &a.WD); i >= 0 {
		// Fail has one message per step (the parent checks it): no
		// bounds check, whose panic would be runtime code here.
		f := *(*[]byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(a.Fail)), uintptr(i)*unsafe.Sizeof(a.Fail[0])))
		syscall.RawSyscall6(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(unsafe.SliceData(f))), uintptr(len(f)), 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
	}

	cmd, e := rawClone(uintptr(syscall.SIGCHLD), 0)
	if e != 0 {
		syscall.RawSyscall6(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(unsafe.SliceData(a.FailFork))), uintptr(len(a.FailFork)), 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
	}
	if cmd == 0 {
		// PID 2: default dispositions for the signals the Go runtime
		// handles (ignored ones stay ignored, as across execve), an empty
		// mask, and the command, which dies with a subreaper.
		if a.Reaper.On || a.Relay {
			syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
		}
		for sig := uintptr(1); sig < 65; sig++ {
			if sig == uintptr(syscall.SIGKILL) || sig == uintptr(syscall.SIGSTOP) {
				continue
			}
			if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&old[0])), 8, 0, 0); e != 0 {
				continue
			}
			if old[0] != 1 { // SIG_IGN
				syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&act[0])), 0, 8, 0, 0)
			}
		}
		if a.TakeTerminal {
			// SIGTTOU is still blocked, so a background group may do it.
			me, _, _ := syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
			pgrp = int32(me)
			syscall.RawSyscall6(unix.SYS_SETPGID, 0, 0, 0, 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_IOCTL, 0, unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)), 0, 0, 0)
		}
		syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&none)), 0, 8, 0, 0)
		_, _, e := syscall.RawSyscall6(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.Path)), uintptr(unsafe.Pointer(a.Argv)), uintptr(unsafe.Pointer(a.Envv)), 0, 0, 0)
		code := uintptr(126)
		if e == syscall.ENOENT {
			code = 127
		}
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, code, 0, 0, 0, 0, 0)
	}

	if a.Reaper.On {
		// The command has what it needs; the subreaper holds nothing (not
		// the job socket, nor a terminal) but its children file.
		a.Reaper.closeAllButChildren()
	} else if a.Relay {
		syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, uintptr(^uint32(0)), 0, 0, 0, 0) // every descriptor: max_fd is an unsigned int
	}
	InitLoop(cmd, !a.TakeTerminal, &a.Reaper)
	return 0, 0
}

// InitLoop is PID 1's loop once it has forked the command, cmd: every
// signal is blocked and taken here; each one but SIGCHLD is sent on to the
// command, every child is reaped, and when the command has ended PID 1
// exits with its status (128+N if signal N killed it). It never returns.
//
// sameGroup says that the command shares PID 1's process group: then a
// SIGINT, SIGQUIT, SIGTSTP or SIGWINCH that the kernel sent (si_code
// SI_KERNEL) came from the terminal to its foreground process group, which
// the command is in too, and is not sent again.
//
// The signals go to cmd by pid (kill), not through a pidfd, so that PID 1
// keeps no descriptor: the pid cannot be reused while this loop sends to
// it, because only this loop reaps cmd, and it exits as soon as it has.
//
// With r.On (WithKillDescendants), the loop is a subreaper's: once cmd has
// ended, or the parent has died, it kills every descendant left before it
// exits.
//
// It runs in a raw child (ForkInit, Spawn): it must not grow the stack
// or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func InitLoop(cmd uintptr, sameGroup bool, r *Subreaper) {
	var (
		// siginfo_t, in words so that si_code is read aligned.
		info   [siginfoSize / 8]uint64
		all    uint64 = ^uint64(0)
		status int32
	)
	for {
		sig, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&info[0])), 0, 8, 0, 0)
		if e != 0 {
			continue
		}
		if r != nil && r.On {
			// The parent re-parents us as it dies, before it sends the
			// death signal: a signal after that finds another parent.
			if ppid, _, _ := syscall.RawSyscall6(unix.SYS_GETPPID, 0, 0, 0, 0, 0, 0); ppid != r.Parent {
				killDescendants(r)
				syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 128+uintptr(syscall.SIGKILL), 0, 0, 0, 0, 0)
			}
		}
		if sig != uintptr(syscall.SIGCHLD) {
			// siginfo_t: si_signo, si_errno, si_code.
			if sameGroup && *(*int32)(unsafe.Pointer(&info[1])) == siKernel &&
				(sig == uintptr(syscall.SIGINT) || sig == uintptr(syscall.SIGQUIT) || sig == uintptr(syscall.SIGTSTP) || sig == uintptr(syscall.SIGWINCH)) {
				continue
			}
			syscall.RawSyscall6(unix.SYS_KILL, cmd, sig, 0, 0, 0, 0)
			continue
		}
		for {
			w, _, e := syscall.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&status)), unix.WNOHANG, 0, 0, 0)
			if e != 0 || w == 0 {
				break
			}
			if w == cmd {
				code := uintptr(status>>8) & 0xff
				if status&0x7f != 0 {
					code = 128 + uintptr(status&0x7f)
				}
				if r != nil && r.On {
					killDescendants(r)
				}
				syscall.RawSyscall6(unix.SYS_EXIT_GROUP, code, 0, 0, 0, 0, 0)
			}
		}
	}
}

// killDescendants kills (SIGKILL) and reaps every descendant of a
// subreaper, and returns when it has no child left. Each round reads the
// subreaper's children, kills them, and reaps those that have died; the
// children of a killed one are re-parented to the subreaper as it dies,
// and are found by the next round. The pids are its own children, not yet
// reaped, and only this thread reaps them: none can have been reused. If
// the children cannot be read (no /proc), it reaps what has died and gives
// up.
//
// It runs in a raw child: it must not grow the stack or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func killDescendants(r *Subreaper) {
	var (
		status int32
		pause         = unix.Timespec{Nsec: 2_000_000} // 2 ms: re-parented orphans send no SIGCHLD
		chld   uint64 = 1 << (uintptr(syscall.SIGCHLD) - 1)
	)
	for {
		fd, e := r.fd, syscall.Errno(0)
		if fd == 0 {
			fd, e = r.openChildren()
		}
		readable := e == 0
		if readable {
			// From the start each time: the kernel lists the children
			// as they are then.
			n, _, e := syscall.RawSyscall6(unix.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), 0, 0, 0)
			if fd != r.fd {
				syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
			}
			if e != 0 {
				n, readable = 0, false // reaps what has died, then gives up
			}
			// "PID PID ... ": only a number followed by its space is
			// whole (a full buffer may cut the last one).
			pid := uintptr(0)
			for i := uintptr(0); i < n && i < uintptr(len(r.buf)); i++ {
				c := r.buf[i]
				if c >= '0' && c <= '9' {
					pid = pid*10 + uintptr(c-'0')
					continue
				}
				// Only a child of this process, not yet reaped (a pid
				// that cannot have been reused), whatever the file says:
				// in a mount namespace that someone else owns (a joined
				// one), the file at that path is theirs to write.
				if c == ' ' && pid > 0 {
					_, _, e := syscall.RawSyscall6(unix.SYS_WAITID, unix.P_PID, pid, uintptr(unsafe.Pointer(&r.info[0])), unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|unix.WALL, 0, 0)
					if e != syscall.ECHILD {
						syscall.RawSyscall6(unix.SYS_KILL, pid, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
					}
				}
				pid = 0
			}
		}
		reaped := false
		for {
			w, _, e := syscall.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&status)), unix.WNOHANG|unix.WALL, 0, 0, 0)
			if e == syscall.ECHILD {
				return
			}
			if e != 0 || w == 0 {
				break
			}
			reaped = true
		}
		if !readable {
			return
		}
		if !reaped {
			syscall.RawSyscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(&chld)), 0, uintptr(unsafe.Pointer(&pause)), 8, 0, 0)
		}
	}
}
