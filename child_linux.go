package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/wire"
	"github.com/linuxns/namespace/syscalls"
)

// The child side of the protocol. A re-executed child is recognised in this
// package's init, before any package that imports it is initialised and long
// before main: it authenticates its job, performs the set-up, and then
//
//   - for Command, executes the program (never returning);
//   - for Setup, lets the program continue, inside;
//   - for Run and Task, waits for Init to run the registered function.

// child holds the state of a re-executed child; all zero in any other
// process.
var child struct {
	sock       *os.File   // the socket to the parent
	sockFD     int        // its descriptor (sock.Fd would make it blocking)
	jobs       *jobReader // reads the parent's frames on sock, checking their sender
	job        *job       // a function job waiting for Init
	dispatched bool       // Init ran the job
	setup      bool       // a Setup child: set-up done, Setup returns nil
	plan       plan
	log        *slog.Logger

	// A function child prepares these in the background while the program
	// initialises (prepareFuncChild); prepared is closed when they are set.
	prepared chan struct{}
	ctx      *signalContext // cancelled by SIGTERM, SIGINT, SIGHUP
	watching bool           // watchParent runs

	// The caller's standard error while this child's is a tee's pipe
	// (stderrtee_linux.go), until Init runs the function; else -1.
	stderrFD int
}

// jobReadTimeout bounds the wait for the job after start-up: the parent sends
// it right after starting the child.
const jobReadTimeout = 30 * time.Second

func init() {
	v, ok := os.LookupEnv(envChild)
	if !ok {
		return
	}
	childStart(v)
}

// childFail reports a failure to the parent (if it listens) and to standard
// error, and exits with status 125.
func childFail(sock *os.File, stepName string, err error) {
	var se *stepError
	if errors.As(err, &se) && se.step == stepName {
		err = se.err // the step is named once
	}
	m := message{Type: msgError, Step: stepName, Msg: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		m.Errno = int(errno)
	}
	if sock != nil {
		_ = writeFrame(sock, m)
	}
	fmt.Fprintf(os.Stderr, "namespace: %s: %v\n", stepName, err)
	os.Exit(125)
}

// childRefuse says on standard error why a job is refused and exits with
// status 125: nothing of the job runs.
func childRefuse(err error) {
	fmt.Fprintf(os.Stderr, "namespace: refused the job on this process's descriptors: %v. Nothing of it was run. (The program was started with %s in its environment; only this package's own parent process may set it.)\n", err, envChild)
	os.Exit(125)
}

