package namespace

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// Setup moves the rest of the program into the namespaces (Perl: setup).
// Call it first in main (or TestMain).
//
// A Go program cannot move all of its threads into new namespaces, so Setup
// re-executes the program inside them, with the same arguments, environment,
// standard input, output and error, and working directory:
//
//   - In the original process Setup does not return on success: it waits
//     for the re-executed program, forwards the signals it receives to it,
//     and exits with its status (128+N if signal N killed it). If the
//     namespaces cannot be created or set up, Setup returns the error there
//     and nothing of the host has changed.
//   - In the re-executed program the set-up is already done when main runs,
//     and Setup returns nil: the program carries on inside, as PID 1 of a new
//     PID namespace or as root of a new user namespace if asked.
//
// Code that runs before Setup, package initialisation included, runs twice:
// once in the original process and once inside. Calling Setup again inside
// returns nil and changes nothing. Setup in a child started by Run (before
// Init) is an error that the parent reports.
func (n *Namespace) Setup() error {
	if child.setup {
		return nil
	}
	guardChild()
	if child.dispatched {
		// Inside a Run child: the program is already in namespaces of its own
		// choosing; Setup would nest, which is what Run inside Run is for.
		return fmt.Errorf("namespace: Setup inside a function run by Run: %w", ErrUnsupported)
	}
	if err := n.Validate(); err != nil {
		return err
	}
	log := n.log()
	token := newToken()
	j := &job{Token: token, Role: roleSetup, Plan: n.plan()}

	parentEnd, childEnd, err := socketPair()
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{
		Path:        selfExe,
		Args:        os.Args,
		Env:         childEnv(os.Environ(), token),
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{childEnd},
		SysProcAttr: n.sysProcAttr(),
	}
	// Catch the signals to forward before the child exists.
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, forwardedSignals...)
	// This thread starts the child and must outlive it (Pdeathsig); the
	// process ends with the child, so it is never unlocked.
	runtime.LockOSThread()
	err = cmd.Start()
	childEnd.Close()
	if err != nil {
		signal.Stop(sigc)
		runtime.UnlockOSThread()
		parentEnd.Close()
		return n.startError(err)
	}
	log.Debug("setup: started child", "pid", cmd.Process.Pid)
	if err := writeFrame(parentEnd, j); err != nil && !errors.Is(err, syscall.EPIPE) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("namespace: send job to child: %w: %w", ErrProtocol, err)
	}
	// Wait for the set-up to succeed or fail; the socket stays open, so
	// that the child knows when this process dies.
	readyc := make(chan error, 1)
	go func() {
		for {
			var m message
			if err := readFrame(parentEnd, &m); err != nil {
				readyc <- err
				return
			}
			switch m.Type {
			case msgReady:
				readyc <- nil
				return
			case msgError:
				readyc <- n.failureError(&m)
				return
			}
		}
	}()
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	var waitErr error
	exited := false
	var readyErr error
	select {
	case readyErr = <-readyc:
	case waitErr = <-waitc:
		// The child is gone; whatever it reported is in the socket
		// buffer, and the reader sees end of file after it.
		exited = true
		readyErr = <-readyc
	}
	var se *SetupError
	if errors.As(readyErr, &se) {
		if !exited {
			<-waitc
		}
		signal.Stop(sigc)
		parentEnd.Close()
		return readyErr
	}
	for !exited {
		select {
		case s := <-sigc:
			log.Debug("setup: forwarding signal", "signal", s)
			_ = cmd.Process.Signal(s)
		case waitErr = <-waitc:
			exited = true
		}
	}
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "namespace: setup: wait: %v\n", waitErr)
		os.Exit(125)
	}
	os.Exit(exitStatus(cmd.ProcessState))
	return nil
}

