//go:build linux

package namespace

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The minimal init of WithInit.
//
// An init written in Go cannot make the command PID 2: the Go runtime's
// threads are created first and take the first ids of the namespace. So the
// Go child (outside the new PID namespace) unshares CLONE_NEWPID for its
// children and forks a raw, single-threaded copy of itself that becomes PID
// 1. That copy runs no Go code: only system calls, in one function that
// neither allocates nor grows its stack (the same discipline as the
// standard library's code between fork and exec). It mounts /proc, forks
// the command, which is PID 2, forwards every signal it receives to it, reaps
// every child, and exits with the command's status; the kernel then ends the
// namespace. The Go child forwards signals to PID 1 and exits with its
// status.
//
// WithKillDescendants runs the same machinery without a PID namespace: the
// raw process is then a child subreaper in front of the command (or of this
// program, executed once more, for a Go child), which outlives its parent
// to kill the command's descendants (see subreaper).

// rawInitArgs is everything PID 1 needs, prepared before the fork.
type rawInitArgs struct {
	path      *byte
	argv      **byte
	envv      **byte
	mountProc bool
	procSrc   *byte
	procDir   *byte
	procType  *byte
	parentFD  uintptr // a pidfd of the Go child that forks PID 1
	pidfd     int32   // PID 1's pidfd, which clone (CLONE_PIDFD) stores here
	failMount []byte
	failFork  []byte
	// dir is the working directory the Go child entered after its own
	// mounts, entered again once /proc is mounted (nil: no /proc mount);
	// if it is not there, PID 1 fails with failDir (dirExplicit) or
	// enters root.
	dir         *byte
	root        *byte
	dirExplicit bool
	failDir     []byte
	// takeTerminal: the command leads a process group of its own in the
	// foreground of the terminal on fd 0 (see prepareRawInit).
	takeTerminal bool
	// reaper: the raw process is a subreaper, not PID 1
	// (WithKillDescendants).
	reaper subreaper
}

// subreaper is the state of a raw process that ends its descendants
// (WithKillDescendants): a child subreaper (PR_SET_CHILD_SUBREAPER), so
// that every orphan among them is re-parented to it, whose parent-death
// signal is SIGCHLD, which it takes anyway. After each signal it compares
// its parent with the one it started under: another one means that the
// parent died, and then it kills every descendant and exits. When the
// command ends, it kills the descendants left too.
type subreaper struct {
	on       bool
	parent   uintptr // the pid of its parent when it started
	children *byte   // "/proc/thread-self/children"
	buf      [512]byte
}

// childrenFile lists the children of the calling thread ("PID PID ... ");
// a subreaper is single-threaded, so they are all of its children.
const childrenFile = "/proc/thread-self/children"

// siginfoSize is the size of siginfo_t.
const siginfoSize = 128

// forkInit forks PID 1 of the new PID namespace and returns its pid in the
// parent. The caller has blocked every signal on the calling thread.
//
// The child side never returns and must not call anything that can grow the
// stack or allocate: only syscall.RawSyscall6 (nosplit) and arithmetic.
//
//go:norace
//go:nocheckptr
//go:noinline
func forkInit(a *rawInitArgs) (pid int, err syscall.Errno) {
	var (
		none uint64
		pgrp int32
		act  kernelSigaction // zero: SIG_DFL
		old  kernelSigaction
		pfd  unix.PollFd
		zero unix.Timespec
	)
	// CLONE_PIDFD: the Go child holds a pidfd of PID 1 from the clone on,
	// and signals it through that alone.
	r1, e := rawClone(unix.CLONE_PIDFD|uintptr(syscall.SIGCHLD), uintptr(unsafe.Pointer(&a.pidfd)))
	if e != 0 || r1 != 0 {
		return int(r1), e
	}

	// PID 1. Die with the Go child that forked us; if it is already gone
	// (it died before the death signal was armed), go now. A subreaper
	// takes its parent's death as a signal, to end the descendants first.
	if a.reaper.on {
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGCHLD), 0, 0, 0, 0)
	} else {
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
	}
	// (A pidfd polls readable once its process has exited. Signal 0
	// through it would not tell: from inside the new PID namespace the
	// kernel refuses a process outside it with EINVAL, dead or alive.)
	pfd.Fd = int32(a.parentFD)
	pfd.Events = unix.POLLIN
	if r, _, _ := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&zero)), 0, 0, 0); r != 0 {
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
	}
	syscall.RawSyscall6(unix.SYS_CLOSE, a.parentFD, 0, 0, 0, 0, 0)
	if a.mountProc {
		_, _, e := syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(a.procSrc)), uintptr(unsafe.Pointer(a.procDir)),
			uintptr(unsafe.Pointer(a.procType)), unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, 0, 0)
		if e != 0 {
			syscall.RawSyscall6(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&a.failMount[0])), uintptr(len(a.failMount)), 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
		}
		// The working directory again, after the last mount (it was
		// under /proc only if this fails).
		if a.dir != nil {
			if _, _, e := syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(a.dir)), 0, 0, 0, 0, 0); e != 0 {
				if a.dirExplicit {
					syscall.RawSyscall6(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&a.failDir[0])), uintptr(len(a.failDir)), 0, 0, 0)
					syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
				}
				syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(a.root)), 0, 0, 0, 0, 0)
			}
		}
	}

	cmd, e := rawClone(uintptr(syscall.SIGCHLD), 0)
	if e != 0 {
		syscall.RawSyscall6(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&a.failFork[0])), uintptr(len(a.failFork)), 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
	}
	if cmd == 0 {
		// PID 2: default dispositions for the signals the Go runtime
		// handles (ignored ones stay ignored, as across execve), an empty
		// mask, and the command, which dies with a subreaper.
		if a.reaper.on {
			syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
		}
		for sig := uintptr(1); sig < 65; sig++ {
			if sig == uintptr(syscall.SIGKILL) || sig == uintptr(syscall.SIGSTOP) {
				continue
			}
			if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
				continue
			}
			if old[0] != 1 { // SIG_IGN
				syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
			}
		}
		if a.takeTerminal {
			// SIGTTOU is still blocked, so a background group may do it.
			me, _, _ := syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
			pgrp = int32(me)
			syscall.RawSyscall6(unix.SYS_SETPGID, 0, 0, 0, 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_IOCTL, 0, unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)), 0, 0, 0)
		}
		syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&none)), 0, 8, 0, 0)
		_, _, e := syscall.RawSyscall6(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.path)), uintptr(unsafe.Pointer(a.argv)), uintptr(unsafe.Pointer(a.envv)), 0, 0, 0)
		code := uintptr(126)
		if e == syscall.ENOENT {
			code = 127
		}
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, code, 0, 0, 0, 0, 0)
	}

	if a.reaper.on {
		// The command has what it needs; the subreaper holds nothing (not
		// the job socket, nor a terminal).
		syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, ^uintptr(0)>>32, 0, 0, 0, 0)
	}
	initLoop(cmd, !a.takeTerminal, &a.reaper)
	return 0, 0
}