func childStart(marker string) {
	// Stage 2 ("2", or "2:3" when the socket was made three generations
	// up: under WithKillDescendants the first-stage child waits for a
	// subreaper, whose child this process is): re-executed, this process
	// asks its parent for the job again.
	stage := os.Getenv(envStage)
	privSender, privStage := strings.CutPrefix(stage, stagePriv) // (privstage_linux.go)
	stage2, hops := stage == "2" || stage == "2:2" || stage == "2:3" || privStage, 1
	switch stage {
	case "2:2":
		hops = 2 // the join stage's raw child executed this process
	case "2:3":
		hops = 3
	}
	// The marker never reaches user code or an executed program.
	procFD, passedProc := os.LookupEnv(envProc)
	os.Unsetenv(envChild)
	os.Unsetenv(envStage)
	os.Unsetenv(envProc)

	fd, token, ok := parseMarker(marker)
	if !ok || !isUnixStream(fd) {
		// A marker without its job socket (inherited by accident, or set
		// by hand): not a child. The program runs as usual.
		return
	}
	if passedProc {
		// A stage 2 behind a join: the caller's /proc (trustproc_linux.go).
		if err := usePassedProc(procFD); err != nil || !stage2 {
			childRefuse(fmt.Errorf("%w (%s on a first stage)", err, envProc))
		}
		defer endPassedProc()
	}
	var parent *parentProc
	var err error
	if privStage {
		parent, err = verifyPrivStage(fd, privSender)
	} else {
		parent, err = verifyParent(fd, hops)
	}
	if err != nil {
		childRefuse(err)
	}
	defer unix.Close(parent.dir)
	child.stderrFD = markerStderrFD(marker)
	unix.CloseOnExec(fd)
	_ = unix.SetNonblock(fd, true)
	// The job must come from the parent as it is now, not from whatever
	// ran in its place before it executed this program: ask for it with a
	// fresh nonce, and take only frames that the parent sent (their
	// SO_PASSCRED credentials) after nothing was waiting.
	jobs, err := newJobReader(fd, parent.senderPid)
	if err != nil {
		childRefuse(err)
	}
	sock := os.NewFile(uintptr(fd), "namespace-job")
	nonce := newToken()
	if err := writeFrame(sock, message{Type: msgHello, Msg: nonce}); err != nil {
		childFail(nil, "ask for the job", err)
	}
	jobs.deadline = time.Now().Add(jobReadTimeout)
	j, err := decodeJob(jobs, token)
	if err == nil && j.Nonce != nonce {
		err = fmt.Errorf("%w: the job does not answer this child's request", ErrProtocol)
	}
	if err != nil {
		childFail(sock, "read job", err)
	}
	child.jobs = jobs
	// The namespaces the clone made (a time namespace is made by this
	// process, and entered at the re-execution; with WithMinimalInit, the pid
	// namespace is made for PID 1 later).
	made := j.Plan.Flags &^ (syscalls.CLONE_NEWTIME | syscalls.CLONE_SYSVSEM)
	if j.Plan.Init || !stage2 && relayMakesPIDNSFor(j) {
		made &^= syscalls.CLONE_NEWPID
	}
	if stage2 {
		made |= j.Plan.Flags & syscalls.CLONE_NEWTIME
	}
	joins := rawStage(j.Plan.Steps)
	if joins && !stage2 {
		made = 0 // made in the caller's namespaces; its join stage makes them
	}
	if privStage {
		made = 0 // checked before the privilege stage
	}
	if err := checkNamespacesDiffer(parent.dir, made, j.Plan.ParentNS); err != nil {
		childFail(sock, "check namespaces", err)
	}
	endPassedProc()
	if !stage2 {
		if err := writeFrame(sock, message{Type: msgAck, Pid: os.Getpid()}); err != nil && j.Role != roleExec {
			childFail(nil, "acknowledge job", err)
		}
	}
	child.sock, child.sockFD = sock, fd
	child.plan = j.Plan
	child.log = childLogger(j.Plan.Debug)
	log := child.log
	if j.Plan.Debug {
		log.Debug("child started", "role", j.Role, "pid", os.Getpid(), "flags", fmt.Sprintf("%#x", j.Plan.Flags))
	}

	// A time namespace is entered at execve. A function or Setup child
	// creates it, re-executes itself once to be inside, and performs the
	// other steps there; a command enters it when it is executed, below.
	// Before Linux 6.3 (timens_linux.go) the time namespace is made by the
	// raw process forked in front of the program, which a fork enters: this
	// process stays outside, and can still make threads.
	steps := j.Plan.Steps
	if joins && !stage2 {
		restoreStderr(child.stderrFD) // the join stage's program has no tee
		child.stderrFD = -1
		dropInherited(j, parent)
		runJoinStage(sock, token, j, log) // does not return
	}
	timeNS := hasStep(steps, stepTimeNS)
	timeFork := !stage2 && timeNSNeedsFork(steps)
	if (timeNS || j.Plan.KillDescendants) && !stage2 && j.Role != roleExec {
		if !timeFork {
			if err := runSteps(selectSteps(steps, isTimeStep), log); err != nil {
				childFail(sock, failedStep(err), err)
			}
		}
		dropInherited(j, parent)
		reexecStage2(sock, fd, token, j, timeFork)
	}
	var rawTail []step
	if timeFork && j.Role == roleExec {
		// The raw process performs the time steps and every step after
		// them, in the plan's order, before it forks the command.
		i := slices.IndexFunc(steps, func(s step) bool { return isTimeStep(&s) })
		steps, rawTail = steps[:i:i], steps[i:]
	}
	if stage2 {
		steps = selectSteps(steps, func(s *step) bool { return !isTimeStep(s) && !isJoinStep(s) })
	}
	if privStage {
		// All performed before the program was executed again; the
		// rlimits again, whose soft RLIMIT_NOFILE the Go runtime raised to
		// the hard limit as it started (the same limits: no privilege).
		steps = selectSteps(steps, func(s *step) bool { return s.Kind == stepRlimit })
	}

	if j.Role == roleFunc || j.Role == rolePrewarm {
		// In the background, overlapping the set-up and the program's
		// initialisation.
		prepareFuncChild(j.Plan, j.Role)
	}
	if j.Role == roleExec && j.Plan.Init && hasStep(steps, stepProc) {
		// PID 1 of the new PID namespace mounts /proc; this process is
		// outside it.
		// So does the old root's detachment after it (fs_plan_linux.go),
		// and so PID 1 performs the privilege steps after them.
		steps = selectSteps(steps, func(s *step) bool { return !isInitStep(s) && !isPrivStep(s) })
		rawTail = selectSteps(rawTail, func(s *step) bool { return !isInitStep(s) && !isPrivStep(s) })
	}
	// A child that keeps running Go applies the privilege steps to every
	// thread; a command's, to the thread that executes it.
	privAllThreads = j.Role != roleExec
	if needsPrivStage(j.Role, steps) {
		// A program that links cgo: the privilege steps on this thread,
		// then the program again (privstage_linux.go).
		ps, err := openPrivStage()
		if err != nil {
			childFail(sock, "prepare the privilege stage", err)
		}
		if err := runSteps(selectSteps(steps, func(s *step) bool { return !isPrivStep(s) }), log); err != nil {
			childFail(sock, failedStep(err), err)
		}
		dropInherited(j, parent)
		name, err := runPrivStage(ps, selectSteps(steps, isPrivStep), fd, token, hops, parent.senderPid)
		childFail(sock, name, err)
	}
	if err := runSteps(steps, log); err != nil {
		childFail(sock, failedStep(err), err)
	}
	// Setup waits for this; the next message of a function child is
	// "running" or an error, which is enough for Run (one wake-up of the
	// parent fewer).
	if j.Role == roleSetup {
		if err := writeFrame(sock, message{Type: msgReady}); err != nil {
			childFail(nil, "report set-up", err)
		}
	}

	switch j.Role {
	case roleExec:
		execJob(j, parent.dir, log, timeFork, rawTail)
	case roleSetup:
		child.setup = true
		startChildServices(j.Plan)
	case roleFunc, rolePrewarm:
		if !privStage {
			// (A privilege stage's first stage closed them before it
			// executed this program; here procfs may be denied, and the
			// runtime raised the descriptor limit, which would bound a
			// search number by number.)
			closeInheritedFds(parent)
		}
		child.job = j
	}
}

