package namespace

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
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
	j := &job{Token: token, Role: roleSetup, Plan: n.childPlan()}
	joinWorkDir(&j.Plan)

	parentEnd, childEnd, err := socketPair()
	if err != nil {
		return err
	}
	cg, err := n.openCgroup()
	if err != nil {
		parentEnd.Close()
		childEnd.Close()
		return err
	}
	cmd := n.childCmd(token, childEnd)
	cg.into(cmd.SysProcAttr)
	// Catch the signals to forward before the child exists.
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, setupSignals...)
	// This thread starts the child and must outlive it (Pdeathsig); the
	// process ends with the child, so it is unlocked only when Setup
	// returns an error, the child gone.
	runtime.LockOSThread()
	err = cmd.Start()
	childEnd.Close()
	cg.closeFD()
	if err != nil {
		releaseSignals(sigc, log)
		runtime.UnlockOSThread()
		parentEnd.Close()
		_, cerr := cg.finish()
		return withUsage(n.startErrorIn(cg, err), CgroupUsage{}, cerr)
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
		_, cerr := cg.finish()
		releaseSignals(sigc, log)
		runtime.UnlockOSThread()
		parentEnd.Close()
		return withUsage(readyErr, CgroupUsage{}, cerr)
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
	if cg != nil {
		u, cerr := cg.finish()
		if u.OOMKills > 0 {
			fmt.Fprintf(os.Stderr, "namespace: setup: %v\n", u.Err())
		}
		if cerr != nil {
			fmt.Fprintf(os.Stderr, "namespace: setup: %v\n", cerr)
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

// threadLockMargin is how many more times than it locks it the caller's
// code on a thread that leaves the host's namespaces (Do's fn, a logger's
// handler in Do or Exec) may call runtime.UnlockOSThread without effect.
// LockOSThread nests (a counter); each call costs about 2 ns, so the margin
// costs Do about 2 µs.
const threadLockMargin = 1 << 10
