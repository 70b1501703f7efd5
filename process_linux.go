package namespace

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
	"github.com/linuxns/namespace/internal/wire"
	"github.com/linuxns/namespace/syscalls"
)

// StartProcess starts the program at path in new namespaces with their
// set-up, like os.StartProcess: argv, attr.Dir, attr.Env (nil for the
// calling process's environment) and attr.Files (descriptor i of the program
// is attr.Files[i]; a nil entry leaves it closed) have the same meaning, and
// path is not looked up in $PATH (use exec.LookPath). Descriptors that the
// calling process has without close-on-exec are inherited, as with os/exec.
//
// The working directory is entered by its path after the set-up: attr.Dir
// (relative to the caller's working directory), which must exist inside
// (else a *SetupError of step "enter working directory"), or without it the
// caller's, or / if that is not there inside (see "Working directory" in
// the package documentation).
//
// Unlike Command, StartProcess re-executes nothing: one process is cloned
// straight into the namespaces, performs the set-up with raw system calls
// (the same steps, in the same order, with the same errors) and executes
// the program, which in a new PID namespace is PID 1. It returns once the
// program has been executed: a failed step, or a program that cannot be
// executed, is reported by StartProcess itself and leaves no process behind.
// The process is the caller's child; wait for it with Process.Wait. It gets
// SIGKILL if the OS thread that started it exits (see Command), and if the
// calling process dies.
//
// With WithMinimalInit, the cloned process does not execute the program: it stays
// as a minimal init, PID 1, that forks the program as PID 2 (StartProcess
// returns once the program has been executed, or with the error of
// executing it), sends on every signal it receives, reaps orphans, keeps no
// descriptor open, and exits with the program's status, 128+N if signal N
// killed it; its end ends the namespace. The returned process is the init.
// If attr.Sys asks for Foreground, the program takes the terminal's
// foreground in a process group of its own, so that the terminal's signals
// reach it alone (Ctty must then stay open for the program: one of
// attr.Files, or a descriptor that attr.Files leaves alone). Otherwise the program shares the init's process group,
// and the init does not send on the SIGINT, SIGQUIT, SIGTSTP and SIGWINCH
// that the terminal sent to that group, which the program got already.
//
// With the cgroup options (WithMemoryLimit…), the process is born in a
// cgroup of its own (clone3 with CLONE_INTO_CGROUP); as soon as it has
// exited, what it left there is killed and the cgroup removed, and
// ProcessCgroup(ctx, proc) (after Wait) says whether the memory limit
// killed it (ErrMemoryLimit).
//
// With WithKillDescendants (and no PID namespace), the cloned process
// forks a raw subreaper, which forks the program; the returned process is
// the cloned one, which sends on every signal it receives and exits with
// the program's status (128+N if signal N killed it). When the program
// ends, or the returned process dies (its parent-death signal, or SIGKILL
// from Process.Kill), the subreaper kills every descendant of the program
// that is left, and exits.
//
// attr.Sys may ask for Setsid, Setpgid (with Pgid), Foreground (with Ctty)
// and Setctty (with Ctty); any other field is refused with ErrUnsupported,
// as is Pdeathsig other than SIGKILL. Do not set Cloneflags or id maps: the
// Namespace's options decide them.
//
// Prepare does the same in two steps, so that the namespaces can be worked
// on from outside before the program runs.
//
// On amd64, 386 and arm64 the cloned process shares the caller's memory until it
// executes the program (CLONE_VM on a stack of its own; the calling thread
// sleeps meanwhile unless a user namespace's id maps or Prepare's hold need
// it), so its cost does not grow with the caller's memory; it is a copy of
// the caller (a fork) on the other architectures, and with
// WithMinimalInit or WithKillDescendants, whose cloned process outlives the
// execve. See "StartProcess" in docs/design.md. The program inherits the calling
// process's resource limits as they are; note that the Go runtime raises
// the soft RLIMIT_NOFILE to the hard limit at start-up (os/exec restores the
// original for its children, which StartProcess cannot see).
func (n *Namespace) StartProcess(path string, argv []string, attr *os.ProcAttr) (*os.Process, error) {
	p, err := n.prepare("StartProcess", path, argv, attr, holdNone)
	if err != nil {
		return nil, err
	}
	return p.Start()
}

