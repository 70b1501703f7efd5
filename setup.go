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
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// Setup moves the rest of the program into the namespaces (Perl: setup).
// Call it first in main (or TestMain).
//
// A Go program cannot move all of its threads into new namespaces, so Setup
// re-executes the program inside them, with the same arguments, environment,
// standard input, output and error, and working directory (entered again by
// its path after the set-up, or / if it is not there inside: see "Working
// directory" in the package documentation):
//
//   - In the original process Setup does not return on success: it waits
//     for the re-executed program, forwards the signals it receives to it
//     (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
//     SIGCONT, SIGALRM, SIGPIPE), and exits with its status (128+N if
//     signal N killed it). If the namespaces cannot be created or set up,
//     Setup returns the error there and nothing of the host has changed;
//     a signal among those that arrived while Setup waited is sent to the
//     process again as Setup returns, and takes its usual course then.
//   - In the re-executed program the set-up is already done when main runs,
//     and Setup returns nil: the program carries on inside, as PID 1 of a new
//     PID namespace or as root of a new user namespace if asked.
//
// Both processes are in the same process group. On a terminal, Ctrl-C,
// Ctrl-\ and Ctrl-Z reach the program inside directly: the original process
// does not forward a SIGINT, SIGQUIT or SIGWINCH while its group is the
// terminal's foreground group (so the program gets one Ctrl-C, not two,
// and a SIGINT sent by hand to a foreground original process is not passed
// on; send it to the group). Stop signals stop the original process
// itself, so a shell sees the job stopped and fg continues both.
//
// Code that runs before Setup, package initialisation included, runs twice:
// once in the original process and once inside; keep it free of side
// effects. Calling Setup again inside, on this Namespace or another one,
// returns nil and changes nothing (the later call's options are not
// applied). Setup in a child started by Run (before Init) is an error that
// the parent reports.
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
	if err := n.check(verbSetup); err != nil {
		return err
	}
	log := n.log()
	token := newToken()
	j := &job{Token: token, Role: roleSetup, Plan: n.plan()}

	parentEnd, childEnd, err := socketPair()
	if err != nil {
		return err
	}
	cmd := n.childCmd(token, childEnd)
	// Catch the signals to forward before the child exists.
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, setupSignals...)
	// This thread starts the child and must outlive it (Pdeathsig); the
	// process ends with the child, so it is unlocked only when Setup
	// returns an error, the child gone.
	runtime.LockOSThread()
	err = cmd.Start()
	childEnd.Close()
	if err != nil {
		releaseSignals(sigc, log)
		runtime.UnlockOSThread()
		parentEnd.Close()
		return n.startError(err)
	}
	log.Debug("setup: started child", "pid", cmd.Process.Pid)
	// Answer the child's hello (a second stage asks again) with the job,
	// and wait for the set-up to succeed or fail; the socket stays open, so
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
			case msgHello:
				if err := answerHello(parentEnd, j, m.Msg); err != nil && !errors.Is(err, syscall.EPIPE) {
					readyc <- fmt.Errorf("namespace: send job to child: %w: %w", ErrProtocol, err)
					return
				}
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
		releaseSignals(sigc, log)
		runtime.UnlockOSThread()
		parentEnd.Close()
		return readyErr
	}
	for !exited {
		select {
		case s := <-sigc:
			if fromTerminal(s) {
				log.Debug("setup: not forwarding a signal the terminal also sent the child", "signal", s)
				continue
			}
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

// releaseSignals stops catching setupSignals after Setup failed, and sends
// this process again each one that was caught meanwhile: it now takes the
// course it would have taken had Setup not caught it (SIGTERM ends the
// program, a handler of its own gets it), instead of being lost. A program
// that caught the signal itself before calling Setup got it already then,
// and gets it twice.
//
// The signal goes to the calling thread, which is locked to its goroutine:
// the kernel delivers it as the system call returns, so that a SIGTERM ends
// the program here and not after Setup has returned its error.
func releaseSignals(sigc chan os.Signal, log *slog.Logger) {
	signal.Stop(sigc)
	for {
		select {
		case s := <-sigc:
			log.Debug("setup failed: sending this process again a signal caught meanwhile", "signal", s)
			_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), s.(syscall.Signal))
		default:
			return
		}
	}
}