// stepCause returns the error of a failed step without the step's name.
func stepCause(err error) error {
	var se *stepError
	if errors.As(err, &se) {
		return se.err
	}
	return err
}

// failedStep names the step of a failed set-up.
func failedStep(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		return se.step
	}
	return "set up"
}

func childLogger(debugOn bool) *slog.Logger {
	if !debugOn {
		return slog.New(slog.DiscardHandler)
	}
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h).With("side", "child", "pid", os.Getpid())
}

// dropInherited closes, in a function's (or a pool's) child, the
// descriptors it inherited before it executes the program again or starts
// it to run the function (a time namespace, WithKillDescendants'
// subreaper, a join, the privilege stage): the next image needs none of
// them, may be unable to find them (Landlock may deny it /proc, and its
// descriptor limit be below them), and this process stays alive beside it
// (under the subreaper, behind a join), where the function may open them
// through /proc/PID/fd: under the subreaper this process is in the new
// user namespace, in which the function is root.
func dropInherited(j *job, parent *parentProc) {
	if j.Role == roleFunc || j.Role == rolePrewarm {
		closeInheritedFds(parent)
	}
}

// reexecStage2 executes the program again, now inside the time namespace;
// with WithKillDescendants, under a subreaper (runRawInit), which this
// process waits for. It does not return. The re-executed program checks
// its parent again (and, under the subreaper, the chain up to the socket's
// maker) and asks the parent for the job again.
func reexecStage2(sock *os.File, sockFD int, token string, j *job, timeFork bool) {
	if _, err := unix.FcntlInt(uintptr(sockFD), unix.F_SETFD, 0); err != nil {
		childFail(sock, "re-execute into time namespace", err)
	}
	// Before Linux 6.3 the re-executed program must be forked to be in the
	// time namespace (timens_linux.go): it runs behind a relay, as under
	// WithKillDescendants' subreaper.
	viaFork := j.Plan.KillDescendants || timeFork
	stage := envStage + "=2"
	if viaFork {
		stage += ":3" // the socket's maker is the parent of this process's parent, the subreaper's or relay's
	}
	marker := markerValue(sockFD, token)
	if child.stderrFD >= 0 {
		marker += stderrMarker(child.stderrFD)
	}
	env := append(os.Environ(), envChild+"="+marker, stage)
	if viaFork {
		var raw []step
		if timeFork {
			raw = selectSteps(j.Plan.Steps, isTimeStep)
			if relayMakesPIDNSFor(j) {
				for i := range raw {
					if raw[i].Kind == stepTimeNS {
						raw[i].Flags |= uint64(syscalls.CLONE_NEWPID)
					}
				}
			}
		}
		runRawInit(selfExe, os.Args, env, &j.Plan, raw, sock, child.log)
	}
	err := syscall.Exec("/proc/self/exe", os.Args, env)
	childFail(sock, "re-execute into time namespace", err)
}