// A Prepared is a process that Prepare cloned into new namespaces and set
// up, held just before it executes its program: its namespaces exist and
// can be worked on from outside by its Pid (a network interface moved into
// its network namespace, a cgroup, a /proc/PID/ns/* file opened), and the
// program starts only when Start is called. Call Start or Abort exactly
// once; until then the process is a child of the caller that does nothing.
type Prepared struct {
	// Pid is the process's id, as seen from the caller's PID namespace.
	Pid int

	n     *Namespace
	path  string
	pidfd int // the process's pidfd, from clone(CLONE_PIDFD); -1 once closed
	errR  int // the report pipe
	holdW int // the hold pipe: a byte starts the program, EOF ends it
	mu    sync.Mutex
	done  bool

	// args is what the child reads, and its stack: a child that shares
	// this process's memory (rawproc.SpawnArgs.SharesMemory) runs in them
	// until it has executed the program or exited. release drops them
	// once it has.
	args *rawproc.SpawnArgs

	steps []step // the set-up, as the child performs it

	cg *cgroupDir // the child's cgroup, or nil
}

// Prepare is StartProcess in two steps: it returns once the process is
// cloned into the namespaces and every set-up step has succeeded (or with
// the same errors as StartProcess), and the program is executed by Start.
// Between the two, signals sent to the process stay pending; SIGKILL, the
// death of the calling thread or process, and Abort end it.
func (n *Namespace) Prepare(path string, argv []string, attr *os.ProcAttr) (*Prepared, error) {
	return n.prepare("Prepare", path, argv, attr, holdForStart)
}

// prepare clones the child. With hold, it waits until the child has done
// the set-up and holds before execve; else the child goes straight on.
func (n *Namespace) prepare(name, path string, argv []string, attr *os.ProcAttr, hold holdKind) (*Prepared, error) {
	guardChild()
	if attr == nil {
		attr = &os.ProcAttr{}
	}
	v := verbPrepare
	if hold == holdNone {
		v = verbStartProcess
	}
	if err := n.check(v); err != nil {
		return nil, err
	}
	a, steps, keep, err := n.prepareSpawn(path, argv, attr)
	if err != nil {
		return nil, fmt.Errorf("namespace: %s: %w", name, err)
	}
	cg, err := n.openCgroup()
	if err != nil {
		return nil, err
	}
	if cg != nil {
		a.IntoCgroup, a.CgroupFD = true, cg.fd
	}
	defer runtime.KeepAlive(keep)
	defer runtime.KeepAlive(a)
	defer releaseKeep(keep) // the joins' descriptors, once the child is cloned

	// The pipes: report (child to parent), id-map gate and hold (parent to
	// child). closeAll closes the ends still open in the parent.
	var fds []int
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	newPipe := func() ([2]int, error) {
		p, err := pipe2()
		if err != nil {
			closeAll()
			_, _ = cg.finish()
			return p, classify("create a pipe", err, n)
		}
		fds = append(fds, p[0], p[1])
		return p, nil
	}
	errPipe, err := newPipe()
	if err != nil {
		return nil, err
	}
	a.ErrFD = uintptr(errPipe[1])
	var gate, holdPipe [2]int
	if n.user {
		if gate, err = newPipe(); err != nil {
			return nil, err
		}
		a.GateR, a.GateW = uintptr(gate[0]), uintptr(gate[1])
	}
	if hold != holdNone {
		if holdPipe, err = newPipe(); err != nil {
			return nil, err
		}
		a.HoldR, a.HoldW = uintptr(holdPipe[0]), uintptr(holdPipe[1])
		a.HoldReaps = hold == holdForever
	}
	self, err := selfPidfd()
	if err != nil {
		closeAll()
		_, _ = cg.finish()
		return nil, classify("open a pidfd of this process", err, n)
	}
	a.ParentFD = uintptr(self)
	// The os package checks once per process, with a process of its own,
	// that pidfds work (Start's FindProcess needs it): let it do so while
	// the child starts.
	pidfdCheck.Do(func() {
		go func() {
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Release()
			}
		}()
	})

	if rawproc.VMClone {
		// The child shares this process's memory until execve, on a
		// stack of its own (see rawproc.SharesMemory); or, forked for
		// WithMinimalInit or WithKillDescendants, it clones the program
		// onto its copy of the stack.
		if a.Stack, err = rawproc.NewStack(); err != nil {
			closeAll()
			return nil, classify("map the child's stack", os.NewSyscallError("mmap", err), n)
		}
	}
	pid, errno := spawn(a)
	cg.closeFD()
	// The parent keeps the report's read end, the gate's and the hold's
	// write ends.
	unix.Close(errPipe[1])
	if n.user {
		unix.Close(gate[0])
	}
	if hold != holdNone {
		unix.Close(holdPipe[0])
	}
	p := &Prepared{Pid: pid, n: n, path: path, steps: steps, pidfd: -1, errR: errPipe[0], holdW: -1, args: a, cg: cg}
	if hold != holdNone {
		p.holdW = holdPipe[1]
	}
	if errno != 0 {
		p.release()
		p.closePipes()
		if n.user {
			unix.Close(gate[1])
		}
		_, cerr := cg.finish()
		return nil, withUsage(n.startErrorIn(cg, os.NewSyscallError("clone", errno)), CgroupUsage{}, cerr)
	}
	p.pidfd = int(a.Pidfd)
	if n.debugEnabled() {
		n.log().Debug("cloned", "side", "parent", "pid", pid, "flags", fmt.Sprintf("%#x", a.CloneFlags))
	}
	if n.user {
		err := n.writeIDMaps(pid)
		if err == nil {
			if _, werr := unix.Write(gate[1], []byte{0}); werr != nil {
				err = classify("release the child", os.NewSyscallError("write", werr), n)
			}
		}
		unix.Close(gate[1])
		if err != nil {
			return nil, p.fail(err)
		}
	}
	if hold != holdNone {
		// The child reports that it is set up and holds, or a failed step.
		st, e, got, err := p.readReport()
		switch {
		case err != nil:
			return nil, p.fail(err)
		case got == 0:
			return nil, p.fail(fmt.Errorf("namespace: %s: %w: the child ended without a report", name, ErrProtocol))
		case st != rawproc.CodeHeld:
			return nil, p.fail(p.stepError(st, e))
		}
		if n.debugEnabled() {
			n.log().Debug("set up; held before execve", "side", "parent", "pid", pid, "namespaces", n.String())
		}
	}
	return p, nil
}