// setupSignals are the signals that Setup's original process forwards to
// the program inside. The stop signals (SIGTSTP, SIGTTIN, SIGTTOU) are not
// caught: they stop the original process, as they stop any program, so
// that a shell sees its job stopped (the program inside, in the same
// process group, gets the terminal's Ctrl-Z itself), and SIGCONT continues
// both.
var setupSignals = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT,
	syscall.SIGALRM, syscall.SIGPIPE,
}

// fromTerminal reports whether s is a signal that a terminal sends to its
// foreground process group (Ctrl-C, Ctrl-\, a window resize) while this
// process's group is that foreground group. The program inside Setup shares
// the group, so it received the signal too and is not sent a second one.
func fromTerminal(s os.Signal) bool {
	switch s {
	case syscall.SIGINT, syscall.SIGQUIT, syscall.SIGWINCH:
	default:
		return false
	}
	fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false // no controlling terminal
	}
	defer unix.Close(fd)
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// Do runs fn on a fresh OS thread in new mount, UTS, IPC, network and cgroup
// namespaces, with the same set-up as Run (a recursively private /, a
// private /tmp, a hostname, lo up), and returns fn's error. No process is
// started: it costs a thread, not a fork and exec.
//
// Only fn's goroutine is inside: the caller's goroutine and every other
// thread stay in the original namespaces, and goroutines that fn starts are
// NOT inside (they run on other threads). The thread is discarded when fn
// returns, never reused: Do returns once it has ended. Creating the
// namespaces needs CAP_SYS_ADMIN (root, or a program already running as
// root of a user namespace, for example after Setup with WithPrivateUser).
//
// fn may call runtime.LockOSThread and runtime.UnlockOSThread as it likes,
// provided it does not call UnlockOSThread more than 1024 times beyond its
// own LockOSThread calls: Do locks the goroutine that many times more before
// anything of the caller's runs on the thread, so the goroutine stays on it,
// no other goroutine ever runs on it, and Do returns fn's result. Go has no
// lock that code on the goroutine cannot undo: a function that undoes more
// hands a thread in Do's namespaces back to the Go scheduler, where other
// goroutines may run in them, and no Go API can take it back or end it. If
// Do then finds, once fn has ended, fn's goroutine on another thread, it
// ends the program (exit status 2, with a message on standard error) rather
// than let that go on; it cannot tell whether other goroutines ran on the
// thread before.
//
// The thread starts in the caller's working directory, entered again by its
// path after the set-up: a directory under /tmp is looked up in the private
// /tmp, and if it is not there (a private /tmp is empty), the thread starts
// in / instead.
//
// Do refuses PID, user and time namespaces and the other options that need
// a new process (ErrUnsupported, naming the option; see each option's
// doc): use Run. A panic in fn is re-raised in the caller; if
// fn ends its goroutine with runtime.Goexit (t.Fatal called in fn, say), Do
// returns an error saying so.
func (n *Namespace) Do(fn func() error) error {
	guardChild()
	if fn == nil {
		return fmt.Errorf("namespace: Do: %w: nil function", ErrInvalid)
	}
	if err := n.check(verbDo); err != nil {
		return err
	}
	return n.do(n.plan(), fn)
}

// do is Do with the plan p.
func (n *Namespace) do(p plan, fn func() error) error {
	log := n.log()
	type outcome struct {
		err      error
		panicked bool
		value    any
	}
	res := make(chan outcome, 1)
	gone := make(chan exitWaiter, 1) // waits until the thread has exited
	onThrowawayThread(func() {
		// Before any code of the caller's runs here (fn, or a logger's
		// handler): see holdThread.
		tid := holdThread()
		gone <- threadExitWaiter()
		var o outcome
		returned := false
		defer func() {
			if r := recover(); r != nil {
				o = outcome{panicked: true, value: r}
			} else if !returned {
				// runtime.Goexit, from t.FailNow or t.Fatal called in fn,
				// say: report it rather than leave Do waiting forever.
				o = outcome{err: errors.New("namespace: Do: fn called runtime.Goexit instead of returning (t.FailNow, t.Fatal and t.SkipNow must not be called from fn: return an error)")}
			}
			// The thread ends with this goroutine, before Do returns.
			keepThread(tid, "Do")
			res <- o
		}()
		start := time.Now()
		if err := syscalls.Unshare(p.Flags); err != nil {
			returned = true
			o.err = n.startError(err)
			return
		}
		if err := runSteps(p.Steps, log); err != nil {
			returned = true
			o.err = classify(failedStep(err), stepCause(err), n)
			return
		}
		log.Debug("do: namespaces ready", "flags", fmt.Sprintf("%#x", p.Flags), "took", time.Since(start))
		o.err = fn()
		returned = true
	})
	// The thread that left the host's namespaces is gone before Do returns.
	// With a thread pidfd, its exit is the one wake-up Do waits for: the
	// outcome was sent before it.
	wait := <-gone
	var o outcome
	if wait.exact {
		wait.wait()
		o = <-res
	} else {
		o = <-res
		wait.wait()
	}
	if o.panicked {
		panic(o.value)
	}
	return o.err
}

