package namespace

// The raw clone's arguments, prepared in the parent for StartProcess and
// Prepare, and the id-map gate.

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/linuxns/namespace/internal/rawproc"
	"github.com/linuxns/namespace/syscalls"
	"golang.org/x/sys/unix"
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

// readRawReport reads a raw child's report from the pipe fd until it is
// full or every writer has closed it: the failed step's code and its errno
// when got is rawproc.ReportSize, nothing (got 0) once the program has been
// executed; any other got is a short report, for the caller to refuse.
func readRawReport(fd int) (st uint32, e syscall.Errno, got int, err error) {
	var rep [rawproc.ReportSize]byte
	if got, err = readFull(fd, rep[:]); err != nil {
		return 0, 0, got, err
	}
	if got == len(rep) {
		st = binary.NativeEndian.Uint32(rep[:4])
		e = syscall.Errno(binary.NativeEndian.Uint32(rep[4:]))
	}
	return st, e, got, nil
}

// killAndReap sends SIGKILL to the child of pidfd and reaps it through the
// pidfd, so that no other process can be hit.
func killAndReap(pidfd int) {
	_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	var info unix.Siginfo
	for {
		if err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED, nil); err != unix.EINTR {
			return
		}
	}
}

// writeIDMaps writes the id maps of the child pid, in its new user
// namespace, from this (the parent) user namespace.
func (n *Namespace) writeIDMaps(pid int) error {
	if usesSubIDs(n.idMaps) {
		return classify("write the id maps", writeSubIDMaps(pid), n)
	}
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

// prepareSpawn builds the child's arguments and returns them with the
// set-up's steps as the child performs them. keep holds what the child's
// descriptors refer to.
func (n *Namespace) prepareSpawn(path string, argv []string, attr *os.ProcAttr) (*rawproc.SpawnArgs, []step, []any, error) {
	return prepareSpawnPlan(n.plan(), path, argv, attr, n)
}

// prepareSpawnPlan is prepareSpawn for the plan p (n, if not nil, for the
// errors' hints). keep holds the joins' descriptors too: releaseKeep
// closes them once the child is cloned.
func prepareSpawnPlan(p plan, path string, argv []string, attr *os.ProcAttr, n *Namespace) (*rawproc.SpawnArgs, []step, []any, error) {
	a := &rawproc.SpawnArgs{
		// CLONE_PIDFD: the parent holds a pidfd of the child from the
		// clone on, before the child can run, let alone exit.
		CloneFlags: uintptr(p.Flags&^(syscalls.CLONE_NEWTIME|syscalls.CLONE_SYSVSEM)) | unix.CLONE_PIDFD | uintptr(syscall.SIGCHLD),
		Pidfd:      -1,
	}
	var keep []any
	var err error
	steps := p.Steps
	pidJoined, timeJoined, mntJoined := false, false, false
	var res *joinResolution
	if hasJoins(steps) {
		var err error
		res, err = resolveJoins(steps, a.CloneFlags&syscalls.NamespaceFlags)
		if err != nil {
			return nil, nil, nil, err
		}
		a.CloneFlags = res.cloneFlags | unix.CLONE_PIDFD | uintptr(syscall.SIGCHLD)
		steps = res.steps
		keep = append(keep, res)
		// A joined PID namespace is the children's: the program is
		// forked into it by the cloned process, which stays outside (the
		// relay, below).
		pidJoined = res.joined&syscalls.CLONE_NEWPID != 0
		timeJoined = res.joined&syscalls.CLONE_NEWTIME != 0
		mntJoined = res.joined&syscalls.CLONE_NEWNS != 0
		if pidJoined && p.KillDescendants {
			res.close()
			return nil, nil, nil, fmt.Errorf("namespace: %w: WithKillDescendants with a joined PID namespace: its subreaper would be in that namespace, its parent outside; the end of the namespace's PID 1 ends them all, or create a PID namespace (WithPrivatePID) instead of joining one", ErrUnsupported)
		}
	}
	fail := func(err error) (*rawproc.SpawnArgs, []step, []any, error) {
		releaseKeep(keep)
		return nil, nil, nil, err
	}
	if a.Path, err = cString(path); err != nil {
		return fail(err)
	}
	if len(argv) == 0 {
		argv = []string{path}
	}
	av, err := cStrings(argv)
	if err != nil {
		return fail(fmt.Errorf("%w: an argument contains a NUL byte", ErrInvalid))
	}
	env := attr.Env
	if env == nil {
		env = os.Environ()
	}
	ev, err := cStrings(env)
	if err != nil {
		return fail(fmt.Errorf("%w: the environment contains a NUL byte", ErrInvalid))
	}
	a.Argv, a.Envv = &av[0], &ev[0]
	if attr.Dir != "" {
		dir := attr.Dir
		if dir[0] != '/' && hasStep(steps, stepWorkDir) {
			// Relative to the working directory the caller has now, not to
			// whatever the mounts make of its path.
			wd, err := unix.Getwd()
			if err != nil {
				return fail(classify(stepWorkDirName, fmt.Errorf("attr.Dir %q is relative: %w", attr.Dir, os.NewSyscallError("getcwd", err)), n))
			}
			dir = wd + "/" + attr.Dir
		}
		steps = withDir(steps, dir)
	}
	if a.Steps, a.WD, err = rawSteps(steps); err != nil {
		return fail(err)
	}

	if sys := attr.Sys; sys != nil {
		rest := *sys
		a.Setsid, a.Setpgid, a.Pgid = sys.Setsid, sys.Setpgid, sys.Pgid
		a.Foreground, a.Setctty, a.Ctty = sys.Foreground, sys.Setctty, sys.Ctty
		rest.Setsid, rest.Setpgid, rest.Pgid = false, false, 0
		rest.Foreground, rest.Setctty, rest.Ctty = false, false, 0
		if rest.Pdeathsig == syscall.SIGKILL {
			rest.Pdeathsig = 0
		}
		if !onlyZero(&rest) {
			return fail(fmt.Errorf("%w: SysProcAttr may set only Setsid, Setpgid, Pgid, Foreground, Setctty and Ctty; use Command for the others", ErrUnsupported))
		}
	}
	if hasStep(steps, stepNewSession) {
		// The step made the session (WithNewSession), whose leader leads
		// its own process group already.
		a.Setsid = false
		if a.Pgid == 0 {
			a.Setpgid = false
		}
	}

	a.ResetSignals, a.Mask = resetSignals(), startMask

	a.NextFD = len(attr.Files)
	for _, f := range attr.Files {
		fd := -1
		if f != nil {
			fd = int(f.Fd())
			keep = append(keep, f)
		}
		a.Fds = append(a.Fds, fd)
		if fd >= a.NextFD {
			a.NextFD = fd + 1
		}
	}

	if p.Init {
		a.Init = true
		if a.Foreground {
			// PID 2 takes the terminal after the descriptors are in place:
			// find Ctty's descriptor there.
			a.InitTakesTerminal = true
			a.InitCtty = -1
			if a.Ctty >= len(a.Fds) || a.Fds[a.Ctty] == a.Ctty {
				a.InitCtty = a.Ctty
			} else if i := slices.Index(a.Fds, a.Ctty); i >= 0 {
				a.InitCtty = i
			}
			if a.InitCtty < 0 {
				return fail(fmt.Errorf("%w: with WithMinimalInit and Foreground, Ctty (%d) must stay open for the program: pass the terminal in attr.Files", ErrUnsupported, a.Ctty))
			}
		}
	}
	// Before Linux 6.3, only a fork enters the time namespace
	// (timens_linux.go).
	a.TimeFork = !p.Init && !p.KillDescendants && timeNSNeedsFork(steps)
	if pidJoined {
		// The relay of timens_linux.go: the cloned process, outside the
		// joined PID namespace, forks the program into it (and into a
		// joined time namespace), passes signals on, exits with its
		// status, and takes it along when it dies (it is not PID 1 there,
		// whose death would end the namespace).
		a.TimeFork = true
	}
	// A process whose children's time namespace is not its own cannot
	// clone with CLONE_VM (the kernel's EINVAL): the program's fork then
	// copies this process.
	a.NoVMFork = hasStep(steps, stepTimeNS)
	// Joining a time namespace moves the joining process into it at once,
	// which the kernel allows only a process with memory of its own.
	a.OwnMemory = timeJoined
	if p.KillDescendants {
		a.Reaper.On = true
		if a.Reaper.Children, err = cString(childrenFile); err != nil {
			return fail(err)
		}
	}
	if mntJoined && (hasStep(steps, stepTimeOffsets) || a.Reaper.On) {
		// After a joined mount namespace, /proc is its owner's.
		if err := res.throughCallerProc(a); err != nil {
			return fail(err)
		}
	}
	return a, steps, keep, nil
}

// onlyZero reports whether every field of attr is zero (or nil).
func onlyZero(attr *syscall.SysProcAttr) bool {
	var zero syscall.SysProcAttr
	return attr.Chroot == zero.Chroot && attr.Credential == nil && !attr.Ptrace &&
		!attr.Setsid && !attr.Setpgid && attr.Pgid == 0 && !attr.Setctty && attr.Ctty == 0 && !attr.Foreground &&
		!attr.Noctty && attr.Pdeathsig == 0 && attr.Cloneflags == 0 &&
		attr.Unshareflags == 0 && attr.UidMappings == nil && attr.GidMappings == nil &&
		!attr.GidMappingsEnableSetgroups && attr.AmbientCaps == nil &&
		!attr.UseCgroupFD && attr.CgroupFD == 0 && attr.PidFD == nil
}

// spawn clones the child with every signal blocked on a locked thread, and
// with syscall.ForkLock held, as os/exec does, so that no descriptor that
// another goroutine is creating leaks into it.
//
// a is moved to the heap: a child that shares this process's memory reads
// and writes it after spawn has returned, and a goroutine's stack moves
// when it grows, leaving the old one to other goroutines.
func spawn(a *rawproc.SpawnArgs) (int, syscall.Errno) {
	spawnEscape.Store(a)
	spawnEscape.Store(nil)
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
	pid, errno := rawproc.Spawn(a)
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return pid, errno
}

// spawnEscape is where spawn stores its argument for a moment, so that the
// compiler allocates every SpawnArgs on the heap.
var spawnEscape atomic.Pointer[rawproc.SpawnArgs]

// releaseKeep closes the joins' descriptors among keep.
func releaseKeep(keep []any) {
	for _, k := range keep {
		if r, ok := k.(*joinResolution); ok {
			r.close()
		}
	}
}
