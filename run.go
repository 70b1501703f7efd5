//go:build linux

package namespace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// selfExe is how a child re-executes the running program.
const selfExe = "/proc/self/exe"

// socketDrainTimeout bounds the wait for the end of the child's socket after
// the child has exited.
const socketDrainTimeout = 5 * time.Second

// A Func is a function registered to run in a child process by Run. Make
// one with Register.
type Func struct {
	name string
	fn   func(ctx context.Context, args []string) error
	task func(ctx context.Context, in json.RawMessage) (json.RawMessage, error)
}

// Name returns the name the Func was registered with.
func (f *Func) Name() string { return f.name }

var registry struct {
	sync.RWMutex
	funcs map[string]*Func
}

// Register records fn under name so that a child process can run it, and
// returns the handle to pass to Run. Call it at package level, in a var
// declaration or an init function, so that the re-executed program
// registers the same functions before Init runs:
//
//	var listTmp = namespace.Register("list-tmp", func(ctx context.Context, args []string) error { … })
//
// In the child, fn receives a context that is cancelled when the child is
// asked to stop (SIGTERM, SIGINT, SIGHUP) and the args given to Run. The
// child starts catching those signals when fn first consults the context
// (Done or Err, as deriving a context does); a function that never does is
// stopped by their default effect. Its error text, or its panic, reaches
// the caller of Run as an *ExitError.
//
// Register panics if name is empty or already registered, or fn is nil, as
// these are programming errors found at start-up.
func Register(name string, fn func(ctx context.Context, args []string) error) *Func {
	if fn == nil {
		panic("namespace: Register " + name + " with a nil function")
	}
	return register(&Func{name: name, fn: fn})
}

func register(f *Func) *Func {
	if f.name == "" {
		panic("namespace: Register with an empty name")
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.funcs == nil {
		registry.funcs = make(map[string]*Func)
	}
	if _, dup := registry.funcs[f.name]; dup {
		panic("namespace: Register called twice for " + f.name)
	}
	registry.funcs[f.name] = f
	return f
}

func lookupFunc(name string) *Func {
	registry.RLock()
	defer registry.RUnlock()
	return registry.funcs[name]
}

// Run runs the registered function f in a child process inside new
// namespaces, passes it args, and waits for it to finish. It returns nil
// only if the function returned nil. Otherwise the error is an *ExitError
// (the function's error text, a panic with its stack, an exit status, a
// killing signal), a *SetupError if the namespaces could not be created or
// set up, or wraps ErrInvalid, ErrNoInit or ErrUnknownFunc.
//
// The program must call Init first in main. The child's standard input,
// output and error are the parent's.
//
// If ctx is done, or the process receives SIGINT, SIGTERM, SIGHUP or
// SIGQUIT while Run waits, the child gets SIGTERM and, after the kill grace,
// SIGKILL; the error then wraps ctx's error or ErrInterrupted as well. If
// the parent dies, the child is killed.
func (n *Namespace) Run(ctx context.Context, f *Func, args ...string) error {
	if f == nil || lookupFunc(f.name) != f {
		return fmt.Errorf("namespace: Run: %w: make the function with Register", ErrUnknownFunc)
	}
	_, err := n.run(ctx, &job{Role: roleFunc, Func: f.name, Args: args})
	return err
}

// A Task is a registered function that takes a value of type In and returns
// a value of type Out, run in a child process by Task.Run. In and Out travel
// as JSON.
type Task[In, Out any] struct {
	f *Func
}

// NewTask registers fn under name, like Register, and returns the Task that
// runs it. Call it at package level. It panics on an empty or duplicate name
// or a nil fn.
func NewTask[In, Out any](name string, fn func(context.Context, In) (Out, error)) *Task[In, Out] {
	if fn == nil {
		panic("namespace: NewTask " + name + " with a nil function")
	}
	f := &Func{name: name, task: func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var in In
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, fmt.Errorf("decode task input as %T: %w", in, err)
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("encode task output %T: %w", out, err)
		}
		return b, nil
	}}
	return &Task[In, Out]{f: register(f)}
}