// startChildServices starts what a child that keeps running Go needs: the
// orphan reaper when it is PID 1, and the watch that ends the child when its
// parent dies.
func startChildServices(p plan) {
	if p.PID1 && os.Getpid() == 1 {
		go reapOrphans(child.log)
	}
	go watchParent(child.sock)
}

// prepareFuncChild prepares what a function child needs before its
// function runs, in the background, so that it overlaps the program's
// initialisation: as PID 1, the orphan reaper; and, unless the child is a
// pool child (whose socket carries a second job), the watch for the
// parent's death. runFunc waits for it.
//
// os/signal starts threads of its own at its first use (its receiving
// loop, the thread that changes the signal mask, the runtime's template
// thread). A pool child starts them here, while it waits for its job, so
// that its function does not wait for them, and its reaper catches
// SIGCHLD from the start; any other child starts them only when its
// function first consults its context (signalContext) or, as PID 1, when
// its reaper starts catching SIGCHLD after reaperWarmup, which spares a
// short function's child their cost (0.2–0.3 ms of CPU in a child of
// 2.2–2.6 ms, docs/benchmarks.md).
//
// Starting them sooner did not make a child safe from RLIMIT_NPROC, which
// they were started for: under a limit that leaves no thread to be made,
// the runtime dies as soon as it needs one, to wake a goroutine or for a
// blocking system call, whatever os/signal has.
func prepareFuncChild(p plan, role wire.Role) {
	child.prepared = make(chan struct{})
	child.ctx = newSignalContext()
	if role == roleFunc {
		child.watching = true
		go watchParent(child.sock)
	}
	reaper := p.PID1 && os.Getpid() == 1
	if role != rolePrewarm {
		if reaper {
			go reapOrphansLater(child.log)
		}
		close(child.prepared)
		return
	}
	go func() {
		// Catching SIGCHLD starts os/signal and changes nothing else (the
		// runtime ignores it by default).
		sigchld := make(chan os.Signal, 1)
		signal.Notify(sigchld, syscall.SIGCHLD)
		if reaper {
			go reapOrphansOn(child.log, sigchld)
		}
		close(child.prepared)
	}()
}

