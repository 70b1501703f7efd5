package namespace

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

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
// With WithInit, the cloned process does not execute the program: it stays
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
// The cloned process is a copy of the caller, not a vfork: its cost grows
// with the caller's memory mappings. The program inherits the calling
// process's resource limits as they are; note that the Go runtime raises
// the soft RLIMIT_NOFILE to the hard limit at start-up (os/exec restores the
// original for its children, which StartProcess cannot see).
func (n *Namespace) StartProcess(path string, argv []string, attr *os.ProcAttr) (*os.Process, error) {
	p, err := n.prepare("StartProcess", path, argv, attr, false)
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

	dir string // attr.Dir, made absolute
}

// Prepare is StartProcess in two steps: it returns once the process is
// cloned into the namespaces and every set-up step has succeeded (or with
// the same errors as StartProcess), and the program is executed by Start.
// Between the two, signals sent to the process stay pending; SIGKILL, the
// death of the calling thread or process, and Abort end it.
func (n *Namespace) Prepare(path string, argv []string, attr *os.ProcAttr) (*Prepared, error) {
	return n.prepare("Prepare", path, argv, attr, true)
}

// prepare clones the child. With hold, it waits until the child has done
// the set-up and holds before execve; else the child goes straight on.
func (n *Namespace) prepare(name, path string, argv []string, attr *os.ProcAttr, hold bool) (*Prepared, error) {
	guardChild()
	if attr == nil {
		attr = &os.ProcAttr{}
	}
	v := verbPrepare
	if !hold {
		v = verbStartProcess
	}
	if err := n.check(v); err != nil {
		return nil, err
	}
	a, keep, err := n.prepareSpawn(path, argv, attr)
	if err != nil {
		return nil, fmt.Errorf("namespace: %s: %w", name, err)
	}
	defer runtime.KeepAlive(keep)
	defer runtime.KeepAlive(a)

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
			return p, classify("create a pipe", err, n)
		}
		fds = append(fds, p[0], p[1])
		return p, nil
	}
	errPipe, err := newPipe()
	if err != nil {
		return nil, err
	}
	a.errFD = uintptr(errPipe[1])
	var gate, holdPipe [2]int
	if n.user {
		if gate, err = newPipe(); err != nil {
			return nil, err
		}
		a.gateR, a.gateW = uintptr(gate[0]), uintptr(gate[1])
	}
	if hold {
		if holdPipe, err = newPipe(); err != nil {
			return nil, err
		}
		a.holdR, a.holdW = uintptr(holdPipe[0]), uintptr(holdPipe[1])
	}
	self, err := selfPidfd()
	if err != nil {
		closeAll()
		return nil, classify("open a pidfd of this process", err, n)
	}
	a.parentFD = uintptr(self)
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

	pid, errno := spawn(a)
	// The parent keeps the report's read end, the gate's and the hold's
	// write ends.
	unix.Close(errPipe[1])
	if n.user {
		unix.Close(gate[0])
	}
	if hold {
		unix.Close(holdPipe[0])
	}
	p := &Prepared{Pid: pid, n: n, path: path, dir: a.dirPath, pidfd: -1, errR: errPipe[0], holdW: -1}
	if hold {
		p.holdW = holdPipe[1]
	}
	if errno != 0 {
		p.closePipes()
		if n.user {
			unix.Close(gate[1])
		}
		return nil, n.startError(os.NewSyscallError("clone", errno))
	}
	p.pidfd = int(a.pidfd)
	if n.debugEnabled() {
		n.log().Debug("cloned", "side", "parent", "pid", pid, "flags", fmt.Sprintf("%#x", a.cloneFlags))
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
	if hold {
		// The child reports that it is set up and holds, or a failed step.
		st, e, got, err := p.readReport()
		switch {
		case err != nil:
			return nil, p.fail(err)
		case got == 0:
			return nil, p.fail(fmt.Errorf("namespace: %s: %w: the child ended without a report", name, ErrProtocol))
		case st != spawnHeld:
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
	unix.Close(p.pidfd)
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
	var rep [8]byte
	got, err = readFull(p.errR, rep[:])
	if err != nil {
		return 0, 0, got, classify("read the child's report", err, p.n)
	}
	if got != 0 && got != len(rep) {
		return 0, 0, got, fmt.Errorf("namespace: %w: short report from the child", ErrProtocol)
	}
	if got == len(rep) {
		st = binary.NativeEndian.Uint32(rep[:4])
		e = syscall.Errno(binary.NativeEndian.Uint32(rep[4:]))
	}
	return st, e, got, nil
}

// stepError turns a failed step's report into the error Run's children
// give, or an *os.PathError for execve.
func (p *Prepared) stepError(st uint32, e syscall.Errno) error {
	switch st {
	case spawnExec:
		return &os.PathError{Op: "exec", Path: p.path, Err: e}
	case spawnDir:
		dir := p.dir
		if dir == "" {
			dir = "/" // the fallback for an inherited directory
		}
		return classify(stepWorkDir, &os.PathError{Op: "chdir", Path: dir, Err: e}, p.n)
	}
	return classify(spawnStepName(st, p.n), os.NewSyscallError(spawnStepCall(st), e), p.n)
}

// fail kills and reaps the child through its pidfd, so that no other
// process can be hit, closes the pipes, and returns err.
func (p *Prepared) fail(err error) error {
	if p.pidfd >= 0 {
		_ = unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
		var info unix.Siginfo
		for {
			if werr := unix.Waitid(unix.P_PIDFD, p.pidfd, &info, unix.WEXITED, nil); werr != unix.EINTR {
				break
			}
		}
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	p.closePipes()
	return err
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

// pipe2 returns a close-on-exec pipe.
func pipe2() ([2]int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return p, os.NewSyscallError("pipe2", err)
	}
	return p, nil
}

// readFull reads into b until it is full or the writer closes.
func readFull(fd int, b []byte) (int, error) {
	got := 0
	for got < len(b) {
		m, err := unix.Read(fd, b[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return got, os.NewSyscallError("read", err)
		}
		if m == 0 {
			break
		}
		got += m
	}
	return got, nil
}

// writeIDMaps writes the id maps of the child pid, in its new user
// namespace, from this (the parent) user namespace.
func (n *Namespace) writeIDMaps(pid int) error {
	uids, gids := resolveIDMaps(n.idMaps, os.Geteuid(), os.Getegid())
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	write := func(file, data string) error {
		if err := os.WriteFile(dir+file, []byte(data), 0); err != nil {
			return classify("write "+file, err, n)
		}
		return nil
	}
	if err := write("uid_map", formatIDMap(uids)); err != nil {
		return err
	}
	if !(os.Geteuid() == 0 && setgroupsAllowed()) {
		if err := write("setgroups", "deny"); err != nil {
			return err
		}
	}
	return write("gid_map", formatIDMap(gids))
}

func formatIDMap(maps []IDMap) string {
	var b strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", m.Inside, m.Outside, m.Size)
	}
	return b.String()
}

// The steps of a spawned child, as it reports them.
const (
	spawnWaitMaps uint32 = iota + 1
	spawnTimeNS
	spawnTimeOffsets
	spawnRPrivate
	spawnTmpfs
	spawnProc
	spawnHostname
	spawnLoopback
	spawnDir
	spawnFiles
	spawnSetsid
	spawnSetpgid
	spawnForeground
	spawnSetctty
	spawnExec
	spawnForkCommand
	spawnChildrenFile
	spawnForkSubreaper
	// spawnHeld is not a failure: the child is set up and holds (Prepare).
	spawnHeld
)

// spawnStepName names step st as Run's child does.
func spawnStepName(st uint32, n *Namespace) string {
	switch st {
	case spawnWaitMaps:
		return "wait for the id maps"
	case spawnTimeNS:
		return "create time namespace"
	case spawnTimeOffsets:
		return "set time offsets"
	case spawnRPrivate:
		return "make / recursively private"
	case spawnTmpfs:
		return "mount tmpfs on /tmp (" + n.tmp.data() + ")"
	case spawnProc:
		return "mount proc on /proc"
	case spawnHostname:
		return "set hostname"
	case spawnLoopback:
		return "bring lo up"
	case spawnDir:
		return stepWorkDir
	case spawnFiles:
		return "set up descriptors"
	case spawnSetsid:
		return "create a session"
	case spawnSetpgid:
		return "set the process group"
	case spawnForeground:
		return "take the terminal's foreground"
	case spawnSetctty:
		return "set the controlling terminal"
	case spawnForkCommand:
		if !n.initProc {
			return "fork the command"
		}
		return "fork the command (PID 2)"
	case spawnChildrenFile:
		return "find descendants in " + childrenFile
	case spawnForkSubreaper:
		return "fork the subreaper"
	}
	return "step " + strconv.Itoa(int(st))
}

// spawnStepCall names the system call of step st.
func spawnStepCall(st uint32) string {
	switch st {
	case spawnWaitMaps:
		return "read"
	case spawnTimeNS:
		return "unshare"
	case spawnTimeOffsets:
		return "write timens_offsets"
	case spawnRPrivate, spawnTmpfs, spawnProc:
		return "mount"
	case spawnHostname:
		return "sethostname"
	case spawnLoopback:
		return "ioctl SIOCSIFFLAGS"
	case spawnDir:
		return "chdir"
	case spawnFiles:
		return "dup3"
	case spawnSetsid:
		return "setsid"
	case spawnSetpgid:
		return "setpgid"
	case spawnForeground:
		return "ioctl TIOCSPGRP"
	case spawnSetctty:
		return "ioctl TIOCSCTTY"
	case spawnForkCommand, spawnForkSubreaper:
		return "clone"
	case spawnChildrenFile:
		return "open"
	}
	return "execve"
}

// spawnMount is one mount(2) of the set-up.
type spawnMount struct {
	src, dst, fstype, data *byte
	flags                  uintptr
	step                   uint32
}

// ifreqFlags is struct ifreq with the flags member of its union.
type ifreqFlags struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

// spawnArgs is everything the spawned child needs, prepared before the
// clone: it runs no Go code that allocates.
type spawnArgs struct {
	cloneFlags   uintptr
	pidfd        int32   // the child's pidfd, which clone (CLONE_PIDFD) stores here
	parentFD     uintptr // a pidfd of the calling process
	errFD        uintptr // write end of the report pipe (close-on-exec)
	gateR, gateW uintptr // the id-map gate, or 0
	holdR, holdW uintptr // the hold before execve (Prepare), or 0

	timeNS     bool
	timensPath *byte
	timensData []byte
	mounts     []spawnMount
	hostname   []byte
	loopback   bool
	ifr        ifreqFlags
	// The working directory, entered again by its path after the mounts:
	// dir (attr.Dir, dirPath made absolute) if given; else, with a mount
	// namespace, the inherited one, whose path the child reads into cwd
	// (getcwd) before the mounts, or / if it is not there inside.
	dir        *byte
	dirPath    string
	cwd        []byte
	root       *byte
	fds        []int // descriptor i of the program is fds[i]; -1: closed
	nextFD     int   // free descriptors start here (above every fds[i] and i)
	setsid     bool
	setpgid    bool
	pgid       int
	foreground bool
	setctty    bool
	ctty       int
	// reaper (WithKillDescendants without a PID namespace): the cloned
	// process forks a subreaper, which forks the program.
	reaper subreaper
	// init (WithInit): the cloned process stays PID 1 and forks the
	// program as PID 2, which leads a process group of its own in the
	// terminal's foreground if initTakesTerminal.
	init              bool
	initTakesTerminal bool
	initCtty          int // the terminal, among the program's descriptors
	path              *byte
	argv, envv        **byte
	report            [8]byte
	// resetSignals has bit N-1 set for each signal N that the Go runtime
	// handles and the program must get with its default action.
	resetSignals uint64
}

// prepareSpawn builds the child's arguments. keep holds what the child's
// pointers refer to.
func (n *Namespace) prepareSpawn(path string, argv []string, attr *os.ProcAttr) (*spawnArgs, []any, error) {
	a := &spawnArgs{
		// CLONE_PIDFD: the parent holds a pidfd of the child from the
		// clone on, before the child can run, let alone exit.
		cloneFlags: uintptr(n.Flags()&^(syscalls.CLONE_NEWTIME|syscalls.CLONE_SYSVSEM)) | unix.CLONE_PIDFD | uintptr(syscall.SIGCHLD),
		pidfd:      -1,
	}
	var keep []any
	cstr := func(s string) (*byte, error) {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %q contains a NUL byte", ErrInvalid, s)
		}
		keep = append(keep, p)
		return p, nil
	}
	var err error
	if a.path, err = cstr(path); err != nil {
		return nil, nil, err
	}
	if len(argv) == 0 {
		argv = []string{path}
	}
	av, err := cStrings(argv)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: an argument contains a NUL byte", ErrInvalid)
	}
	env := attr.Env
	if env == nil {
		env = os.Environ()
	}
	ev, err := cStrings(env)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the environment contains a NUL byte", ErrInvalid)
	}
	keep = append(keep, av, ev)
	a.argv, a.envv = &av[0], &ev[0]
	if attr.Dir != "" {
		a.dirPath = attr.Dir
		if a.dirPath[0] != '/' && n.needsMountNS() {
			// Relative to the working directory the caller has now, not to
			// whatever the mounts make of its path.
			wd, err := unix.Getwd()
			if err != nil {
				return nil, nil, classify(stepWorkDir, fmt.Errorf("attr.Dir %q is relative: %w", attr.Dir, os.NewSyscallError("getcwd", err)), n)
			}
			a.dirPath = wd + "/" + attr.Dir
		}
		if a.dir, err = cstr(a.dirPath); err != nil {
			return nil, nil, err
		}
	}

	if sys := attr.Sys; sys != nil {
		rest := *sys
		a.setsid, a.setpgid, a.pgid = sys.Setsid, sys.Setpgid, sys.Pgid
		a.foreground, a.setctty, a.ctty = sys.Foreground, sys.Setctty, sys.Ctty
		rest.Setsid, rest.Setpgid, rest.Pgid = false, false, 0
		rest.Foreground, rest.Setctty, rest.Ctty = false, false, 0
		if rest.Pdeathsig == syscall.SIGKILL {
			rest.Pdeathsig = 0
		}
		if !onlyZero(&rest) {
			return nil, nil, fmt.Errorf("%w: SysProcAttr may set only Setsid, Setpgid, Pgid, Foreground, Setctty and Ctty; use Command for the others", ErrUnsupported)
		}
	}

	for sig := 1; sig < 65; sig++ {
		if sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) || signal.Ignored(syscall.Signal(sig)) {
			continue
		}
		a.resetSignals |= 1 << (sig - 1)
	}

	a.nextFD = len(attr.Files)
	for _, f := range attr.Files {
		fd := -1
		if f != nil {
			fd = int(f.Fd())
			keep = append(keep, f)
		}
		a.fds = append(a.fds, fd)
		if fd >= a.nextFD {
			a.nextFD = fd + 1
		}
	}

	if n.time {
		a.timeNS = true
		if a.timensPath, err = cstr("/proc/self/timens_offsets"); err != nil {
			return nil, nil, err
		}
		a.timensData = []byte(timensOffsets(n.monotonic, n.boottime))
	}
	empty, _ := cstr("")
	if n.needsMountNS() {
		a.root, _ = cstr("/")
		a.mounts = append(a.mounts, spawnMount{src: empty, dst: a.root, fstype: empty, data: empty, flags: unix.MS_REC | unix.MS_PRIVATE, step: spawnRPrivate})
		if a.dir == nil {
			a.cwd = make([]byte, unix.PathMax)
			keep = append(keep, a.cwd)
		}
	}
	if n.tmp != nil {
		src, _ := cstr("tmpfs")
		dst, _ := cstr("/tmp")
		data, err := cstr(n.tmp.data())
		if err != nil {
			return nil, nil, err
		}
		a.mounts = append(a.mounts, spawnMount{src: src, dst: dst, fstype: src, data: data, flags: unix.MS_NOSUID | unix.MS_NODEV, step: spawnTmpfs})
	}
	if n.mountsProc() {
		src, _ := cstr("proc")
		dst, _ := cstr("/proc")
		a.mounts = append(a.mounts, spawnMount{src: src, dst: dst, fstype: src, data: empty, flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, step: spawnProc})
	}
	if n.hostname != nil && *n.hostname != "" {
		a.hostname = []byte(*n.hostname)
	}
	if n.initProc {
		a.init = true
		if a.foreground {
			// PID 2 takes the terminal after the descriptors are in place:
			// find Ctty's descriptor there.
			a.initTakesTerminal = true
			a.initCtty = -1
			if a.ctty >= len(a.fds) || a.fds[a.ctty] == a.ctty {
				a.initCtty = a.ctty
			} else if i := slices.Index(a.fds, a.ctty); i >= 0 {
				a.initCtty = i
			}
			if a.initCtty < 0 {
				return nil, nil, fmt.Errorf("%w: with WithMinimalInit and Foreground, Ctty (%d) must stay open for the program: pass the terminal in attr.Files", ErrUnsupported, a.ctty)
			}
		}
	}
	if n.net {
		a.loopback = true
		copy(a.ifr.name[:], "lo")
	}
	if n.killDescendants && !n.pid {
		a.reaper.on = true
		if a.reaper.children, err = cstr(childrenFile); err != nil {
			return nil, nil, err
		}
	}
	return a, keep, nil
}