// Func returns the registered function behind the task.
func (t *Task[In, Out]) Func() *Func { return t.f }

// Run runs the task in a child process inside the namespaces of n, with
// input in, and returns its output. An input that cannot be encoded as JSON
// is an error before any child starts. Errors are as for Namespace.Run.
func (t *Task[In, Out]) Run(ctx context.Context, n *Namespace, in In) (Out, error) {
	var zero Out
	if t == nil || t.f == nil || lookupFunc(t.f.name) != t.f {
		return zero, fmt.Errorf("namespace: Task.Run: %w: make the task with NewTask", ErrUnknownFunc)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return zero, fmt.Errorf("namespace: task %s: encode input: %w", t.f.name, err)
	}
	if len(raw) > maxFrame {
		return zero, fmt.Errorf("namespace: task %s: %w: the input is %d bytes as JSON, which exceeds the limit of %d bytes for a job; nothing was started", t.f.name, ErrProtocol, len(raw), maxFrame)
	}
	out, err := n.run(ctx, &job{Role: roleFunc, Func: t.f.name, Input: raw})
	if err != nil {
		return zero, err
	}
	if len(out) == 0 {
		return zero, fmt.Errorf("namespace: task %s: %w: the child exited without a result", t.f.name, ErrProtocol)
	}
	var o Out
	if err := json.Unmarshal(out, &o); err != nil {
		return zero, fmt.Errorf("namespace: task %s: decode output as %T: %w", t.f.name, o, err)
	}
	return o, nil
}

func (n *Namespace) debugEnabled() bool {
	return n.logger != nil && n.logger.Enabled(context.Background(), slog.LevelDebug)
}

func (n *Namespace) log() *slog.Logger {
	if n.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.logger
}

// sysProcAttr returns the clone flags and id maps of a child.
func (n *Namespace) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{
		// A time namespace is entered by the child itself (see
		// enterTimeNamespace), so that its offsets can be set first;
		// CLONE_SYSVSEM on clone would share the undo list, the opposite
		// of private.
		Cloneflags: n.Flags() &^ (syscalls.CLONE_NEWTIME | syscalls.CLONE_SYSVSEM),
		Pdeathsig:  syscall.SIGKILL,
	}
	if n.initProc {
		// WithInit: the child forks PID 1 of the new PID namespace itself
		// (see pid1.go).
		attr.Cloneflags &^= syscalls.CLONE_NEWPID
	}
	if n.user {
		uids, gids := resolveIDMaps(n.idMaps, os.Geteuid(), os.Getegid())
		for _, m := range uids {
			attr.UidMappings = append(attr.UidMappings, syscall.SysProcIDMap{ContainerID: m.Inside, HostID: m.Outside, Size: m.Size})
		}
		for _, m := range gids {
			attr.GidMappings = append(attr.GidMappings, syscall.SysProcIDMap{ContainerID: m.Inside, HostID: m.Outside, Size: m.Size})
		}
		attr.GidMappingsEnableSetgroups = os.Geteuid() == 0 && setgroupsAllowed()
	}
	return attr
}

// setgroupsAllowed reports whether the caller's user namespace allows
// setgroups(2). A user namespace made by an unprivileged user denies it, and
// so must every namespace nested in it: the kernel refuses "allow" there
// (EPERM), which would make a nested WithPrivateUser fail.
func setgroupsAllowed() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err != nil || strings.TrimSpace(string(b)) != "deny"
}

// childEnv returns the environment of a child: env without any marker, plus
// the marker with token.
func childEnv(env []string, token string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, envChild+"=") || strings.HasPrefix(kv, envStage+"=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, envChild+"="+token)
}

