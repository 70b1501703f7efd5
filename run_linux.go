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
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// selfExe is how a child re-executes the running program when its path
// cannot be used (see selfPath).
const selfExe = "/proc/self/exe"

// openSelfExe opens the running program's executable (close-on-exec), for
// a child that executes it again after joining a mount namespace it does
// not own, where /proc/self/exe would be looked up in a /proc that the
// namespace's owner may have replaced: execveat(fd, "", AT_EMPTY_PATH)
// (rawproc.SpawnArgs.ExecFD, execSelfFD) executes this file whatever that
// namespace holds.
func openSelfExe() (int, error) {
	fd, err := unix.Open(selfExe, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: selfExe, Err: err}
	}
	return fd, nil
}

// selfPath returns the path by which a child started with os/exec executes
// the running program: the program's own path when it still names the
// same file, else /proc/self/exe. The path is looked up by the child, after
// the clone, in its own mount namespace; /proc/self/exe would reach the file
// through a mount of the parent's mount namespace, which the kernel treats
// as nosuid, so a program installed setuid or with file capabilities would
// lose its privilege in any child with a mount namespace. (Should the path
// name another file by the time the child executes it, the child's check
// of its parent's executable refuses the job.)
var selfPath = sync.OnceValue(func() string {
	p, err := os.Readlink(selfExe)
	if err != nil || !filepath.IsAbs(p) {
		return selfExe
	}
	var a, b unix.Stat_t
	if unix.Stat(selfExe, &a) != nil || unix.Stat(p, &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		return selfExe
	}
	return p
})

// socketDrainTimeout bounds the wait for the end of the child's socket after
// the child has exited.
const socketDrainTimeout = 5 * time.Second

// Run runs the registered function f in a child process inside new
// namespaces, passes it args, and waits for it to finish. It returns nil
// only if the function returned nil. Otherwise the error is an *ExitError
// (the function's error text, a panic with its stack, an exit status, a
// killing signal), a *SetupError if the namespaces could not be created or
// set up, or wraps ErrInvalid, ErrNoInit or ErrUnknownFunc.
//
// The program must call Init first in main. The child's standard input,
// output and error are the parent's. Its working directory is the
// caller's, entered again by its path inside, or / if it is not there
// (see "Working directory" in the package documentation).
//
// If ctx is done, or the process receives SIGINT, SIGTERM, SIGHUP or
// SIGQUIT while Run waits, the child gets SIGTERM and, after the kill grace,
// SIGKILL; the error then wraps ctx's error or ErrInterrupted as well. If
// the parent dies, the child is killed.
func (n *Namespace) Run(ctx context.Context, f *Func, args ...string) error {
	if f == nil || lookupFunc(f.name) != f {
		return fmt.Errorf("namespace: Run: %w: make the function with Register", ErrUnknownFunc)
	}
	_, err := n.runJob(ctx, verbRun, &job{Role: roleFunc, Func: f.name, Args: args})
	return err
}

// jobRunner is what Task.Run needs of a Runner; every Runner is one.
type jobRunner interface {
	runJob(ctx context.Context, v verb, j *job) (json.RawMessage, error)
}

func (n *Namespace) runner() {}
func (p *Pool) runner()      {}

