package namespace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/linuxns/namespace/internal/rawproc"
	"golang.org/x/sys/unix"
)

// terminatingSignals are the signals that, while Run waits, stop the child
// instead of the parent (Perl: term_child).
var terminatingSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// supervisor stops one child when its context is done or a terminating
// signal arrives: SIGTERM, then SIGKILL after the grace period. Signals go
// through the child's pidfd (os.Process does that since Go 1.23), so a
// reused pid is never signalled.
type supervisor struct {
	n      *Namespace
	log    *slog.Logger
	sigc   chan os.Signal
	procc  chan *os.Process
	done   chan struct{}
	exit   chan struct{}
	armed  <-chan struct{} // closed once the terminating signals are caught
	joined bool            // a user of the hub until stopSignals

	stopOnce sync.Once
	mu       sync.Mutex
	cause    error
}

// supervise starts watching ctx and, unless WithTermChild(false), the
// terminating signals. Call waitArmed before the child gets its job, attach
// once the child has started, stopSignals once it has reported its result
// (optional) and finish when it has exited.
//
// The signals are caught through the hub (sighub_linux.go), which holds one
// registration while any Run is live. When it has none, it makes one in
// the background, while the child starts; the job is not handed over
// before the signals are caught (waitArmed), so that none is lost while the
// function runs.
func (n *Namespace) supervise(ctx context.Context, log *slog.Logger) *supervisor {
	s := &supervisor{n: n, log: log, procc: make(chan *os.Process, 1), done: make(chan struct{}), exit: make(chan struct{})}
	if n.termChild {
		s.sigc = make(chan os.Signal, 1)
		s.joined = true
		s.armed = hub.join(s)
	}
	if s.armed == nil {
		armed := make(chan struct{})
		close(armed)
		s.armed = armed
	}
	go s.loop(ctx)
	return s
}

// waitArmed waits until the terminating signals are caught.
func (s *supervisor) waitArmed() { <-s.armed }

// stopSignals stops delivering the terminating signals to this Run. Run
// calls it as soon as the child has reported its result, so that it
// overlaps the child's exit; finish calls it in any case. A signal after it
// takes its usual course (the child, being done, is not asked to stop):
// the program's own handling, or the default action (see hub). It returns
// once the hub no longer catches the signals for this Run.
func (s *supervisor) stopSignals() {
	s.stopOnce.Do(func() {
		if s.joined {
			hub.leave(s)
		}
	})
}

func (s *supervisor) attach(p *os.Process) { s.procc <- p }

// finish stops the supervision, restores signal handling, and returns why
// the child was stopped, or nil.
func (s *supervisor) finish() error {
	close(s.done)
	<-s.exit
	s.stopSignals()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}

func (s *supervisor) setCause(err error) {
	s.mu.Lock()
	s.cause = err
	s.mu.Unlock()
}

func (s *supervisor) loop(ctx context.Context) {
	defer close(s.exit)
	var proc *os.Process
	var why error
	for why == nil {
		select {
		case <-s.done:
			return
		case p := <-s.procc:
			proc = p
			continue
		case <-ctx.Done():
			why = context.Cause(ctx)
		case sig := <-s.sigc:
			why = fmt.Errorf("%w %v", ErrInterrupted, sig)
		}
	}
	s.setCause(why)
	if proc == nil {
		select {
		case proc = <-s.procc:
		case <-s.done:
			return
		}
	}
	if !s.n.termChild {
		s.log.Debug("killing child", "pid", proc.Pid, "cause", why)
		_ = proc.Kill()
		return
	}
	s.log.Debug("terminating child", "pid", proc.Pid, "cause", why, "grace", s.n.killGrace)
	_ = proc.Signal(syscall.SIGTERM)
	t := time.NewTimer(s.n.killGrace)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		s.log.Debug("grace over; killing child", "pid", proc.Pid)
		_ = proc.Kill()
	}
}

// reapOrphans runs in a child that is PID 1: it reaps the zombies of
// processes that were re-parented to it, without stealing the exit status
// of children that the program itself waits for. Since Go 1.23, os/exec and
// os.StartProcess hold a pidfd for each child they start, and this package's
// StartProcess and Prepare do too; a zombie for which this process holds no
// pidfd is an orphan. The pidfd must exist from the clone on (CLONE_PIDFD):
// one opened after the clone, by pid, comes too late for a child that has
// exited already, whose zombie the reaper can take in between.
func reapOrphans(log *slog.Logger) {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGCHLD)
	reapOrphansOn(log, sigc)
}