// socketPair returns the parent's end (pollable, close-on-exec) and the
// child's end of a new Unix stream socket pair.
func socketPair() (parent, childEnd *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, classify("create the job socket", os.NewSyscallError("socketpair", err), nil)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, os.NewSyscallError("setnonblock", err)
	}
	return os.NewFile(uintptr(fds[0]), "namespace-parent"), os.NewFile(uintptr(fds[1]), "namespace-child"), nil
}

// startError turns an error of starting the child into a *SetupError that
// names the namespaces and what to do.
// checkPrivilege returns the error that creating the namespaces would give
// for want of CAP_SYS_ADMIN, before anything is started: Command's Start
// would otherwise report os/exec's bare "operation not permitted". Without
// a new user namespace, every kind of namespace needs CAP_SYS_ADMIN in the
// caller's user namespace, in its effective set.
func (n *Namespace) checkPrivilege() error {
	if n.user || n.Flags()&^syscalls.CLONE_SYSVSEM == 0 {
		return nil // no namespace, or a user namespace first
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil // cannot tell: let clone(2) decide
	}
	if data[unix.CAP_SYS_ADMIN/32].Effective&(1<<(unix.CAP_SYS_ADMIN%32)) != 0 {
		return nil
	}
	return n.startError(fmt.Errorf("%w: the process lacks CAP_SYS_ADMIN", syscall.EPERM))
}

func (n *Namespace) startError(err error) error {
	kinds := make([]string, 0, 8)
	for _, t := range n.Types() {
		kinds = append(kinds, t.String())
	}
	return classify("create namespaces "+strings.Join(kinds, ","), err, n)
}

// report is what the parent learned from the child.
type report struct {
	acked, ready, running, noInit bool
	pid                           int
	result                        *message
	failure                       *message
	readErr                       error
}

// readReport reads the child's messages until end of file. If notify is
// not nil, it is called with each message as it arrives.
func readReport(r io.Reader, notify func(*message)) report {
	var rep report
	for {
		var m message
		if err := readFrame(r, &m); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
				rep.readErr = err
				// A malformed frame (the child's code wrote to the socket,
				// say) ends the report, but the socket is drained to its
				// end: a child blocked writing to it would never exit.
				_, _ = io.Copy(io.Discard, r)
			}
			return rep
		}
		if notify != nil {
			notify(&m)
		}
		switch m.Type {
		case msgAck:
			rep.acked = true
			rep.pid = m.Pid
		case msgReady:
			rep.ready = true
		case msgRunning:
			rep.running = true
		case msgNoInit:
			rep.noInit = true
		case msgResult:
			mm := m
			rep.result = &mm
		case msgError:
			mm := m
			rep.failure = &mm
		}
	}
}

// failureError turns a child's error message into a *SetupError.
func (n *Namespace) failureError(m *message) error {
	var cause error = errors.New(m.Msg)
	if m.Errno != 0 {
		cause = &childErrno{errno: syscall.Errno(m.Errno), msg: m.Msg}
	}
	if m.Step == "find function" {
		return fmt.Errorf("namespace: %w: %s", ErrUnknownFunc, m.Msg)
	}
	return classify("in the child: "+m.Step, cause, n)
}

// childErrno is an errno reported by the child, with its message.
type childErrno struct {
	errno syscall.Errno
	msg   string
}

func (e *childErrno) Error() string { return e.msg }
func (e *childErrno) Unwrap() error { return e.errno }

