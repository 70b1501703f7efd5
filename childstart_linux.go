package namespace

// How a child that executes this program again (Run, Task.Run, a Pool's
// children, Setup) is started.
//
// os/exec clones such a child with CLONE_VFORK|CLONE_VM, sharing the
// caller's memory (and stack) until execve, except with a new user
// namespace: then it forks, because its parent writes the child's id maps
// while the child waits, which a parent suspended by CLONE_VFORK cannot.
// A fork copies the caller's page tables and makes every page the caller
// writes before the child's execve a copy-on-write fault, so its cost grows
// with the caller's memory (measured in docs/benchmarks.md). Where the raw
// clone shares memory (rawproc.VMClone), a child with a new user namespace
// is started by it instead, as StartProcess starts its program: on a stack
// of its own, sharing the caller's memory, waiting at the id-map gate while
// the parent writes its maps, with no set-up step (the Go child makes its
// set-up as ever). Every other child is started by os/exec, which does the
// same thing at the same cost.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
)

// childProc is a child that executes this program again, described by an
// *exec.Cmd. Started by the raw clone (rawStartable), Path, Args, Env,
// Stdin, Stdout and Stderr (each an *os.File), ExtraFiles and
// SysProcAttr's clone flags, id maps, cgroup and Pdeathsig (SIGKILL) are
// honoured; a Cmd asking for more is started by os/exec.
type childProc struct {
	*exec.Cmd
	raw bool // started by startRaw: Wait is childProc's
}

// newChildProc wraps cmd.
func newChildProc(cmd *exec.Cmd) *childProc { return &childProc{Cmd: cmd} }

// rawStartable reports whether c is started by the raw clone: a new user
// namespace, where os/exec would fork; a raw clone that shares the
// caller's memory; nothing asked of the child that startRaw does not do
// (then os/exec does it all), and its death with the parent's (the
// SIGKILL that sysProcAttr asks for); and the RLIMIT_NOFILE that os/exec
// would give the child known.
func (c *childProc) rawStartable() bool {
	attr := c.SysProcAttr
	if !rawproc.VMClone || forceExecStart.Load() || attr == nil || attr.Cloneflags&unix.CLONE_NEWUSER == 0 ||
		c.Dir != "" || c.Env == nil || len(c.Args) == 0 {
		return false
	}
	for _, f := range []any{c.Stdin, c.Stdout, c.Stderr} {
		if f, ok := f.(*os.File); !ok || f == nil {
			return false
		}
	}
	rest := *attr
	rest.Cloneflags, rest.UidMappings, rest.GidMappings, rest.GidMappingsEnableSetgroups = 0, nil, nil, false
	rest.UseCgroupFD, rest.CgroupFD, rest.Pdeathsig = false, 0, 0
	return attr.Pdeathsig == syscall.SIGKILL && onlyZero(&rest) && origNofile().known
}

// forceExecStart makes every child start through os/exec (a test's
// comparison of the two ways).
var forceExecStart atomic.Bool

// Start starts c, as exec.Cmd.Start does; the calling goroutine must be
// locked to its OS thread until Wait has returned (Pdeathsig).
func (c *childProc) Start() error {
	if !c.rawStartable() {
		return c.Cmd.Start()
	}
	if c.Process != nil {
		return errors.New("exec: already started")
	}
	if err := c.startRaw(); err != nil {
		return err
	}
	c.raw = true
	return nil
}

// Wait waits for c to exit and sets ProcessState, as exec.Cmd.Wait does.
func (c *childProc) Wait() error {
	if !c.raw {
		return c.Cmd.Wait()
	}
	if c.ProcessState != nil {
		return errors.New("exec: Wait was already called")
	}
	ps, err := c.Process.Wait()
	if err != nil {
		return err
	}
	c.ProcessState = ps
	if !ps.Success() {
		return &exec.ExitError{ProcessState: ps}
	}
	return nil
}