// Exec executes the program at path in place of the calling program, in
// new namespaces with the set-up made, as syscall.Exec does and as
// unshare(1) does without --fork: a fresh OS thread creates the mount, UTS,
// IPC, network and cgroup namespaces, makes the set-up (a recursively
// private /, a private /tmp, a hostname, lo up) and calls execve(2). The
// kernel then ends every other thread, and the program is the process, with
// its pid, its parent and its process group; its namespaces end with it.
// Nothing of the calling program runs any more: use it at the end of a
// command such as nsrun, where StartProcess would leave a parent waiting
// for nothing. As with syscall.Exec, children that the program started
// with a parent-death signal from another thread get it when the kernel
// ends that thread.
//
// argv is the program's argument list (nil means just path); envv its
// environment (nil means the current one). Descriptors without
// close-on-exec stay open. Signals that the program ignores (signal.Ignore,
// or SIGHUP and SIGINT ignored when it started) stay ignored and the others
// get their default action, as in os/exec's children; the soft
// RLIMIT_NOFILE that the Go runtime raised is restored.
//
// The command starts in the caller's working directory, entered again by
// its path after the set-up, or in / if it is not there inside, as Do's
// function does. The thread obeys Do's discipline too: code of the
// caller's that runs on it (a WithLogger handler) may unlock it as Do's
// function may.
//
// Exec returns only if it fails: with a *SetupError if the namespaces or
// the set-up could not be made (ErrPermission without CAP_SYS_ADMIN), or an
// *os.PathError with Op "exec" if execve failed (fs.ErrNotExist,
// fs.ErrPermission, ...). The thread is then discarded and the caller goes
// on in its own namespaces, as after Do. Like Do, Exec refuses PID, user
// and time namespaces and the other options that need a new process
// (ErrUnsupported, naming the option; see each option's doc): use
// StartProcess.
func (n *Namespace) Exec(path string, argv, envv []string) error {
	guardChild()
	if err := n.check(verbExec); err != nil {
		return err
	}
	if argv == nil {
		argv = []string{path}
	}
	if envv == nil {
		envv = os.Environ()
	}
	p := n.plan()
	log := n.log()
	type failure struct {
		err  error
		gone exitWaiter
	}
	failed := make(chan failure, 1)
	onThrowawayThread(func() {
		// A logger's handler is the caller's code: see holdThread.
		tid := holdThread()
		gone := threadExitWaiter()
		var err error
		if uerr := syscalls.Unshare(p.Flags); uerr != nil {
			err = n.startError(uerr)
		} else if merr := runSteps(p.Steps, log); merr != nil {
			err = classify(failedStep(merr), stepCause(merr), n)
		} else {
			log.Debug("exec: namespaces ready", "path", path)
			err = &os.PathError{Op: "exec", Path: path, Err: syscall.Exec(path, argv, envv)}
		}
		keepThread(tid, "Exec")
		failed <- failure{err, gone}
	})
	f := <-failed
	f.gone.wait()
	return f.err
}

// threadLockMargin is how many more times than it locks it the caller's
// code on a thread that leaves the host's namespaces (Do's fn, a logger's
// handler in Do or Exec) may call runtime.UnlockOSThread without effect.
// LockOSThread nests (a counter); each call costs about 2 ns, so the margin
// costs Do about 2 µs.
const threadLockMargin = 1 << 10