// run starts a child for j, hands it the job, and waits for its outcome.
func (n *Namespace) run(ctx context.Context, j *job) (json.RawMessage, error) {
	guardChild()
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n.pool != nil {
		if out, ok, err := n.pool.run(ctx, n, j); ok {
			return out, err
		}
	}
	log := n.log()
	j.Token = newToken()
	j.Plan = n.plan()

	parentEnd, childEnd, err := socketPair()
	if err != nil {
		return nil, err
	}
	defer parentEnd.Close()
	cmd := &exec.Cmd{
		Path:        selfExe,
		Args:        os.Args,
		Env:         childEnv(os.Environ(), j.Token),
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{childEnd},
		SysProcAttr: n.sysProcAttr(),
	}
	sup := n.supervise(ctx, log)

	// The child is started from a goroutine locked to its OS thread until
	// the child has exited: Pdeathsig fires when the thread that started the
	// child exits, not the process (golang/go#27505).
	started := make(chan error, 1)
	waited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		childEnd.Close()
		started <- err
		if err != nil {
			runtime.UnlockOSThread()
			return
		}
		err = cmd.Wait()
		runtime.UnlockOSThread()
		waited <- err
	}()
	if err := <-started; err != nil {
		sup.finish()
		return nil, n.startError(err)
	}
	sup.attach(cmd.Process)
	log.Debug("started child", "pid", cmd.Process.Pid, "flags", fmt.Sprintf("%#x", j.Plan.Flags), "role", j.Role, "func", j.Func)

	reports := make(chan report, 1)
	go func() {
		reports <- readReport(parentEnd, func(m *message) {
			if m.Type == msgResult {
				sup.stopSignals() // while the child exits
			}
		})
	}()
	sup.waitArmed()
	if err := writeFrame(parentEnd, j); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		_ = cmd.Process.Kill()
		<-waited
		sup.finish()
		<-reports
		if !errors.Is(err, ErrProtocol) {
			err = fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return nil, fmt.Errorf("namespace: send job to child: %w", err)
	}
	waitErr := <-waited
	// Everything the child wrote is in the socket buffer by now, and the
	// reader sees end of file after it. The socket is close-on-exec in the
	// child, so no descendant normally holds it; if one does (a raw fork),
	// it must not hold Run up for long.
	_ = parentEnd.SetReadDeadline(time.Now().Add(socketDrainTimeout))
	rep := <-reports
	cause := sup.finish()
	log.Debug("child exited", "pid", cmd.Process.Pid, "state", cmd.ProcessState.String())

	out, err := n.outcome(j, cmd.ProcessState, waitErr, rep)
	if cause != nil && err != nil {
		err = fmt.Errorf("namespace: %w: %w", cause, err)
	}
	return out, err
}