// startRaw clones the child with rawproc.Spawn: it shares this process's
// memory until its execve, waits at the gate until the id maps are
// written, puts its descriptors in place, resets the runtime's signals and
// executes the program; a failure is reported on a pipe, as os/exec does.
func (c *childProc) startRaw() error {
	attr := c.SysProcAttr
	files := []any{c.Stdin, c.Stdout, c.Stderr}
	for _, f := range c.ExtraFiles {
		files = append(files, f)
	}
	a := &rawproc.SpawnArgs{
		CloneFlags:   attr.Cloneflags | unix.CLONE_PIDFD | uintptr(syscall.SIGCHLD),
		Pidfd:        -1,
		ResetSignals: resetSignals(),
		Mask:         startMask,
		NextFD:       len(files),
	}
	for _, v := range files {
		fd := int(v.(*os.File).Fd()) // (rawStartable)
		a.Fds = append(a.Fds, fd)
		a.NextFD = max(a.NextFD, fd+1)
	}
	var err error
	if a.Path, err = cString(c.Path); err != nil {
		return err
	}
	argv, err := cStrings(c.Args)
	if err != nil {
		return fmt.Errorf("%w: an argument of the program contains a NUL byte", ErrInvalid)
	}
	env, err := cStrings(c.Env)
	if err != nil {
		return fmt.Errorf("%w: the environment contains a NUL byte", ErrInvalid)
	}
	a.Argv, a.Envv = &argv[0], &env[0]
	if attr.UseCgroupFD {
		a.IntoCgroup, a.CgroupFD = true, attr.CgroupFD
	}
	if o := origNofile(); o.restore {
		a.RestoreNofile, a.Nofile = true, o.lim
	}
	self, err := selfPidfd()
	if err != nil {
		return err
	}
	a.ParentFD = uintptr(self)

	report, err := pipe2()
	if err != nil {
		return err
	}
	gate, err := pipe2()
	if err != nil {
		unix.Close(report[0])
		unix.Close(report[1])
		return err
	}
	a.ErrFD = uintptr(report[1])
	a.GateR, a.GateW = uintptr(gate[0]), uintptr(gate[1])
	if a.Stack, err = rawproc.NewStack(); err != nil {
		for _, fd := range []int{report[0], report[1], gate[0], gate[1]} {
			unix.Close(fd)
		}
		return os.NewSyscallError("mmap", err)
	}
	pid, errno := spawn(a)
	unix.Close(report[1])
	unix.Close(gate[0])
	if errno != 0 {
		unix.Close(report[0])
		unix.Close(gate[1])
		a.Stack.Free()
		return &os.PathError{Op: "fork/exec", Path: c.Path, Err: errno}
	}
	pidfd := int(a.Pidfd)
	fail := func(err error) error {
		// Reaped, nothing runs on its stack.
		killAndReap(pidfd)
		unix.Close(pidfd)
		unix.Close(report[0])
		a.Stack.Free()
		return err
	}
	err = writeSysIDMaps(pid, attr)
	if err == nil {
		if _, werr := unix.Write(gate[1], []byte{0}); werr != nil {
			err = os.NewSyscallError("write", werr)
		}
	}
	unix.Close(gate[1])
	if err != nil {
		return fail(err)
	}
	// End of file: the program is executed, in an address space of its
	// own. Else the child's report: what failed, and its errno.
	st, e, got, err := readRawReport(report[0])
	if err != nil {
		return fail(err)
	}
	switch {
	case got == 0:
	case got != rawproc.ReportSize:
		return fail(fmt.Errorf("namespace: %w: short report from the child", ErrProtocol))
	default:
		if st == rawproc.CodeExec {
			return fail(&os.PathError{Op: "fork/exec", Path: c.Path, Err: e})
		}
		info, ok := rawStepInfo(st)
		if !ok {
			return fail(fmt.Errorf("namespace: %w: the child reported an unknown step %d (%v)", ErrProtocol, st, e))
		}
		return fail(fmt.Errorf("namespace: %s: %w", info.name, os.NewSyscallError(info.call, e)))
	}
	unix.Close(report[0])
	a.Stack.Free()
	// The os.Process opens a pidfd of its own while this one is open: the
	// pid cannot have been reaped and reused in between.
	c.Process, err = os.FindProcess(pid)
	unix.Close(pidfd)
	return err
}