// signalContext is the context of a function child: it is cancelled when
// the child receives SIGTERM, SIGINT or SIGHUP.
//
// Catching a signal takes os/signal a round trip to a thread of its own
// each, a good part of a short child's life; so the child starts catching
// them only when the function first consults its context (Done or Err,
// which deriving a context or context.AfterFunc do too). Until then the
// signals have their default effect: a function that never looks at its
// context is simply stopped by them (the child dies of the signal; as PID 1
// of a PID namespace, where the kernel drops a signal to init that has no
// handler, the Go runtime exits with status 2 instead).
type signalContext struct {
	context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func newSignalContext() *signalContext {
	ctx, cancel := context.WithCancel(context.Background())
	return &signalContext{Context: ctx, cancel: cancel}
}

// arm starts catching the signals, once.
func (c *signalContext) arm() {
	c.once.Do(func() {
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		go func() {
			select {
			case <-sigc:
				c.cancel()
			case <-c.Context.Done():
			}
		}()
	})
}

// Done arms the signals and returns the channel closed when one arrives.
func (c *signalContext) Done() <-chan struct{} {
	c.arm()
	return c.Context.Done()
}

// Err arms the signals and returns context.Canceled once one arrived.
func (c *signalContext) Err() error {
	c.arm()
	return c.Context.Err()
}

// watchParent exits when the parent's end of the socket closes: the parent
// died (the parent keeps it open until the child has exited).
func watchParent(sock *os.File) {
	var b [512]byte
	for {
		if _, err := sock.Read(b[:]); err != nil {
			if errors.Is(err, syscall.EBADF) {
				// The function closed the socket itself: that is not the
				// parent's death (Pdeathsig still covers that); its exit
				// status is its own.
				child.log.Debug("job socket closed by the function; no longer watching", "err", err)
				return
			}
			child.log.Debug("parent gone; exiting", "err", err)
			os.Exit(128 + int(syscall.SIGKILL))
		}
	}
}

// Init runs the registered function when the program was started by Run or
// Task, and exits with its outcome; in any other case it returns at once.
//
// Call Init as the first statement of main (or of TestMain, before m.Run).
// Code that runs before it runs in the child too. Functions must be
// registered at package level (Register or NewTask in a var declaration or
// an init function) so that the child knows them when Init runs.
func Init() {
	if child.job == nil {
		return
	}
	j := child.job
	child.job = nil
	child.dispatched = true
	if j.Role == rolePrewarm {
		j = awaitPooledJob(j) // pool_linux.go
	}
	runFunc(j)
}

// guardChild stops a function child whose program uses this package before
// calling Init: the parent is told (ErrNoInit) and nothing recurses.
func guardChild() {
	if child.job == nil {
		return
	}
	_ = writeFrame(child.sock, message{Type: msgNoInit})
	fmt.Fprintf(os.Stderr, "namespace: this child process was started to run %q, but the program used the namespace package before calling namespace.Init(); call Init first in main or TestMain\n", child.job.Func)
	os.Exit(125)
}

func runFunc(j *job) {
	log := child.log
	f := lookupFunc(j.Func)
	if f == nil {
		childFail(child.sock, "find function", fmt.Errorf("%w: %q is not registered in the child; call Register or NewTask at package level (a var declaration or init), not inside main", ErrUnknownFunc, j.Func))
	}
	// From here on the function's output goes straight to the caller's
	// standard error.
	restoreStderr(child.stderrFD)
	child.stderrFD = -1
	if err := writeFrame(child.sock, message{Type: msgRunning}); err != nil {
		os.Exit(125)
	}
	<-child.prepared
	if !child.watching {
		go watchParent(child.sock)
	}
	ctx := child.ctx
	defer ctx.cancel()
	log.Debug("running function", "name", j.Func, "args", j.Args)

	res := callFunc(ctx, f, j)
	code := 0
	switch {
	case res.Panic:
		code = 2
	case !res.OK:
		code = 1
	}
	if err := writeFrame(child.sock, res); err != nil {
		fmt.Fprintf(os.Stderr, "namespace: cannot report the result of %q: %v\n", j.Func, err)
		if code == 0 {
			code = 125
		}
		if errors.Is(err, ErrProtocol) { // too large: say so instead
			_ = writeFrame(child.sock, message{Type: msgResult, Msg: "its result cannot be sent: " + err.Error()})
		}
	}
	log.Debug("function returned", "name", j.Func, "ok", res.OK)
	os.Exit(code)
}

func callFunc(ctx context.Context, f *Func, j *job) (res message) {
	res.Type = msgResult
	defer func() {
		if r := recover(); r != nil {
			res = message{Type: msgResult, Panic: true, Msg: fmt.Sprint(r), Stack: string(debug.Stack())}
		}
	}()
	if f.task != nil {
		out, err := f.task(ctx, j.Input)
		if err != nil {
			res.Msg = err.Error()
			return res
		}
		res.OK = true
		res.Output = out
		return res
	}
	if err := f.fn(ctx, j.Args); err != nil {
		res.Msg = err.Error()
		return res
	}
	res.OK = true
	return res
}

// execJob executes the command of a Command child. It does not return.
// parentDir is the parent's /proc directory, for the check of the time
// namespace.
//
// With timeFork, the raw process in front of the command performs rawTail,
// the time steps and those after them (see timens_linux.go).
func execJob(j *job, parentDir int, log *slog.Logger, timeFork bool, rawTail []step) {
	if hasStep(j.Plan.Steps, stepTimeNS) && !timeFork {
		// The set-up created the time namespace (on the main thread, whose
		// time namespace for children execve, or WithMinimalInit's fork, enters).
		if err := checkNamespacesDiffer(parentDir, syscalls.CLONE_NEWTIME, j.Plan.ParentNS); err != nil {
			childFail(nil, "check namespaces", err)
		}
	}
	if j.Plan.Init || j.Plan.KillDescendants || timeFork {
		runRawInit(j.Path, j.Argv, os.Environ(), &j.Plan, rawTail, nil, log)
	}
	log.Debug("executing", "path", j.Path, "argv", j.Argv)
	err := syscall.Exec(j.Path, j.Argv, os.Environ())
	fmt.Fprintf(os.Stderr, "namespace: exec %s: %v\n", j.Path, err)
	if errors.Is(err, syscall.ENOENT) {
		os.Exit(127)
	}
	os.Exit(126)
}

// forwardedSignals are the signals that a Go child in front of a raw one
// passes on to it: the join stage's relay (joinstage_linux.go) and the one
// waiting for WithMinimalInit's init, a subreaper or a time relay
// (supervise_linux.go). Setup's original process passes on setupSignals.
var forwardedSignals = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT,
	syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGALRM,
	syscall.SIGPIPE,
}

// exitStatus returns a shell-style status: the exit code, or 128+N for a
// process killed by signal N.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
