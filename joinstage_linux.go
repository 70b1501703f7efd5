package namespace

// The join stage of a re-executed Go child (Run, Task.Run, Command,
// Setup) whose plan joins namespaces.
//
// A Go program cannot enter a user or mount namespace: the runtime's
// threads exist before any of its code runs. So the child that os/exec
// started, in the caller's namespaces, having checked its parent and taken
// its job as every child does, clones a raw child (the engine's raw
// executor, as StartProcess's) that joins the namespaces, creates the
// others, and executes
//
//   - for a command, the command itself, after the whole set-up;
//   - for a function or Setup, the program again (stage 2, "2:2"), which
//     checks its parent (this process) and the socket's maker (the
//     caller) as any child does, asks the caller for the job again, and
//     performs the rest of the set-up in Go.
//
// This process stays as the caller's child: it passes on the signals it
// receives and exits with the status of the one it cloned (dying of the
// same signal); that one dies with it (its parent-death signal).

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
	"github.com/linuxns/namespace/internal/wire"
	"github.com/linuxns/namespace/syscalls"
)

// runJoinStage clones the raw child that joins the namespaces of j's plan
// and executes the command or the program's stage 2, and relays to it. It
// does not return.
func runJoinStage(sock *os.File, token string, j *job, log *slog.Logger) {
	runtime.LockOSThread() // the raw child dies with this thread
	p := j.Plan
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	path, argv, env := j.Path, j.Argv, os.Environ()
	var report *os.File // where a failure is reported: the caller, for a Go child
	var passed *os.File // the caller's /proc, passed to stage 2
	var forks bool      // a Go child's raw child stays in front of it
	if j.Role != roleExec {
		// The raw child joins, creates, enters the time namespace; the
		// program, executed again, does the rest.
		p.Steps = selectSteps(p.Steps, func(s *step) bool { return isJoinStep(s) || isTimeStep(s) })
		p.Init, p.KillDescendants = false, false
		pidJoined := joinsPID(p.Steps, p.Flags) // the same after the move below
		if p.Flags&syscalls.CLONE_NEWPID != 0 && timeNSNeedsFork(p.Steps) && !pidJoined {
			// Before Linux 6.3 the raw child forks the program into the
			// time namespace: it makes the PID namespace with it, not at
			// its clone, so that the program is PID 1 of both, as on
			// later kernels and as the relay of a child that joins
			// nothing does (timens_linux.go).
			p.Flags &^= syscalls.CLONE_NEWPID
			for i := range p.Steps {
				if p.Steps[i].Kind == stepTimeNS {
					p.Steps[i].Flags |= uint64(syscalls.CLONE_NEWPID)
				}
			}
		}
		files = append(files, sock)
		// Stage 2 checks its parents through the caller's /proc, opened
		// here before the joins (trustproc_linux.go).
		if proc, err := openCallerProc(); err == nil {
			passed = proc
			files = append(files, proc)
			env = append(env, envProc+"=4")
		}
		path, argv = selfExe, os.Args
		// The raw child forks the program and stays in front of it, as
		// prepareSpawnPlan decides (TimeFork): into a joined PID namespace
		// (the relay of timens_linux.go), or, before Linux 6.3, into the
		// time namespace it made; one generation more up to the caller.
		forks = pidJoined || timeNSNeedsFork(p.Steps)
		stage := "2:2"
		if forks {
			stage = "2:3"
		}
		env = append(env, envChild+"="+markerValue(3, token), envStage+"="+stage)
		report = sock
	}
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, forwardedSignals...)

	a, steps, keep, err := prepareSpawnPlan(p, path, argv, &os.ProcAttr{Env: env, Files: files}, nil)
	if err != nil {
		childFail(report, "prepare the join", err)
	}
	if j.Role != roleExec && a.TimeFork != forks {
		// Stage 2 would look for the caller one generation off and
		// refuse its job: say why here instead.
		childFail(report, "prepare the join", fmt.Errorf("%w: the raw child's fork (%v) and stage 2's generations disagree", ErrProtocol, a.TimeFork))
	}
	if j.Role != roleExec {
		// The program is executed again after the raw child has joined the
		// namespaces: /proc/self/exe looked up there is whatever the joined
		// mount namespace's owner put at that path. Open it now, here.
		fd, err := openSelfExe()
		if err != nil {
			childFail(report, "open the program's executable", err)
		}
		a.ExecFD, a.ExecByFD = uintptr(fd), true
	}
	errPipe, err := pipe2()
	if err != nil {
		childFail(report, "create a pipe", err)
	}
	a.ErrFD = uintptr(errPipe[1])
	// WithPrivateUser(SubIDs()): the raw child waits at the id-map gate
	// until newuidmap and newgidmap have written its maps, from here.
	subIDs := hasStep(j.Plan.Steps, wire.StepSubIDs)
	var gate [2]int
	if subIDs {
		if gate, err = pipe2(); err != nil {
			childFail(report, "create a pipe", err)
		}
		a.GateR, a.GateW = uintptr(gate[0]), uintptr(gate[1])
	}
	self, err := selfPidfd()
	if err != nil {
		childFail(report, "open a pidfd of this process", err)
	}
	a.ParentFD = uintptr(self)
	pid, errno := spawn(a)
	unix.Close(errPipe[1])
	if subIDs {
		unix.Close(gate[0])
		if errno == 0 {
			if err := writeSubIDMaps(pid); err != nil {
				unix.Close(gate[1]) // the child ends, at the gate
				waitRaw(pid)
				childFail(report, "write the id maps", err)
			}
			if _, err := unix.Write(gate[1], []byte{0}); err != nil {
				childFail(report, "release the child", os.NewSyscallError("write", err))
			}
		}
		unix.Close(gate[1])
	}
	if a.ExecByFD {
		unix.Close(int(a.ExecFD))
	}
	releaseKeep(keep)
	runtime.KeepAlive(a)
	runtime.KeepAlive(keep)
	if errno != 0 {
		childFail(report, "clone the joining child", os.NewSyscallError("clone", errno))
	}
	log.Debug("join stage: cloned", "pid", pid, "flags", fmt.Sprintf("%#x", a.CloneFlags))
	if st, e, got, _ := readRawReport(errPipe[0]); got == rawproc.ReportSize {
		waitRaw(pid)
		if st == rawproc.CodeExec && j.Role == roleExec {
			fmt.Fprintf(os.Stderr, "namespace: exec %s: %v\n", path, e)
			if e == syscall.ENOENT {
				os.Exit(127)
			}
			os.Exit(126)
		}
		name, call := "join stage", "clone"
		if st < uint32(len(steps)) {
			name, call = stepName(&steps[st]), stepInfoOf(steps[st].Kind).call
		} else if info, ok := rawStepInfo(st); ok {
			name, call = info.name, info.call
		}
		childFail(report, name, os.NewSyscallError(call, e))
	}
	unix.Close(errPipe[0])
	sock.Close()
	if passed != nil {
		passed.Close()
	}
	relay(pid, int(a.Pidfd), sigc, log)
}

// waitRaw reaps the process pid.
func waitRaw(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			return ws
		}
	}
}

// relay passes the signals of sigc on to the process of pidfd until it
// exits, then exits with its status, or dies of the signal that killed it.
func relay(pid, pidfd int, sigc chan os.Signal, log *slog.Logger) {
	go func() {
		for s := range sigc {
			if fromTerminal(s) {
				continue // the terminal sent it to the whole group, the child included
			}
			log.Debug("join stage: forwarding", "signal", s)
			_ = unix.PidfdSendSignal(pidfd, s.(syscall.Signal), nil, 0)
		}
	}()
	ws := waitRaw(pid)
	if ws.Signaled() {
		sig := ws.Signal()
		signal.Reset(sig)
		_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
		_ = unix.Kill(os.Getpid(), sig)
		os.Exit(128 + int(sig))
	}
	os.Exit(ws.ExitStatus())
}