// Start executes the program of a prepared process and returns it, or the
// error of executing it (an *os.PathError); then no process is left.
func (p *Prepared) Start() (*os.Process, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil, fmt.Errorf("namespace: Prepared.Start: %w: Start or Abort was called already", ErrInvalid)
	}
	p.done = true
	if p.holdW >= 0 {
		_, err := unix.Write(p.holdW, []byte{0})
		unix.Close(p.holdW)
		p.holdW = -1
		if err != nil {
			return nil, p.fail(classify("release the child", os.NewSyscallError("write", err), p.n))
		}
	}
	st, e, got, err := p.readReport()
	switch {
	case err != nil:
		return nil, p.fail(err)
	case got != 0:
		return nil, p.fail(p.stepError(st, e))
	}
	// End of file: the program runs, in an address space of its own.
	p.release()
	unix.Close(p.errR)
	p.errR = -1
	// The os.Process opens a pidfd of its own while this one is still
	// open: the pid cannot have been reaped and reused in between (an
	// orphan reaper, as PID 1 is, leaves alone a zombie that a pidfd
	// refers to), and the child is never without a pidfd.
	proc, err := os.FindProcess(p.Pid)
	if err != nil {
		return nil, p.fail(err)
	}
	if p.cg != nil {
		// The cgroup goes when the process has exited (ProcessCgroup).
		go watchCgroup(proc).end(p.cg, p.pidfd, true)
	} else {
		unix.Close(p.pidfd)
	}
	p.pidfd = -1
	if p.n.debugEnabled() {
		p.n.log().Debug("set up and executed", "side", "parent", "pid", p.Pid, "namespaces", p.n.String(), "path", p.path)
	}
	return proc, nil
}