// reapOrphansLater is reapOrphans for a function child: during its first
// reaperWarmup it looks for orphans by the clock (at once, then 1, 3 and 7
// ms later), and only then (15 ms) starts catching SIGCHLD, which takes
// os/signal threads of its own (0.2–0.3 ms of a short child's CPU,
// docs/benchmarks.md): a function that returns sooner never pays for them,
// and an orphan waits at most 8 ms for its reaping until then. If the
// function has set SIGCHLD to be ignored by then (signal.Ignore), the
// kernel reaps every child as it exits, and the reaper does not catch
// SIGCHLD again behind its back: it looks by the clock only (reaperTick),
// as it did when an earlier signal.Ignore took its catching away.
func reapOrphansLater(log *slog.Logger) {
	for d := time.Millisecond; d < reaperWarmup; d *= 2 {
		for reapOne(log) {
		}
		time.Sleep(d)
	}
	if signal.Ignored(syscall.SIGCHLD) {
		reapOrphansOn(log, nil)
		return
	}
	reapOrphans(log)
}

// reaperWarmup is how long reapOrphansLater looks for orphans by the clock,
// and reaperTick how often a reaper looks without a SIGCHLD (variables for
// the tests).
var (
	reaperWarmup = 16 * time.Millisecond
	reaperTick   = time.Second
)

// reapOrphansOn is reapOrphans with SIGCHLD already caught on sigc (or,
// with sigc nil, not caught).
func reapOrphansOn(log *slog.Logger, sigc <-chan os.Signal) {
	tick := time.NewTicker(reaperTick)
	defer tick.Stop()
	for {
		for reapOne(log) {
		}
		select {
		case <-sigc:
		case <-tick.C:
		}
	}
}

// siginfo is the part of siginfo_t that waitid fills in for a child: three
// ints, then the union, which is aligned as a pointer (at offset 16 on
// 64-bit systems, 12 on 32-bit ones), and in it the child's pid, uid and
// status.
type siginfo struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      [siginfoPad]byte
	Pid    int32
	Uid    uint32
	Status int32
	_      [siginfoSize - 24 - siginfoPad]byte
}

// siginfoPad is the padding before siginfo_t's union.
const siginfoPad = unsafe.Sizeof(uintptr(0)) - 4

// siginfoSize is the size of siginfo_t.
const siginfoSize = 128

// reapOne reaps one orphaned zombie and reports whether it did.
func reapOne(log *slog.Logger) bool {
	var info siginfo
	_, _, e := unix.Syscall6(unix.SYS_WAITID, unix.P_ALL, 0, uintptr(unsafe.Pointer(&info)),
		unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, 0, 0)
	if e != 0 || info.Pid == 0 {
		return false
	}
	pid := int(info.Pid)
	held, err := holdsPidfd(pid)
	if err != nil || held {
		return false // someone waits for it; or we cannot tell: reap nothing
	}
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	if err != nil || got != pid {
		return false
	}
	log.Debug("reaped orphan", "pid", pid, "status", ws)
	return true
}

// holdsPidfd reports whether this process holds a pidfd for pid (a pid in
// this process's PID namespace). A scan of /proc/self/fdinfo is not atomic:
// StartProcess hands a child over from the pidfd of its clone to the one
// os.Process opens, and a scan that lists the descriptors before the new
// one exists and reads the old one after it was closed sees neither. So
// the answer "not held" needs two scans in a row: a hand-over happens once
// per child, and the second scan, listed after the first ended, sees the
// new descriptor.
func holdsPidfd(pid int) (bool, error) {
	for range 2 {
		held, err := scanPidfds(pid)
		if err != nil || held {
			return held, err
		}
	}
	return false, nil
}

// scanPidfds is one scan of /proc/self/fdinfo for a pidfd of pid.
func scanPidfds(pid int) (bool, error) {
	dir, err := os.Open("/proc/self/fdinfo")
	if err != nil {
		return false, err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return false, err
	}
	for _, name := range names {
		p, ok := pidfdPid("/proc/self/fdinfo/" + name)
		if ok && p == pid {
			return true, nil
		}
	}
	return false, nil
}