// outcome interprets how the child ended.
func (n *Namespace) outcome(j *job, ps *os.ProcessState, waitErr error, rep report) (json.RawMessage, error) {
	if ps == nil {
		return nil, fmt.Errorf("namespace: wait for child: %w", waitErr)
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	if rep.failure != nil {
		return nil, n.failureError(rep.failure)
	}
	if rep.noInit {
		return nil, fmt.Errorf("namespace: child for %q: %w", j.Func, ErrNoInit)
	}
	if r := rep.result; r != nil {
		if r.OK && ps.Success() {
			return r.Output, nil
		}
		e := &ExitError{Code: ps.ExitCode(), Msg: r.Msg}
		if r.Panic {
			e.Msg = "panic: " + r.Msg
			e.Stack = r.Stack
		}
		if ws.Signaled() {
			e.Signal = ws.Signal()
		}
		if r.OK && e.Msg == "" {
			e.Msg = "the function returned nil, but the child did not exit cleanly"
		}
		return nil, e
	}
	if ws.Signaled() {
		return nil, &ExitError{Code: -1, Signal: ws.Signal()}
	}
	if !rep.acked {
		return nil, &ExitError{Code: ps.ExitCode(), Msg: "the child exited before it took its job"}
	}
	if j.Role == roleFunc && !rep.running {
		return nil, fmt.Errorf("namespace: child for %q exited with status %d without running it: %w", j.Func, ps.ExitCode(), ErrNoInit)
	}
	if !ps.Success() {
		return nil, &ExitError{Code: ps.ExitCode()}
	}
	if rep.readErr != nil && j.Role == roleFunc {
		return nil, fmt.Errorf("namespace: child for %q exited with status 0, but its report was unreadable: %w", j.Func, rep.readErr)
	}
	return nil, nil
}

// Command returns an *exec.Cmd that runs the named program with args inside
// new namespaces. Like exec.CommandContext, it looks name up in PATH if it
// has no slash, and ctx kills the command if done before it finishes: with
// SIGTERM and, after the kill grace, SIGKILL (Cmd.Cancel and Cmd.WaitDelay),
// or with SIGKILL at once if WithTermChild(false).
//
// Start creates the namespaces; in the child the same set-up as for Run is
// performed and then the program is executed with its own argv. Stdin,
// Stdout, Stderr, Dir and ExtraFiles behave as usual. Env is set to the
// current environment plus a private marker: to change the environment,
// append to Env (or use Cmd.Environ) rather than replacing it. The program
// that calls Command need not call Init.
//
// Cmd.Path is the running program (/proc/self/exe), which executes the
// command; Cmd.Args is name and args. Errors of the set-up are printed on
// the child's standard error, and the command exits with status 125 (set-up
// failed), 126 (not executable) or 127 (not found). A validation error is
// returned by Start (Cmd.Err), and so is a *SetupError wrapping
// ErrPermission if the process lacks CAP_SYS_ADMIN for namespaces other
// than a user namespace (without WithPrivateUser); other failures of Start
// are os/exec's own.
//
// The child is killed if the parent dies: it gets SIGKILL as its
// parent-death signal (SysProcAttr.Pdeathsig), which the kernel sends when
// the OS thread that called Start exits. A Go thread exits only when a
// goroutine locked to it (runtime.LockOSThread) returns without unlocking;
// Do never discards a thread that has children, but other such code can end
// the command: call Start from a goroutine that stays locked until Wait
// returns if the program has any.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	guardChild()
	cmd := exec.CommandContext(ctx, name, args...)
	if cmd.Err != nil {
		return cmd
	}
	if err := n.Validate(); err != nil {
		cmd.Err = err
		return cmd
	}
	if err := n.checkPrivilege(); err != nil {
		cmd.Err = err
		return cmd
	}
	j := &job{Token: newToken(), Role: roleExec, Plan: n.plan(), Path: cmd.Path, Argv: cmd.Args}
	parentEnd, childEnd, err := socketPair()
	if err == nil {
		err = writeFrame(parentEnd, j)
		if err != nil {
			parentEnd.Close()
			childEnd.Close()
		}
	}
	if err != nil {
		cmd.Err = fmt.Errorf("namespace: prepare job: %w", err)
		return cmd
	}
	cmd.Path = selfExe
	cmd.Env = childEnv(os.Environ(), j.Token)
	cmd.ExtraFiles = []*os.File{childEnd}
	cmd.SysProcAttr = n.sysProcAttr()
	if n.termChild {
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = n.killGrace
	}
	releaseAfterAck(ctx, cmd, parentEnd, childEnd)
	return cmd
}

// releaseAfterAck releases the parent's copies of the socket once the child
// has read its job (it acknowledges), or when ctx is done. The parent's end
// is closed then. The child's end belongs to cmd.ExtraFiles, which Start
// reads, so it is not closed under Start's feet: /dev/null is put in its
// place (the socket is released at once) and the descriptor itself is closed
// when cmd is garbage collected.
func releaseAfterAck(ctx context.Context, cmd *exec.Cmd, parentEnd, childEnd *os.File) {
	rc, err := childEnd.SyscallConn()
	if err != nil {
		return
	}
	var fd int
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	var once sync.Once
	release := func() {
		once.Do(func() {
			parentEnd.Close()
			if null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
				_ = unix.Dup3(null, fd, unix.O_CLOEXEC)
				unix.Close(null)
			}
		})
	}
	stop := context.AfterFunc(ctx, release)
	runtime.AddCleanup(cmd, func(f *os.File) { f.Close() }, childEnd)
	go func() {
		defer stop()
		var m message
		_ = readFrame(parentEnd, &m) // the ack, or an error when closed
		release()
	}()
}