// onlyZero reports whether every field of attr is zero (or nil).
func onlyZero(attr *syscall.SysProcAttr) bool {
	var zero syscall.SysProcAttr
	return attr.Chroot == zero.Chroot && attr.Credential == nil && !attr.Ptrace &&
		!attr.Noctty && attr.Pdeathsig == 0 && attr.Cloneflags == 0 &&
		attr.Unshareflags == 0 && attr.UidMappings == nil && attr.GidMappings == nil &&
		!attr.GidMappingsEnableSetgroups && attr.AmbientCaps == nil &&
		!attr.UseCgroupFD && attr.CgroupFD == 0 && attr.PidFD == nil
}

// spawn clones the child with every signal blocked on a locked thread, and
// with syscall.ForkLock held, as os/exec does, so that no descriptor that
// another goroutine is creating leaks into it.
func spawn(a *spawnArgs) (int, syscall.Errno) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		return 0, err.(syscall.Errno)
	}
	pid, errno := forkSpawn(a)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return pid, errno
}

// forkSpawn clones the child and, in it, performs the set-up and executes
// the program. It returns the child's pid in the parent.
//
// The child side never returns and must not call anything that can grow the
// stack, allocate or take a lock: only syscall.RawSyscall6 (nosplit) and
// arithmetic, as the standard library's code between fork and exec.
//
//go:norace
//go:nocheckptr
//go:noinline
func forkSpawn(a *spawnArgs) (pid int, err syscall.Errno) {
	var (
		st     uint32
		e      syscall.Errno
		r1     uintptr
		none   uint64
		act    [4]uintptr // struct kernel_sigaction: handler, flags, restorer, mask
		b      [1]byte
		pfd    [2]int32 // struct pollfd: fd, events|revents<<16
		zero   [2]int64 // struct timespec
		pgrp   int32
		fd, sk uintptr
	)
	// clone(flags, stack, parent_tid, ...): with CLONE_PIDFD the kernel
	// stores the pidfd at parent_tid, in the parent's memory.
	r1, _, e = syscall.RawSyscall6(unix.SYS_CLONE, a.cloneFlags, 0, uintptr(unsafe.Pointer(&a.pidfd)), 0, 0, 0)
	if e != 0 || r1 != 0 {
		return int(r1), e
	}

	// The child. Die with the thread that cloned us; if the calling process
	// is already gone (it died before the death signal was armed), go now.
	syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
	pfd[0] = int32(a.parentFD)
	pfd[1] = unix.POLLIN
	if r1, _, _ = syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd[0])), 1, uintptr(unsafe.Pointer(&zero[0])), 0, 0, 0); r1 != 0 {
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
	}
	syscall.RawSyscall6(unix.SYS_CLOSE, a.parentFD, 0, 0, 0, 0, 0)
	if a.holdW != 0 {
		// Only the parent may hold the write end: its closing is Abort.
		syscall.RawSyscall6(unix.SYS_CLOSE, a.holdW, 0, 0, 0, 0, 0)
	}

	if a.gateR != 0 {
		// Wait until the parent has written the id maps; nothing (EOF)
		// means it gave up.
		syscall.RawSyscall6(unix.SYS_CLOSE, a.gateW, 0, 0, 0, 0, 0)
		r1, _, e = syscall.RawSyscall6(unix.SYS_READ, a.gateR, uintptr(unsafe.Pointer(&b[0])), 1, 0, 0, 0)
		if r1 != 1 {
			st = spawnWaitMaps
			goto fail
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, a.gateR, 0, 0, 0, 0, 0)
	}

	if a.timeNS {
		// The offsets can be set until a process enters the namespace,
		// which execve below does.
		if _, _, e = syscall.RawSyscall6(unix.SYS_UNSHARE, uintptr(syscalls.CLONE_NEWTIME), 0, 0, 0, 0, 0); e != 0 {
			st = spawnTimeNS
			goto fail
		}
		fd, _, e = syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(a.timensPath)), unix.O_WRONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			st = spawnTimeOffsets
			goto fail
		}
		if _, _, e = syscall.RawSyscall6(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&a.timensData[0])), uintptr(len(a.timensData)), 0, 0, 0); e != 0 {
			st = spawnTimeOffsets
			goto fail
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	}

	if a.cwd != nil {
		// The inherited working directory's path, before the mounts can
		// cover it; "(unreachable)/…" or nothing means / below.
		if _, _, e = syscall.RawSyscall6(unix.SYS_GETCWD, uintptr(unsafe.Pointer(&a.cwd[0])), uintptr(len(a.cwd)), 0, 0, 0, 0); e != 0 {
			a.cwd[0] = 0
		}
	}
	for i := range a.mounts {
		m := &a.mounts[i]
		if _, _, e = syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(m.src)), uintptr(unsafe.Pointer(m.dst)),
			uintptr(unsafe.Pointer(m.fstype)), m.flags, uintptr(unsafe.Pointer(m.data)), 0); e != 0 {
			st = m.step
			goto fail
		}
	}
	if len(a.hostname) > 0 {
		if _, _, e = syscall.RawSyscall6(unix.SYS_SETHOSTNAME, uintptr(unsafe.Pointer(&a.hostname[0])), uintptr(len(a.hostname)), 0, 0, 0, 0); e != 0 {
			st = spawnHostname
			goto fail
		}
	}
	if a.loopback {
		st = spawnLoopback
		sk, _, e = syscall.RawSyscall6(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0, 0, 0, 0)
		if e != 0 {
			goto fail
		}
		if _, _, e = syscall.RawSyscall6(unix.SYS_IOCTL, sk, unix.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&a.ifr)), 0, 0, 0); e != 0 {
			goto fail
		}
		if a.ifr.flags&unix.IFF_UP == 0 {
			a.ifr.flags |= unix.IFF_UP | unix.IFF_RUNNING
			if _, _, e = syscall.RawSyscall6(unix.SYS_IOCTL, sk, unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&a.ifr)), 0, 0, 0); e != 0 {
				goto fail
			}
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, sk, 0, 0, 0, 0, 0)
	}

	// The process as os/exec makes it: session, group, terminal,
	// directory, descriptors.
	if a.setsid {
		if _, _, e = syscall.RawSyscall6(unix.SYS_SETSID, 0, 0, 0, 0, 0, 0); e != 0 {
			st = spawnSetsid
			goto fail
		}
	}
	if a.setpgid || a.foreground {
		if _, _, e = syscall.RawSyscall6(unix.SYS_SETPGID, 0, uintptr(a.pgid), 0, 0, 0, 0); e != 0 {
			st = spawnSetpgid
			goto fail
		}
	}
	if a.foreground {
		pgrp = int32(a.pgid)
		if pgrp == 0 {
			r1, _, _ = syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
			pgrp = int32(r1)
		}
		// Every signal is blocked, so a background group may do it.
		if _, _, e = syscall.RawSyscall6(unix.SYS_IOCTL, uintptr(a.ctty), unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)), 0, 0, 0); e != 0 {
			st = spawnForeground
			goto fail
		}
	}
	// The working directory, entered again by its path now that the
	// mounts are made: an explicit one must be there; an inherited one
	// that is not falls back to /.
	if a.dir != nil {
		if _, _, e = syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(a.dir)), 0, 0, 0, 0, 0); e != 0 {
			st = spawnDir
			goto fail
		}
	} else if a.cwd != nil {
		e = syscall.ENOENT
		if a.cwd[0] == '/' {
			_, _, e = syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(&a.cwd[0])), 0, 0, 0, 0, 0)
		}
		if e != 0 {
			if _, _, e = syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(a.root)), 0, 0, 0, 0, 0); e != 0 {
				st = spawnDir
				goto fail
			}
		}
	}
	st = spawnFiles
	if a.errFD < uintptr(len(a.fds)) {
		// The report pipe would be overwritten: move it up.
		r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, a.errFD, unix.F_DUPFD_CLOEXEC, uintptr(a.nextFD), 0, 0, 0)
		if e != 0 {
			goto fail
		}
		a.errFD = r1
		a.nextFD = int(r1) + 1
	}
	if a.holdR != 0 && a.holdR < uintptr(len(a.fds)) {
		r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, a.holdR, unix.F_DUPFD_CLOEXEC, uintptr(a.nextFD), 0, 0, 0)
		if e != 0 {
			goto fail
		}
		a.holdR = r1
		a.nextFD = int(r1) + 1
	}
	// First move every source that a lower descriptor would overwrite out
	// of the way, then put each in place.
	for i := range a.fds {
		if a.fds[i] >= 0 && a.fds[i] < i {
			r1, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, uintptr(a.fds[i]), unix.F_DUPFD_CLOEXEC, uintptr(a.nextFD), 0, 0, 0)
			if e != 0 {
				goto fail
			}
			a.fds[i] = int(r1)
			a.nextFD = int(r1) + 1
		}
	}
	for i := range a.fds {
		switch {
		case a.fds[i] < 0:
			syscall.RawSyscall6(unix.SYS_CLOSE, uintptr(i), 0, 0, 0, 0, 0)
		case a.fds[i] == i:
			_, _, e = syscall.RawSyscall6(unix.SYS_FCNTL, uintptr(i), unix.F_SETFD, 0, 0, 0, 0)
		default:
			_, _, e = syscall.RawSyscall6(unix.SYS_DUP3, uintptr(a.fds[i]), uintptr(i), 0, 0, 0, 0)
		}
		if e != 0 {
			goto fail
		}
	}
	if a.setctty {
		if _, _, e = syscall.RawSyscall6(unix.SYS_IOCTL, uintptr(a.ctty), unix.TIOCSCTTY, 1, 0, 0, 0); e != 0 {
			st = spawnSetctty
			goto fail
		}
	}

	if a.holdR != 0 {
		// Prepare: report that the set-up is done, and hold until Start
		// (a byte) or Abort (end of file, then SIGKILL).
		*(*uint32)(unsafe.Pointer(&a.report[0])) = spawnHeld
		*(*uint32)(unsafe.Pointer(&a.report[4])) = 0
		syscall.RawSyscall6(unix.SYS_WRITE, a.errFD, uintptr(unsafe.Pointer(&a.report[0])), 8, 0, 0, 0)
		if r1, _, _ = syscall.RawSyscall6(unix.SYS_READ, a.holdR, uintptr(unsafe.Pointer(&b[0])), 1, 0, 0, 0); r1 != 1 {
			syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, a.holdR, 0, 0, 0, 0, 0)
	}

	if a.reaper.on {
		// WithKillDescendants: this process, the caller's child, forks the
		// subreaper, sends on to it every signal it gets and exits with its
		// status; the subreaper forks the program (as WithInit's PID 1
		// does, below) and, when the program has ended or this process has
		// died (SIGKILL included), kills the descendants left. First check
		// that it will find them.
		fd, _, e = syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(a.reaper.children)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			st = spawnChildrenFile
			goto fail
		}
		syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
		a.reaper.parent, _, _ = syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		r1, _, e = syscall.RawSyscall6(unix.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if e != 0 {
			st = spawnForkSubreaper
			goto fail
		}
		if r1 != 0 {
			// The subreaper shares this process's group, and so gets
			// what the terminal sends the group itself.
			syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, ^uintptr(0)>>32, 0, 0, 0, 0)
			initLoop(r1, true, nil)
		}
		// The subreaper: its parent's death is a signal to it, not its
		// end. If the parent died before that was armed, go now.
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0)
		syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGCHLD), 0, 0, 0, 0)
		if r1, _, _ = syscall.RawSyscall6(unix.SYS_GETPPID, 0, 0, 0, 0, 0, 0); r1 != a.reaper.parent {
			syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
		}
	}

	if a.init || a.reaper.on {
		// WithInit: PID 1 forks the program as PID 2 and stays. vfork:
		// PID 1 goes on once PID 2 has executed the program or reported
		// why it could not, and then closes the report pipe, which tells
		// the parent that the program runs. PID 1 keeps no descriptor.
		// The subreaper of WithKillDescendants does the same.
		r1, _, e = syscall.RawSyscall6(unix.SYS_CLONE, unix.CLONE_VFORK|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if e != 0 {
			st = spawnForkCommand
			goto fail
		}
		if r1 != 0 {
			syscall.RawSyscall6(unix.SYS_CLOSE_RANGE, 0, ^uintptr(0)>>32, 0, 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_CLOSE, a.errFD, 0, 0, 0, 0, 0)
			initLoop(r1, !a.initTakesTerminal, &a.reaper)
		}
		if a.reaper.on {
			// The program dies with the subreaper.
			syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
		}
		// PID 2. Every signal is still blocked, so a background group may
		// take the terminal.
		if a.initTakesTerminal {
			r1, _, _ = syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
			pgrp = int32(r1)
			syscall.RawSyscall6(unix.SYS_SETPGID, 0, 0, 0, 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_IOCTL, uintptr(a.initCtty), unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)), 0, 0, 0)
		}
	}

	// Default dispositions for the signals the Go runtime handles (ignored
	// ones stay ignored, as across execve), then the program with an empty
	// signal mask.
	for sig := uintptr(1); sig < 65; sig++ {
		if a.resetSignals&(1<<(sig-1)) != 0 {
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&act[0])), 0, 8, 0, 0)
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&none)), 0, 8, 0, 0)
	_, _, e = syscall.RawSyscall6(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.path)), uintptr(unsafe.Pointer(a.argv)), uintptr(unsafe.Pointer(a.envv)), 0, 0, 0)
	st = spawnExec

fail:
	// Report the step and errno (the parent reaps us), and exit as a
	// shell would.
	*(*uint32)(unsafe.Pointer(&a.report[0])) = st
	*(*uint32)(unsafe.Pointer(&a.report[4])) = uint32(e)
	syscall.RawSyscall6(unix.SYS_WRITE, a.errFD, uintptr(unsafe.Pointer(&a.report[0])), 8, 0, 0, 0)
	r1 = 125
	if st == spawnExec {
		r1 = 126
		if e == syscall.ENOENT {
			r1 = 127
		}
	}
	syscall.RawSyscall6(unix.SYS_EXIT_GROUP, r1, 0, 0, 0, 0, 0)
	return 0, 0
}

// atFDCWD is AT_FDCWD as a system call argument.
var atFDCWD = ^uintptr(0) - 99