// pidfdPid returns the pid that the pidfd described by an fdinfo file
// refers to, in the innermost PID namespace (the last NSpid field), or false
// if the file is not a pidfd.
func pidfdPid(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	pid, found := 0, false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Pid:"):
			if v, err := strconv.Atoi(strings.TrimSpace(line[4:])); err == nil {
				pid, found = v, true
			}
		case strings.HasPrefix(line, "NSpid:"):
			fields := strings.Fields(line[6:])
			if len(fields) > 0 {
				if v, err := strconv.Atoi(fields[len(fields)-1]); err == nil {
					pid, found = v, true
				}
			}
		}
	}
	return pid, found
}

// The minimal init of WithMinimalInit and the subreaper of
// WithKillDescendants run without the Go runtime: their code is in
// internal/rawproc (ForkInit, InitLoop). What follows prepares them and
// waits for them.

// childrenFile lists the children of the calling thread (see
// rawproc.ChildrenFile).
const childrenFile = rawproc.ChildrenFile

// runRawInit executes the program at path with argv and env under a raw
// process: with p.Init a minimal PID 1 in a new PID namespace, with
// p.KillDescendants a subreaper, else a relay that only passes signals on (a
// time namespace before Linux 6.3, see timens_linux.go); and exits with its
// status. The raw process performs raw (the time namespace's steps and,
// for a command, those after them: timens_linux.go) before it forks the
// program. It runs during package initialisation, on the main thread. Its
// failures are reported on sock if it is not nil (a function or Setup child,
// whose parent reads it).
func runRawInit(path string, argv, env []string, p *plan, raw []step, sock *os.File, log *slog.Logger) {
	runtime.LockOSThread()
	what := "init"
	if !p.Init && !p.KillDescendants {
		what = "relay" // the time namespace before Linux 6.3 (timens_linux.go)
	} else if !p.Init {
		what = "subreaper"
		// Fail now, and tell the parent, rather than in the subreaper.
		if err := checkChildrenFile(); err != nil {
			childFail(sock, rawStepTable[rawproc.CodeChildrenFile-rawCode0].name, err)
		}
	}
	a, err := prepareRawInit(path, argv, env, p, raw, what)
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
	// As PID 1 of a PID namespace (a command behind the relay of a time
	// namespace before Linux 6.3), this process inherits the namespace's
	// orphans: it reaps them too.
	wpid := pid
	if os.Getpid() == 1 {
		wpid = -1
	}
	var ws unix.WaitStatus
	for {
		got, err := unix.Wait4(wpid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) || err == nil && got != pid {
			continue
		}
		if err != nil {
			childFail(nil, "wait for "+what, err)
		}
		break
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
func prepareRawInit(file string, args, env []string, p *plan, raw []step, what string) (*rawproc.InitArgs, error) {
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
	if !p.Init && !p.KillDescendants {
		a.Relay = true
		a.FailFork = []byte(fmt.Sprintf("namespace: relay: cannot fork %s\n", file))
	} else if !p.Init {
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
	steps := slices.Clone(raw)
	if p.Init && (hasStep(p.Steps, stepProc) || slices.ContainsFunc(p.Steps, func(s step) bool { return isPrivStep(&s) })) {
		// PID 1 mounts /proc of its PID namespace (the Go child, outside
		// it, left that step out) and enters the working directory again
		// after it: the one the Go child entered after its own steps. The
		// privilege and limit steps come after the mounts, so PID 1
		// performs them too, before it forks the command.
		initSteps := selectSteps(p.Steps, func(s *step) bool { return isInitStep(s) || s.Kind == stepWorkDir || isPrivStep(s) })
		wd, err := unix.Getwd()
		if err != nil {
			wd = "/"
		}
		for i := range initSteps {
			if initSteps[i].Kind == stepWorkDir && len(raw) == 0 {
				initSteps[i].Target = wd
			}
		}
		steps = append(steps, initSteps...)
	}
	if len(steps) > 0 {
		if a.Steps, a.WD, err = rawSteps(steps); err != nil {
			return nil, err
		}
		for i := range steps {
			a.Fail = append(a.Fail, []byte(fmt.Sprintf("namespace: %s: %s: %s %s failed\n", what, stepName(&steps[i]), stepInfoOf(steps[i].Kind).call, steps[i].Target)))
		}
		if len(a.Fail) != len(a.Steps) {
			return nil, fmt.Errorf("namespace: %d raw steps for %d steps: a message for each is needed (a bug in this package)", len(a.Steps), len(a.Fail))
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