// holdThread locks the calling goroutine to its OS thread threadLockMargin
// times more, and returns the thread's id.
//
// Go offers no lock that code on the goroutine cannot undo: a function
// that calls runtime.UnlockOSThread as often as the goroutine was locked
// hands the thread back to the scheduler, which would run other goroutines
// on it, in the namespaces it entered (and Do, waiting for the thread to
// end, would wait forever). With the margin, unbalanced UnlockOSThread calls
// (a library that unlocks a lock it did not take, once or a thousand
// times) leave the goroutine locked; keepThread checks afterwards.
func holdThread() int {
	for range threadLockMargin {
		runtime.LockOSThread()
	}
	return unix.Gettid()
}

// keepThread runs after the caller's code on a thread that holdThread
// held, tid: it locks the goroutine once more, so that the runtime ends
// the thread when the goroutine ends, and checks that the goroutine is
// still on tid. If it is not, the caller's code undid more locks than the
// margin and the thread, in other namespaces, went back to the scheduler:
// no Go API can take it back or end it, and any goroutine may run on it.
// Then the program ends (status 2, as the runtime's fatal errors), which is
// the one way left to keep goroutines out of those namespaces.
func keepThread(tid int, verb string) {
	runtime.LockOSThread()
	if unix.Gettid() == tid {
		return
	}
	fmt.Fprintf(os.Stderr, "namespace: %s: fatal: the goroutine's OS thread, in new namespaces, was handed back to the Go scheduler "+
		"(runtime.UnlockOSThread was called more than %d times beyond runtime.LockOSThread); other goroutines may run on it, so the program ends\n",
		verb, threadLockMargin)
	os.Exit(2)
}

// exitWaiter waits until an OS thread has exited.
type exitWaiter struct {
	wait func()
	// exact: wait returns when the thread is gone, not after a bounded
	// time.
	exact bool
}

// threadExitWaiter returns a waiter for the exit of the calling OS thread:
// through a thread pidfd (Linux 6.9), or else by watching /proc/self/task
// for a bounded time.
func threadExitWaiter() exitWaiter {
	tid := unix.Gettid()
	if fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD); err == nil {
		return exitWaiter{exact: true, wait: func() {
			defer unix.Close(fd)
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					return
				}
			}
		}}
	}
	return exitWaiter{wait: func() {
		path := fmt.Sprintf("/proc/self/task/%d", tid)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Microsecond) {
			if _, err := os.Stat(path); err != nil {
				return
			}
		}
	}}
}

// onThrowawayThread runs body on a new goroutine locked to an OS thread
// that is not the main thread and has no children, and never unlocks it, so
// that the runtime destroys the thread when body returns.
//
// The main thread must be avoided: the kernel shows its namespaces as the
// whole process's in /proc/PID/ns, and the runtime cannot destroy it, so a
// goroutine that exits while locked to it leaves it parked for good, in
// whatever namespaces it had entered. A thread with children must be
// avoided too: the kernel sends their parent-death signal when the thread
// exits, and the child of a Command started from that thread earlier would
// be killed (SIGKILL, Pdeathsig). If the new goroutine finds itself on such a
// thread, it keeps that thread busy while another goroutine, which therefore
// runs elsewhere, takes over.
func onThrowawayThread(body func()) {
	go throwaway(body, nil)
}

// throwaway is onThrowawayThread's goroutine; it closes found once body has
// a thread.
func throwaway(body func(), found chan<- struct{}) {
	runtime.LockOSThread()
	if unix.Gettid() != unix.Getpid() && !threadHasChildren() {
		if found != nil {
			close(found)
		}
		body()
		return
	}
	handed := make(chan struct{})
	go throwaway(body, handed)
	<-handed
	if found != nil {
		close(found)
	}
	runtime.UnlockOSThread()
}

// threadHasChildren reports whether the calling OS thread has child
// processes (false if /proc cannot tell).
//
// It reads with raw system calls: os.ReadFile would register the file with
// the runtime's network poller, and in a program that has not used it yet
// (nsrun executing COMMAND in its place) starting the poller costs more
// than the rest of Exec's bookkeeping.
func threadHasChildren() bool {
	fd, err := unix.Open("/proc/thread-self/children", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0 // "PID PID ...", or empty
	}
}