// Run runs the task in a child process inside the namespaces of r (a
// *Namespace, or a *Pool to use one of its ready children), with input in,
// and returns its output. An input that cannot be encoded as JSON is an
// error before any child starts. Errors are as for Namespace.Run and
// Pool.Run.
func (t *Task[In, Out]) Run(ctx context.Context, r Runner, in In) (Out, error) {
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
	if r == nil {
		return zero, fmt.Errorf("namespace: task %s: %w: a nil Runner", t.f.name, ErrInvalid)
	}
	out, err := r.(jobRunner).runJob(ctx, verbTask, &job{Role: roleFunc, Func: t.f.name, Input: raw})
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
		// the time steps in plan_linux.go), so that its offsets can be set first;
		// CLONE_SYSVSEM on clone would share the undo list, the opposite
		// of private.
		Cloneflags: n.Flags() &^ (syscalls.CLONE_NEWTIME | syscalls.CLONE_SYSVSEM),
		Pdeathsig:  syscall.SIGKILL,
	}
	if len(n.joins) > 0 || n.user && usesSubIDs(n.idMaps) {
		// The child is made in the caller's namespaces: its join stage
		// clones a raw child that joins, then creates (join_linux.go),
		// or whose maps newuidmap writes (subids.go).
		attr.Cloneflags = 0
	}
	if n.initProc {
		// WithMinimalInit: the child forks PID 1 of the new PID namespace itself
		// (see supervise_linux.go).
		attr.Cloneflags &^= syscalls.CLONE_NEWPID
	}
	if n.user && !usesSubIDs(n.idMaps) { // else newuidmap writes them (subids.go)
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

// childCmd returns the child that re-executes the program as a child
// of n with the job socket childEnd at descriptor 3 and the standard
// descriptors of the process.
func (n *Namespace) childCmd(token string, childEnd *os.File) *childProc {
	attr := n.sysProcAttr()
	if n.relayMakesPIDNS() {
		attr.Cloneflags &^= syscalls.CLONE_NEWPID // made by the relay: timens_linux.go
	}
	return newChildProc(&exec.Cmd{
		Path:        selfPath(),
		Args:        os.Args,
		Env:         childEnv(os.Environ(), markerValue(3, token)),
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{childEnd},
		SysProcAttr: attr,
	})
}

// childEnv returns the environment of a child: env without any marker,
// stage or passed /proc (a first stage refuses one), plus the marker with
// its value.
func childEnv(env []string, marker string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, envChild+"=") || strings.HasPrefix(kv, envStage+"=") || strings.HasPrefix(kv, envProc+"=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, envChild+"="+marker)
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
	if n.user && len(n.joins) == 0 {
		// A knob that refuses every new user namespace of this caller:
		// said before anything starts (Command's clone would otherwise
		// fail inside exec.Cmd.Start with a bare errno).
		if e := certainUserNSBlock(); e != 0 {
			return n.startError(e)
		}
	}
	if n.user || n.Flags()&^syscalls.CLONE_SYSVSEM == 0 || len(n.joins) > 0 {
		return nil // no namespace, a user namespace first, or joins (the join stage reports)
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
	hellos                        int // a re-executed child asks again
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
		case msgHello:
			rep.hellos++
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

// runJob checks the options for v and runs j on a cold child.
func (n *Namespace) runJob(ctx context.Context, v verb, j *job) (json.RawMessage, error) {
	guardChild()
	if err := n.check(v); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return n.runCold(ctx, j)
}

// runCold starts a child for j, hands it the job, and waits for its
// outcome.
func (n *Namespace) runCold(ctx context.Context, j *job) (json.RawMessage, error) {
	log := n.log()
	j.Token = newToken()
	j.Plan = n.childPlan()
	joinWorkDir(&j.Plan)

	parentEnd, childEnd, err := socketPair()
	if err != nil {
		return nil, err
	}
	defer parentEnd.Close()
	cg, err := n.openCgroup()
	if err != nil {
		childEnd.Close()
		return nil, err
	}
	cmd := n.childCmd(j.Token, childEnd)
	cg.into(cmd.SysProcAttr)
	var tee *stderrTee
	if j.Role == roleFunc {
		// Its standard error until it runs the function: stderrtee_linux.go.
		if tee = newStderrTee(os.Stderr); tee != nil {
			cmd.Stderr = tee.w
			cmd.ExtraFiles = append(cmd.ExtraFiles, os.Stderr)
			cmd.Env[len(cmd.Env)-1] += stderrMarker(3 + len(cmd.ExtraFiles) - 1)
		}
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
		cg.closeFD()
		started <- err
		if err != nil {
			runtime.UnlockOSThread()
			return
		}
		err = cmd.Wait()
		runtime.UnlockOSThread()
		// Everything the child wrote is in the socket buffer by now, and
		// the reader sees end of file after it. The socket is
		// close-on-exec in the child, so no descendant normally holds it;
		// if one does (a raw fork), it must not hold Run up for long.
		_ = parentEnd.SetReadDeadline(time.Now().Add(socketDrainTimeout))
		waited <- err
	}()
	if err := <-started; err != nil {
		if tee != nil {
			tee.abort()
		}
		sup.finish()
		_, cerr := cg.finish()
		return nil, withUsage(n.startErrorIn(cg, err), CgroupUsage{}, cerr)
	}
	if tee != nil {
		tee.start()
		defer tee.finish() // on every return: the child has exited then
	}
	sup.attach(cmd.Process)
	log.Debug("started child", "pid", cmd.Process.Pid, "flags", fmt.Sprintf("%#x", j.Plan.Flags), "role", j.Role, "func", j.Func)

	// The job goes only to a child that asks for it (a second stage asks
	// again), and only once the signals are caught. The reports are read
	// here, not by a goroutine of their own: one hand-off fewer per
	// message.
	sup.waitArmed()
	var sendErr error
	hellos := 0
	rep := readReport(parentEnd, func(m *message) {
		switch m.Type {
		case msgResult:
			sup.stopSignals() // while the child exits
		case msgHello:
			if sendErr != nil {
				return
			}
			hellos++
			if err := answerHelloBounded(parentEnd, j, m.Msg, hellos, jobWriteTimeout); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				sendErr = err
				_ = cmd.Process.Kill()
			}
		}
	})
	waitErr := <-waited
	if sendErr != nil {
		sup.finish()
		_, _ = cg.finish()
		if !errors.Is(sendErr, ErrProtocol) {
			sendErr = fmt.Errorf("%w: %w", ErrProtocol, sendErr)
		}
		return nil, fmt.Errorf("namespace: send job to child: %w", sendErr)
	}
	cause := sup.finish()
	log.Debug("child exited", "pid", cmd.Process.Pid, "state", cmd.ProcessState.String())

	out, err := n.outcome(j, cmd.ProcessState, waitErr, rep)
	if err != nil && !rep.running && rep.failure == nil {
		// It died before it ran the function: what it wrote says why.
		err = withStderr(err, tee.finish())
	}
	if cause != nil && err != nil {
		err = fmt.Errorf("namespace: %w: %w", cause, err)
	}
	if cg != nil {
		u, cerr := cg.finish()
		err = withUsage(err, u, cerr)
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
	if (j.Role == roleFunc || j.Role == rolePrewarm) && !rep.running {
		if err := startFailure(j, ps, rep); err != nil {
			return nil, err
		}
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