// writeSysIDMaps writes the id maps of attr into the new user namespace
// of the child pid, as os/exec's child writes its own: uid_map, setgroups
// ("deny" unless GidMappingsEnableSetgroups), gid_map.
func writeSysIDMaps(pid int, attr *syscall.SysProcAttr) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	format := func(ms []syscall.SysProcIDMap) []byte {
		var b []byte
		for _, m := range ms {
			b = fmt.Appendf(b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		return b
	}
	if len(attr.UidMappings) > 0 {
		if err := os.WriteFile(dir+"uid_map", format(attr.UidMappings), 0); err != nil {
			return err
		}
	}
	if len(attr.GidMappings) > 0 {
		if !attr.GidMappingsEnableSetgroups {
			if err := os.WriteFile(dir+"setgroups", []byte("deny"), 0); err != nil {
				return err
			}
		}
		if err := os.WriteFile(dir+"gid_map", format(attr.GidMappings), 0); err != nil {
			return err
		}
	}
	return nil
}

// resetSignals returns the signals (bit N-1 for signal N) that a child
// must get with their default action: every one but SIGKILL, SIGSTOP and
// those ignored (which stay ignored across execve), as os/exec does. The
// Go runtime leaves SIGCONT, SIGTSTP, SIGTTIN and SIGTTOU as the process
// inherited them until os/signal is asked for them, and os/signal's
// Ignored does not know of one inherited ignored: the kernel is asked.
func resetSignals() uint64 {
	var set uint64
	for sig := 1; sig < 65; sig++ {
		s := syscall.Signal(sig)
		if s == syscall.SIGKILL || s == syscall.SIGSTOP || signal.Ignored(s) {
			continue
		}
		switch s {
		case syscall.SIGCONT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
			if rawproc.SignalIgnored(sig) {
				continue
			}
		}
		set |= 1 << (sig - 1)
	}
	return set
}

// startMask is the signal mask this program started with, which os/exec
// gives its children: the main thread's while the packages are
// initialised (the runtime has unblocked there only the signals it cannot
// do without, such as SIGSEGV).
var startMask = func() uint64 {
	var m unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, nil, &m); err != nil {
		return 0
	}
	var mask uint64
	for i := 0; i < len(m.Val) && i*bitsPerWord < 64; i++ {
		mask |= uint64(m.Val[i]) << (i * bitsPerWord)
	}
	return mask
}()

// bitsPerWord is the size of a word of unix.Sigset_t.
const bitsPerWord = 32 << (^uint(0) >> 63)

// nofileOrigin is what origNofile learned: the soft and hard
// RLIMIT_NOFILE that os/exec gives this process's children, and whether
// it could tell.
type nofileOrigin struct {
	lim     rawproc.Rlimit
	restore bool // os/exec sets lim in its children
	known   bool
}

var (
	nofileMu    sync.Mutex
	nofileFound *nofileOrigin
)

// origNofile finds out the RLIMIT_NOFILE that os/exec gives this
// process's children. The Go runtime raises the soft limit to the hard
// one less one as it starts and keeps the original where only os/exec
// reads it, which restores it in each child before execve. If the soft
// limit is not at that mark, the runtime did not raise it (or the program
// set it since) and os/exec restores nothing. Else a child is started by
// os.StartProcess under ptrace (PTRACE_TRACEME), which stops it as its
// execve completes, before any of its code runs: its limit is read there,
// and it is killed (one to three milliseconds, once).
//
// Where that cannot be done, known is false and the caller starts its
// child with os/exec: ptrace denied (an LSM, Yama, this process traced
// already, as under strace -f), and any seccomp filter on this process,
// which might kill the probe for calling ptrace (with a core dump of
// this process's memory, which the probe shares until its execve). The
// answer is kept, but for a failure that may pass (EAGAIN, ENOMEM).
func origNofile() nofileOrigin {
	nofileMu.Lock()
	defer nofileMu.Unlock()
	if nofileFound != nil {
		return *nofileFound
	}
	o, keep := probeNofile()
	if keep {
		nofileFound = &o
	}
	return o
}

// probeNofile is origNofile's search; keep is false for a failure that
// may pass.
func probeNofile() (o nofileOrigin, keep bool) {
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
		return nofileOrigin{}, true
	}
	if cur.Max == 0 || cur.Cur != cur.Max-1 {
		return nofileOrigin{known: true}, true
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nofileOrigin{}, true
	}
	if v, ok := statusField(status, "Seccomp:"); !ok || v != "0" {
		return nofileOrigin{}, true
	}
	runtime.LockOSThread() // the tracer, and the parent whose death kills it
	defer runtime.UnlockOSThread()
	p, err := os.StartProcess(selfPath(), []string{selfPath()}, &os.ProcAttr{
		Env: []string{},
		Sys: &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return nofileOrigin{}, !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.ENOMEM)
	}
	var lim unix.Rlimit
	err = unix.Prlimit(p.Pid, unix.RLIMIT_NOFILE, nil, &lim)
	_ = p.Kill()
	for {
		var ws unix.WaitStatus
		_, werr := unix.Wait4(p.Pid, &ws, unix.WALL, nil)
		if werr == unix.EINTR || werr == nil && !ws.Exited() && !ws.Signaled() {
			continue // interrupted, or the stop at execve reported first
		}
		break
	}
	_ = p.Release()
	if err != nil {
		return nofileOrigin{}, true
	}
	if lim == cur {
		return nofileOrigin{known: true}, true
	}
	return nofileOrigin{lim: rawproc.Rlimit{lim.Cur, lim.Max}, restore: true, known: true}, true
}
