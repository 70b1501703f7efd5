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

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
)

// The minimal init of WithMinimalInit and the subreaper of WithKillDescendants
// run without the Go runtime: their code is in internal/rawproc (ForkInit,
// InitLoop). This file prepares them and waits for them.

// childrenFile lists the children of the calling thread (see
// rawproc.ChildrenFile).
const childrenFile = rawproc.ChildrenFile

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
			childFail(sock, rawStepTable[rawproc.CodeChildrenFile].name, err)
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
	pid, errno := rawproc.ForkInit(a)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	runtime.KeepAlive(a)
	unix.Close(int(a.ParentFD))
	if errno != 0 {
		childFail(sock, "fork "+what, os.NewSyscallError("clone", errno))
	}
	pidfd := int(a.Pidfd)
	log.Debug(what+" started", "pid", pid)

	exited := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigc:
				if a.Reaper.On && !a.TakeTerminal && fromTerminal(s) {
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
func prepareRawInit(file string, args, env []string, p *plan) (*rawproc.InitArgs, error) {
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
	a := &rawproc.InitArgs{
		Pidfd:    -1,
		Path:     path,
		Argv:     &argv[0],
		Envv:     &envv[0],
		FailFork: []byte(fmt.Sprintf("namespace: init: cannot fork %s\n", file)),
	}
	if !p.Init {
		a.Reaper.On = true
		a.Reaper.Parent = uintptr(os.Getpid())
		if a.Reaper.Children, err = unix.BytePtrFromString(childrenFile); err != nil {
			return nil, err
		}
		a.FailFork = []byte(fmt.Sprintf("namespace: subreaper: cannot fork %s\n", file))
	}
	self, err := unix.PidfdOpen(os.Getpid(), unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	unix.CloseOnExec(self)
	a.ParentFD = uintptr(self)
	// A process that leads the foreground process group of the terminal on
	// standard input was made a job by its parent (a shell, or Command with
	// SysProcAttr Setpgid and Foreground): the command, PID 2, becomes that
	// job in its place, so that the terminal's signals reach it alone and
	// a shell finds its own process group (this one is not visible in the
	// new PID namespace).
	if fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil && fg == os.Getpid() && unix.Getpgrp() == os.Getpid() {
		a.TakeTerminal = true
	}
	if p.Init && hasStep(p.Steps, stepProc) {
		// PID 1 mounts /proc of its PID namespace (the Go child, outside
		// it, left that step out) and enters the working directory again
		// after it: the one the Go child entered after its own steps.
		steps := selectSteps(p.Steps, func(s *step) bool { return s.Kind == stepProc || s.Kind == stepWorkDir })
		wd, err := unix.Getwd()
		if err != nil {
			wd = "/"
		}
		for i := range steps {
			if steps[i].Kind == stepWorkDir {
				steps[i].Target = wd
			}
		}
		if a.Steps, a.WD, err = rawSteps(steps); err != nil {
			return nil, err
		}
		for i := range steps {
			a.Fail = append(a.Fail, []byte(fmt.Sprintf("namespace: init: %s: %s %s failed\n", stepName(&steps[i]), stepTable[steps[i].Kind].call, steps[i].Target)))
		}
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
