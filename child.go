package namespace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	sock       *os.File // the socket to the parent
	job        *job     // a function job waiting for Init
	dispatched bool     // Init ran the job
	setup      bool     // a Setup child: set-up done, Setup returns nil
	plan       plan
	log        *slog.Logger
}

// jobReadTimeout bounds the wait for the job after start-up: the parent sends
// it right after starting the child.
const jobReadTimeout = 30 * time.Second

func init() {
	token, ok := os.LookupEnv(envChild)
	if !ok {
		return
	}
	childStart(token)
}

// childFail reports a failure to the parent (if it listens) and to standard
// error, and exits with status 125.
func childFail(sock *os.File, stepName string, err error) {
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

func childStart(token string) {
	stage2 := os.Getenv(envStage) == "2"
	// The marker and token never reach user code or an executed program.
	os.Unsetenv(envChild)
	os.Unsetenv(envStage)

	var st unix.Stat_t
	if token == "" || unix.Fstat(childFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		fmt.Fprintf(os.Stderr, "namespace: this program was started with %s set but without its job socket; it runs nothing. Unset %s to run it normally.\n", envChild, envChild)
		os.Exit(125)
	}
	unix.CloseOnExec(childFD)
	_ = unix.SetNonblock(childFD, true)
	sock := os.NewFile(childFD, "namespace-job")

	var (
		j   *job
		err error
	)
	if stage2 {
		jf := os.NewFile(jobFD, "namespace-job-memfd")
		j, err = decodeJob(jf, token)
		jf.Close()
	} else {
		_ = sock.SetReadDeadline(time.Now().Add(jobReadTimeout))
		j, err = decodeJob(sock, token)
		_ = sock.SetReadDeadline(time.Time{})
	}
	if err != nil {
		childFail(sock, "read job", err)
	}
	if !stage2 {
		if err := writeFrame(sock, message{Type: msgAck, Pid: os.Getpid()}); err != nil && j.Role != roleExec {
			childFail(nil, "acknowledge job", err)
		}
	}
	child.sock = sock
	child.plan = j.Plan
	child.log = childLogger(j.Plan.Debug)
	log := child.log
	log.Debug("child started", "role", j.Role, "pid", os.Getpid(), "flags", fmt.Sprintf("%#x", j.Plan.Flags))

	// A time namespace is entered at execve. A function or Setup child
	// re-executes itself once to be inside; a command enters it when it is
	// executed, below.
	if j.Plan.Time && !stage2 && j.Role != roleExec {
		if err := enterTimeNamespace(&j.Plan, log); err != nil {
			childFail(sock, stepName(err), err)
		}
		reexecStage2(sock, token, j)
	}

	mounts := j.Plan
	if j.Role == roleExec && j.Plan.Init {
		// PID 1 of the new PID namespace mounts /proc; this process is
		// outside it.
		mounts.Proc = false
	}
	if err := applyMounts(&mounts, log); err != nil {
		childFail(sock, stepName(err), err)
	}
	if j.Role != roleExec {
		if err := writeFrame(sock, message{Type: msgReady}); err != nil {
			childFail(nil, "report set-up", err)
		}
	}

	switch j.Role {
	case roleExec:
		execJob(j, log)
	case roleSetup:
		child.setup = true
		startChildServices(j.Plan)
	case roleFunc:
		closeInheritedFds()
		child.job = j
	}
}

// closeInheritedFds closes the descriptors above the job socket that the
// child inherited without close-on-exec: descriptors the parent itself had
// inherited and passed on unknowingly. A function child gets standard input,
// output and error, and the job socket only. (Go opens its own files
// close-on-exec, so none of the runtime's is affected.)
func closeInheritedFds() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= childFD {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}

func stepName(err error) string {
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

// reexecStage2 executes the program again, now inside the time namespace,
// handing the job over in a memfd. It does not return.
func reexecStage2(sock *os.File, token string, j *job) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, j); err != nil {
		childFail(sock, "re-execute into time namespace", err)
	}
	fd, err := unix.MemfdCreate("namespace-job", 0)
	if err == nil {
		_, err = unix.Write(fd, buf.Bytes())
	}
	if err == nil {
		_, err = unix.Seek(fd, 0, io.SeekStart)
	}
	if err == nil && fd != jobFD {
		err = unix.Dup2(fd, jobFD)
		unix.Close(fd)
	}
	if err == nil {
		_, err = unix.FcntlInt(uintptr(childFD), unix.F_SETFD, 0)
	}
	if err != nil {
		childFail(sock, "re-execute into time namespace", err)
	}
	env := append(os.Environ(), envChild+"="+token, envStage+"=2")
	err = syscall.Exec("/proc/self/exe", os.Args, env)
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

// watchParent exits when the parent's end of the socket closes: the parent
// died (the parent keeps it open until the child has exited).
func watchParent(sock *os.File) {
	var b [512]byte
	for {
		if _, err := sock.Read(b[:]); err != nil {
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
	if err := writeFrame(child.sock, message{Type: msgRunning}); err != nil {
		os.Exit(125)
	}
	startChildServices(j.Plan)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
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
func execJob(j *job, log *slog.Logger) {
	if j.Plan.Init {
		runRawInit(j, log)
	}
	if j.Plan.Time {
		// The init function runs on the main thread, whose time namespace
		// for children execve enters.
		if err := enterTimeNamespace(&j.Plan, log); err != nil {
			childFail(nil, stepName(err), err)
		}
	}
	log.Debug("executing", "path", j.Path, "argv", j.Argv)
	err := syscall.Exec(j.Path, j.Argv, os.Environ())
	fmt.Fprintf(os.Stderr, "namespace: exec %s: %v\n", j.Path, err)
	if errors.Is(err, syscall.ENOENT) {
		os.Exit(127)
	}
	os.Exit(126)
}

// forwardedSignals are the signals that Setup's original process and
// WithInit's init pass on.
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