// initLoop is PID 1's loop once it has forked the command, cmd: every
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
// With r on (WithKillDescendants), the loop is a subreaper's: once cmd has
// ended, or the parent has died, it kills every descendant left before it
// exits.
//
// It runs in a raw child (forkInit, forkSpawn): it must not grow the stack
// or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func initLoop(cmd uintptr, sameGroup bool, r *subreaper) {
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
		if r != nil && r.on {
			// The parent re-parents us as it dies, before it sends the
			// death signal: a signal after that finds another parent.
			if ppid, _, _ := syscall.RawSyscall6(unix.SYS_GETPPID, 0, 0, 0, 0, 0, 0); ppid != r.parent {
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
				if r != nil && r.on {
					killDescendants(r)
				}
				syscall.RawSyscall6(unix.SYS_EXIT_GROUP, code, 0, 0, 0, 0, 0)
			}
		}
	}
}

// kernelSigaction has room for struct sigaction as rt_sigaction(2) reads
// and writes it: the handler first, then the flags, the restorer (where
// the architecture has one) and the 64-bit mask, that is 5 words on 32-bit
// systems and at most 4 on 64-bit ones. The zero value is SIG_DFL.
type kernelSigaction [5]uintptr

// rawClone forks with clone(2): flags (with the exit signal in the low
// byte), no new stack, ptid as parent_tid (where CLONE_PIDFD stores the
// pidfd; 0 without it), no child tid, no TLS. It returns 0 in the child.
// s390x takes the stack first and the flags second; the other
// architectures take the flags first. parent_tid is the third argument
// everywhere (the later ones differ in order, but are all zero here).
//
// It runs in raw children (forkInit, forkSpawn): it must not grow the
// stack or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func rawClone(flags, ptid uintptr) (uintptr, syscall.Errno) {
	if runtime.GOARCH == "s390x" {
		r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE, 0, flags, ptid, 0, 0, 0)
		return r1, e
	}
	r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE, flags, 0, ptid, 0, 0, 0)
	return r1, e
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
func killDescendants(r *subreaper) {
	var (
		status int32
		pause         = unix.Timespec{Nsec: 2_000_000} // 2 ms: re-parented orphans send no SIGCHLD
		chld   uint64 = 1 << (uintptr(syscall.SIGCHLD) - 1)
	)
	for {
		fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(r.children)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		readable := e == 0
		if readable {
			n, _, e := syscall.RawSyscall6(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
			if e != 0 {
				n = 0
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
				if c == ' ' && pid > 0 {
					syscall.RawSyscall6(unix.SYS_KILL, pid, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
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

// siKernel is SI_KERNEL, the si_code of a signal that the kernel sent.
const siKernel = 0x80

// runRawInit executes the program at path with argv and env under a raw
// process: with p.Init a minimal PID 1 in a new PID namespace, else (with
// p.KillDescendants) a subreaper; and exits with its status. It runs during
// package initialisation, on the main thread. Its failures are reported on
// sock if it is not nil (a function or Setup child, whose parent reads it).
func runRawInit(path string, argv, env []string, p *plan, sock *os.File, log *slog.Logger) {
	runtime.LockOSThread()
	what := "init"
	if !p.Init {
		what = "subreaper"
		// Fail now, and tell the parent, rather than in the subreaper.
		if err := checkChildrenFile(); err != nil {
			childFail(sock, "find descendants in "+childrenFile, err)
		}
	}
	a, err := prepareRawInit(path, argv, env, p)
	if err != nil {
		childFail(sock, "prepare "+what, err)
	}
	if p.Init {
		if err := unix.Unshare(unix.CLONE_NEWPID); err != nil {
			childFail(sock, "create PID namespace", os.NewSyscallError("unshare", err))
		}
	}
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, forwardedSignals...)

	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i] // every bit; the word size differs per architecture
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		childFail(nil, "block signals", err)
	}
	pid, errno := forkInit(a)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	runtime.KeepAlive(a)
	unix.Close(int(a.parentFD))
	if errno != 0 {
		childFail(sock, "fork "+what, os.NewSyscallError("clone", errno))
	}
	pidfd := int(a.pidfd)
	log.Debug(what+" started", "pid", pid)

	exited := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigc:
				if a.reaper.on && !a.takeTerminal && fromTerminal(s) {
					// The terminal sent it to the whole process group,
					// the program included.
					log.Debug("not forwarding a signal the terminal also sent the program", "signal", s)
					continue
				}
				log.Debug("forwarding signal to "+what, "signal", s)
				_ = unix.PidfdSendSignal(pidfd, s.(syscall.Signal), nil, 0)
			case <-exited:
				return
			}
		}
	}()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				childFail(nil, "wait for "+what, err)
			}
			break
		}
	}
	close(exited)
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	os.Exit(code)
}