// doRefused are the namespace kinds that Do cannot create on one thread.
var doRefused = map[syscalls.Type]string{
	syscalls.PID:  "a new PID namespace only applies to child processes",
	syscalls.User: "the kernel refuses a new user namespace in a multi-threaded process",
	syscalls.Time: "a new time namespace only applies to child processes",
}

// Do runs fn on a fresh OS thread in new mount, UTS, IPC, network and cgroup
// namespaces, with the same set-up as Run (a recursively private /, a
// private /tmp, a hostname, lo up), and returns fn's error. No process is
// started: it costs a thread, not a fork and exec.
//
// Only fn's goroutine is inside: the caller's goroutine and every other
// thread stay in the original namespaces, and goroutines that fn starts are
// NOT inside (they run on other threads). The thread is discarded when fn
// returns, never reused. Creating the namespaces needs CAP_SYS_ADMIN (root,
// or a program already running as root of a user namespace, for example
// after Setup with WithPrivateUser).
//
// Do refuses PID, user and time namespaces (ErrUnsupported): they apply to
// new processes only; use Run. A panic in fn is re-raised in the caller.
func (n *Namespace) Do(fn func() error) error {
	guardChild()
	if fn == nil {
		return fmt.Errorf("namespace: Do: %w: nil function", ErrInvalid)
	}
	if err := n.Validate(); err != nil {
		return err
	}
	for _, t := range n.Types() {
		if why, refused := doRefused[t]; refused {
			return fmt.Errorf("namespace: Do cannot create a %s namespace (%s): %w; use Run, Command or Setup", t, why, ErrUnsupported)
		}
	}
	if n.initProc {
		return fmt.Errorf("namespace: Do: %w: WithInit needs a PID namespace", ErrUnsupported)
	}
	p := n.plan()
	log := n.log()
	type outcome struct {
		err      error
		panicked bool
		value    any
	}
	res := make(chan outcome, 1)
	gone := make(chan func(), 1) // waits until the thread has exited
	onThrowawayThread(func() {
		gone <- threadExitWaiter()
		defer func() {
			if r := recover(); r != nil {
				res <- outcome{panicked: true, value: r}
			}
		}()
		start := time.Now()
		if err := syscalls.Unshare(p.Flags); err != nil {
			res <- outcome{err: n.startError(err)}
			return
		}
		if err := applyMounts(&p, log); err != nil {
			res <- outcome{err: classify(stepName(err), err, n)}
			return
		}
		log.Debug("do: namespaces ready", "flags", fmt.Sprintf("%#x", p.Flags), "took", time.Since(start))
		res <- outcome{err: fn()}
	})
	o := <-res
	// The thread that left the host's namespaces is gone before Do returns.
	(<-gone)()
	if o.panicked {
		panic(o.value)
	}
	return o.err
}

// threadExitWaiter returns a function that waits until the calling OS
// thread has exited: through a thread pidfd (Linux 6.9), or else by watching
// /proc/self/task for a bounded time.
func threadExitWaiter() func() {
	tid := unix.Gettid()
	if fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD); err == nil {
		return func() {
			defer unix.Close(fd)
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					return
				}
			}
		}
	}
	return func() {
		path := fmt.Sprintf("/proc/self/task/%d", tid)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Microsecond) {
			if _, err := os.Stat(path); err != nil {
				return
			}
		}
	}
}

// onThrowawayThread runs body on a new goroutine locked to an OS thread
// that is not the main thread, and never unlocks it, so that the runtime
// destroys the thread when body returns.
//
// The main thread must be avoided: the kernel shows its namespaces as the
// whole process's in /proc/PID/ns, and the runtime cannot destroy it, so a
// goroutine that exits while locked to it leaves it parked for good, in
// whatever namespaces it had entered. If the new goroutine finds itself on
// the main thread, it keeps that thread busy while a second goroutine, which
// therefore runs elsewhere, takes over.
func onThrowawayThread(body func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			body()
			return
		}
		handed := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(handed)
			body()
		}()
		<-handed
		runtime.UnlockOSThread()
	}()
}
