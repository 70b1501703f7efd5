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
	failMount []byte
	failFork  []byte
	// takeTerminal: the command leads a process group of its own in the
	// foreground of the terminal on fd 0 (see prepareRawInit).
	takeTerminal bool
}

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
	r1, e := rawClone(uintptr(syscall.SIGCHLD))
	if e != 0 || r1 != 0 {
		return int(r1), e
	}

	// PID 1. Die with the Go child that forked us; if it is already gone
	// (it died before the death signal was armed), go now.
	syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
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
	}

	cmd, e := rawClone(uintptr(syscall.SIGCHLD))
	if e != 0 {
		syscall.RawSyscall6(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&a.failFork[0])), uintptr(len(a.failFork)), 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
	}
	if cmd == 0 {
		// PID 2: default dispositions for the signals the Go runtime
		// handles (ignored ones stay ignored, as across execve), an empty
		// mask, and the command.
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

	initLoop(cmd, !a.takeTerminal)
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
// It runs in a raw child (forkInit, forkSpawn): it must not grow the stack
// or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func initLoop(cmd uintptr, sameGroup bool) {
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
// byte), no new stack, no thread ids, no TLS. It returns 0 in the child.
// s390x takes the stack first and the flags second; the other
// architectures take the flags first (and order the later arguments
// differently, but those are all zero here).
//
// It runs in raw children (forkInit, forkSpawn): it must not grow the
// stack or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func rawClone(flags uintptr) (uintptr, syscall.Errno) {
	if runtime.GOARCH == "s390x" {
		r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE, 0, flags, 0, 0, 0, 0)
		return r1, e
	}
	r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE, flags, 0, 0, 0, 0, 0)
	return r1, e
}

// siKernel is SI_KERNEL, the si_code of a signal that the kernel sent.
const siKernel = 0x80

// runRawInit runs the command of j under a minimal PID 1 in a new PID
// namespace, and exits with its status. It runs during package
// initialisation, on the main thread.
func runRawInit(j *job, log *slog.Logger) {
	runtime.LockOSThread()
	a, err := prepareRawInit(j)
	if err != nil {
		childFail(nil, "prepare init", err)
	}
	if j.Plan.Time {
		if err := enterTimeNamespace(&j.Plan, log); err != nil {
			childFail(nil, stepName(err), err)
		}
	}
	if err := unix.Unshare(unix.CLONE_NEWPID); err != nil {
		childFail(nil, "create PID namespace", os.NewSyscallError("unshare", err))
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
		childFail(nil, "fork init", os.NewSyscallError("clone", errno))
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		childFail(nil, "open init pidfd", os.NewSyscallError("pidfd_open", err))
	}
	log.Debug("init started", "pid", pid)

	exited := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigc:
				log.Debug("forwarding signal to init", "signal", s)
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
				childFail(nil, "wait for init", err)
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

// prepareRawInit builds the C strings and arrays PID 1 needs.
func prepareRawInit(j *job) (*rawInitArgs, error) {
	path, err := unix.BytePtrFromString(j.Path)
	if err != nil {
		return nil, err
	}
	argv, err := cStrings(j.Argv)
	if err != nil {
		return nil, err
	}
	envv, err := cStrings(os.Environ())
	if err != nil {
		return nil, err
	}
	a := &rawInitArgs{
		path:      path,
		argv:      &argv[0],
		envv:      &envv[0],
		mountProc: j.Plan.Proc,
		failMount: []byte("namespace: init: mount proc on /proc failed\n"),
		failFork:  []byte(fmt.Sprintf("namespace: init: cannot fork %s\n", j.Path)),
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