// prepareRawInit builds the C strings and arrays PID 1 (or the subreaper)
// needs.
func prepareRawInit(file string, args, env []string, p *plan) (*rawInitArgs, error) {
	path, err := unix.BytePtrFromString(file)
	if err != nil {
		return nil, err
	}
	argv, err := cStrings(args)
	if err != nil {
		return nil, err
	}
	envv, err := cStrings(env)
	if err != nil {
		return nil, err
	}
	a := &rawInitArgs{
		pidfd:     -1,
		path:      path,
		argv:      &argv[0],
		envv:      &envv[0],
		mountProc: p.Init && p.Proc,
		failMount: []byte("namespace: init: mount proc on /proc failed\n"),
		failFork:  []byte(fmt.Sprintf("namespace: init: cannot fork %s\n", file)),
	}
	if !p.Init {
		a.reaper.on = true
		a.reaper.parent = uintptr(os.Getpid())
		if a.reaper.children, err = unix.BytePtrFromString(childrenFile); err != nil {
			return nil, err
		}
		a.failFork = []byte(fmt.Sprintf("namespace: subreaper: cannot fork %s\n", file))
	}
	self, err := unix.PidfdOpen(os.Getpid(), unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	unix.CloseOnExec(self)
	a.parentFD = uintptr(self)
	// A process that leads the foreground process group of the terminal on
	// standard input was made a job by its parent (a shell, or Command with
	// SysProcAttr Setpgid and Foreground): the command, PID 2, becomes that
	// job in its place, so that the terminal's signals reach it alone and
	// a shell finds its own process group (this one is not visible in the
	// new PID namespace).
	if fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && fg == os.Getpid() && unix.Getpgrp() == os.Getpid() {
		a.takeTerminal = true
	}
	if a.procSrc, err = unix.BytePtrFromString("proc"); err != nil {
		return nil, err
	}
	a.procType = a.procSrc
	if a.procDir, err = unix.BytePtrFromString("/proc"); err != nil {
		return nil, err
	}
	if a.mountProc && p.RPrivate {
		// The Go child entered its working directory again after its
		// mounts (applyMounts); PID 1 does once more after /proc.
		wd, err := unix.Getwd()
		if err != nil {
			wd = "/"
		}
		if a.dir, err = unix.BytePtrFromString(wd); err != nil {
			return nil, err
		}
		a.root, _ = unix.BytePtrFromString("/")
		a.dirExplicit = p.DirExplicit
		a.failDir = []byte(fmt.Sprintf("namespace: init: %s: chdir %s: not found once /proc is mounted\n", stepWorkDir, wd))
	}
	return a, nil
}

// cStrings returns a nil-terminated array of NUL-terminated copies of ss.
func cStrings(ss []string) ([]*byte, error) {
	out := make([]*byte, len(ss)+1)
	for i, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// checkChildrenFile checks that the calling thread's children can be read,
// as a subreaper reads its own.
func checkChildrenFile() error {
	fd, err := unix.Open(childrenFile, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%w (WithKillDescendants finds the descendants there: mount /proc)", &os.PathError{Op: "open", Path: childrenFile, Err: err})
	}
	unix.Close(fd)
	return nil
}