// Abort ends a prepared process (SIGKILL) and reaps it; its namespaces go
// with it.
func (p *Prepared) Abort() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return fmt.Errorf("namespace: Prepared.Abort: %w: Start or Abort was called already", ErrInvalid)
	}
	p.done = true
	_ = p.fail(nil)
	return nil
}

// readReport reads the child's next report: a step and its errno (got 8),
// or end of file (got 0).
func (p *Prepared) readReport() (st uint32, e syscall.Errno, got int, err error) {
	st, e, got, err = readRawReport(p.errR)
	if err != nil {
		return 0, 0, got, classify("read the child's report", err, p.n)
	}
	if got != 0 && got != rawproc.ReportSize {
		return 0, 0, got, fmt.Errorf("namespace: %w: short report from the child", ErrProtocol)
	}
	return st, e, got, nil
}

// stepError turns a failed step's report into the error Run's children
// give, or an *os.PathError for execve. st is the index of the failed step
// among steps, or a code of a raw-only step.
func (p *Prepared) stepError(st uint32, e syscall.Errno) error {
	if st == rawproc.CodeExec {
		return &os.PathError{Op: "exec", Path: p.path, Err: e}
	}
	if st < uint32(len(p.steps)) {
		s := &p.steps[st]
		info := stepInfoOf(s.Kind)
		if s.Kind == stepWorkDir {
			dir := s.Target
			if s.Flags&wire.StepDirExplicit == 0 {
				dir = "/" // the fallback for an inherited directory
			}
			return classify(info.name, &os.PathError{Op: info.call, Path: dir, Err: e}, p.n)
		}
		if isFSStep(s.Kind) {
			return classify(stepName(s), fsStepErr(s, e), p.n)
		}
		return classify(stepName(s), os.NewSyscallError(info.call, e), p.n)
	}
	info, ok := rawStepInfo(st)
	if !ok {
		return fmt.Errorf("namespace: %w: the child reported an unknown step %d (%v)", ErrProtocol, st, e)
	}
	return classify(info.name, os.NewSyscallError(info.call, e), p.n)
}

// fail kills and reaps the child through its pidfd, so that no other
// process can be hit, closes the pipes, and returns err.
func (p *Prepared) fail(err error) error {
	if p.pidfd >= 0 {
		killAndReap(p.pidfd)
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	// Reaped (or never cloned): nothing runs in the child's stack now.
	p.release()
	p.closePipes()
	if _, cerr := p.cg.finish(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// release frees the child's stack and lets its arguments go, once the
// child has executed its program (the report pipe's end of file: the
// kernel closes close-on-exec descriptors after execve has given it an
// address space of its own) or has been reaped. Before that, a child that
// shares this process's memory may still be running in them.
func (p *Prepared) release() {
	if p.args != nil {
		p.args.Stack.Free()
		p.args = nil
	}
}

func (p *Prepared) closePipes() {
	if p.errR >= 0 {
		unix.Close(p.errR)
		p.errR = -1
	}
	if p.holdW >= 0 {
		unix.Close(p.holdW)
		p.holdW = -1
	}
}

var (
	pidfdCheck sync.Once
	selfPidfd  = sync.OnceValues(func() (int, error) {
		fd, err := unix.PidfdOpen(os.Getpid(), 0)
		return fd, os.NewSyscallError("pidfd_open", err)
	})
)

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
	if p.Flags == 0 && len(p.Steps) == 0 {
		// Nothing to create or set up (nsrun without a namespace): no
		// thread is changed, so none is thrown away; execve from this one.
		return &os.PathError{Op: "exec", Path: path, Err: syscall.Exec(path, argv, envv)}
	}
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
		flags, steps, release, err := threadJoins(p)
		if err == nil {
			if uerr := syscalls.Unshare(flags); uerr != nil {
				err = n.startError(uerr)
			} else if merr := runSteps(steps, log); merr != nil {
				err = classify(failedStep(merr), stepCause(merr), n)
			} else {
				log.Debug("exec: namespaces ready", "path", path)
				err = &os.PathError{Op: "exec", Path: path, Err: syscall.Exec(path, argv, envv)}
			}
		}
		release()
		keepThread(tid, "Exec")
		failed <- failure{err, gone}
	})
	f := <-failed
	f.gone.wait()
	return f.err
}
