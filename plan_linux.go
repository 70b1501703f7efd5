package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
	"github.com/linuxns/namespace/internal/wire"
	"github.com/linuxns/namespace/syscalls"
)

// The set-up engine. The options compile into a plan: an ordered list of
// steps (wire.Step), made here, in the order of the contract:
//
//	make / recursively private → the mounts, in order → hostname, lo,
//	time → the working directory, entered again by its path
//
// Two executors perform the same list: the Go one (runSteps: the
// re-executed child, Setup, Do's and Exec's thread) and the raw one
// (rawproc.RunSteps: StartProcess and Prepare's clone, WithMinimalInit's PID 1),
// to which rawSteps converts the list. Each step kind has one name, in
// stepTable, used in SetupError's Step, debug logs and docs; the raw-only
// steps around the list (the id-map gate, descriptors, session and
// terminal, forks, execve) are named there too.

type (
	step     = wire.Step
	stepKind = wire.StepKind
)

const (
	stepRPrivate    = wire.StepRPrivate
	stepTmpfs       = wire.StepTmpfs
	stepProc        = wire.StepProc
	stepHostname    = wire.StepHostname
	stepLoopback    = wire.StepLoopback
	stepTimeNS      = wire.StepTimeNS
	stepTimeOffsets = wire.StepTimeOffsets
	stepWorkDir     = wire.StepWorkDir
	stepCgroup      = wire.StepCgroup
)

// stepInfo describes a step kind: its name, the system call whose failure
// it reports, and for a mount the file system type (also the source).
type stepInfo struct {
	name, call, fstype string
}

// stepTable names every step kind of a plan, by kind (stepInfoOf). An
// array, not a map: it is data in the binary, where a map is built by
// every process that links the package as it starts, each Go child of a
// Run included.
var stepTable = [...]stepInfo{
	stepRPrivate:    {"make / recursively private", "mount", ""},
	stepTmpfs:       {"mount tmpfs", "mount", "tmpfs"},
	stepProc:        {"mount proc", "mount", "proc"},
	stepHostname:    {"set hostname", "sethostname", ""},
	stepLoopback:    {"bring lo up", "ioctl SIOCSIFFLAGS", ""},
	stepTimeNS:      {"create time namespace", "unshare", ""},
	stepTimeOffsets: {"set time offsets", "write timens_offsets", ""},
	stepWorkDir:     {"enter working directory", "chdir", ""},

	// The filesystem view (fs_plan_linux.go).
	stepNewRoot:       {"make the new root", "open_tree", ""},
	stepBindSource:    {"open the bind source", "open_tree", ""},
	stepFileSource:    {"make the file", "fsmount", ""},
	stepFSSource:      {"make the file system", "fsmount", ""},
	stepOverlaySource: {"make the overlay", "fsmount", ""},
	stepAttach:        {"mount", "move_mount", ""},
	stepSetAttr:       {"make read-only", "mount_setattr", ""},
	stepSymlink:       {"make the symbolic link", "symlinkat", ""},
	stepDir:           {"make the directory", "mkdirat", ""},
	stepPivot:         {"enter the new root", "pivot_root", ""},
	stepDetachOldRoot: {"detach the old root", "umount2", ""},
	// Privileges and limits (privileges_linux.go).
	stepRlimit:       {"set resource limit", "prlimit", ""},
	stepNewSession:   {"start a new session", "setsid", ""},
	stepLandlock:     {"apply Landlock rules", "landlock", ""},
	stepCapabilities: {"drop capabilities", "capset", ""},
	stepNoNewPrivs:   {"set no_new_privs", "prctl", ""},
	stepSeccomp:      {"install seccomp filter", "seccomp", ""},
	// Joining (join_linux.go); their names in errors come from joinStepName.
	wire.StepJoin:        {"join namespace", "setns", ""},
	wire.StepJoinProcess: {"join the namespaces of a process", "setns", ""},
	wire.StepJoinFD:      {"join namespace", "setns", ""},
	wire.StepUnshare:     {"create namespaces after the joins", "unshare", ""},
	wire.StepSubIDs:      {"have newuidmap write the id maps", "newuidmap", ""},

	// The parent's step before the clone (cgroup_linux.go).
	stepCgroup: {"make the child's cgroup", "mkdir", ""},
}

// stepInfoOf returns the entry of kind k in stepTable, or the zero
// stepInfo (no name) for a kind without one.
func stepInfoOf(k stepKind) stepInfo {
	if int(k) >= len(stepTable) {
		return stepInfo{}
	}
	return stepTable[k]
}

// rawCode0 is the first report code of rawStepTable.
const rawCode0 = rawproc.CodeWaitMaps

// rawStepTable names the steps that only the raw executor has, by their
// report codes, from rawCode0 on (rawStepInfo).
var rawStepTable = [...]stepInfo{
	rawproc.CodeWaitMaps - rawCode0:      {"wait for the id maps", "read", ""},
	rawproc.CodeFiles - rawCode0:         {"set up descriptors", "dup3", ""},
	rawproc.CodeSetsid - rawCode0:        {"create a session", "setsid", ""},
	rawproc.CodeSetpgid - rawCode0:       {"set the process group", "setpgid", ""},
	rawproc.CodeForeground - rawCode0:    {"take the terminal's foreground", "ioctl TIOCSPGRP", ""},
	rawproc.CodeSetctty - rawCode0:       {"set the controlling terminal", "ioctl TIOCSCTTY", ""},
	rawproc.CodeExec - rawCode0:          {"execute the program", "execve", ""},
	rawproc.CodeForkProgram - rawCode0:   {"fork the program", "clone", ""},
	rawproc.CodeChildrenFile - rawCode0:  {"find descendants in " + childrenFile, "open", ""},
	rawproc.CodeForkSubreaper - rawCode0: {"fork the subreaper", "clone", ""},
}

// rawStepInfo returns the entry of report code c in rawStepTable, and
// whether there is one.
func rawStepInfo(c uint32) (stepInfo, bool) {
	i := c - rawCode0
	if c < rawCode0 || i >= uint32(len(rawStepTable)) || rawStepTable[i].name == "" {
		return stepInfo{}, false
	}
	return rawStepTable[i], true
}

// stepWorkDirName names the step that enters the working directory again.
var stepWorkDirName = stepTable[stepWorkDir].name

// stepName names step s: its kind's name, with the mount point and data of
// a mount.
func stepName(s *step) string {
	info := stepInfoOf(s.Kind)
	ok := info.name != ""
	switch {
	case !ok:
		return fmt.Sprintf("step of kind %d", s.Kind)
	case s.Kind == stepTmpfs:
		return info.name + " on " + s.Target + " (" + s.Data + ")"
	case s.Kind == stepProc:
		return info.name + " on " + s.Target
	case isFSStep(s.Kind):
		return fsStepName(s)
	case s.Kind == stepRlimit && s.Flags < uint64(len(rlimNames)):
		return info.name + " " + rlimNames[s.Flags]
	case isJoinStep(s):
		return joinStepName(s)
	}
	return info.name
}

// plan compiles the options into the in-namespace set-up (Perl:
// post_setup) and what the child needs besides. A plan for a re-executed
// child comes from childPlan.
func (n *Namespace) plan() plan {
	return plan{
		Flags: n.Flags(),
		Steps: n.steps(),
		PID1:  n.pid,
		Init:  n.initProc,
		Debug: n.debugEnabled(),

		// A PID namespace ends the descendants already.
		KillDescendants: n.killDescendants && !n.pid,
	}
}

// childPlan is plan for a child that re-executes the program (Run, Task,
// Command, a Pool, Setup), with the identities of this process's
// namespaces, by which the child makes sure it left them where it cannot
// read its parent's (checkNamespacesDiffer). The raw children of Do,
// Exec and StartProcess do not check, so their plans go without: finding
// the identities is a look-up in /proc per namespace.
func (n *Namespace) childPlan() plan {
	p := n.plan()
	p.ParentNS = parentNamespaces(p.Flags)
	return p
}

// steps returns the set-up's steps, compiled from the options once.
func (n *Namespace) steps() []step {
	n.compiled.once.Do(func() {
		s := n.compileSteps()
		// Callers that change the list copy it (withDir,
		// withDirExplicit); an append must not reach the shared array.
		n.compiled.steps = s[:len(s):len(s)]
	})
	return n.compiled.steps
}

// compileSteps compiles the options into the set-up's steps, in the
// contract's order.
func (n *Namespace) compileSteps() []step {
	s := n.joinSteps() // first: the created namespaces are made after them
	mountNS := n.needsMountNS()
	if mountNS {
		// Before any other mount, so that nothing propagates to the host
		// even if the host's / is shared.
		s = append(s, step{Kind: stepRPrivate, Target: "/", Flags: unix.MS_REC | unix.MS_PRIVATE})
	}
	// The filesystem view in order, /tmp, a new root, /proc
	// (fs_plan_linux.go).
	s = n.appendFSSteps(s)
	if n.hostname != nil && *n.hostname != "" {
		s = append(s, step{Kind: stepHostname, Data: *n.hostname})
	}
	if n.net {
		s = append(s, step{Kind: stepLoopback})
	}
	if n.time {
		s = append(s, step{Kind: stepTimeNS})
		if n.monotonic != 0 || n.boottime != 0 {
			s = append(s, step{Kind: stepTimeOffsets, Data: timensOffsets(n.monotonic, n.boottime)})
		}
	}
	if mountNS || n.joinedKinds()&syscalls.CLONE_NEWNS != 0 {
		// Joining a mount namespace enters its root as well.
		s = append(s, step{Kind: stepWorkDir})
	}
	// Last: rlimits → session → Landlock → capabilities → no_new_privs →
	// seccomp (their problems are Validate's).
	priv, _ := n.privSteps()
	return append(s, priv...)
}

// hasStep reports whether steps has a step of kind k.
func hasStep(steps []step, k stepKind) bool {
	for i := range steps {
		if steps[i].Kind == k {
			return true
		}
	}
	return false
}

// selectSteps returns the steps for which keep is true, in order.
func selectSteps(steps []step, keep func(*step) bool) []step {
	var out []step
	for i := range steps {
		if keep(&steps[i]) {
			out = append(out, steps[i])
		}
	}
	return out
}

// isTimeStep reports whether s is a step of the time namespace.
func isTimeStep(s *step) bool { return s.Kind == stepTimeNS || s.Kind == stepTimeOffsets }

// withDirExplicit returns steps with their working directory step marked
// as asked for explicitly: it fails if the directory is not there inside.
func withDirExplicit(steps []step) []step {
	out := append([]step(nil), steps...)
	for i := range out {
		if out[i].Kind == stepWorkDir {
			out[i].Flags |= wire.StepDirExplicit
		}
	}
	return out
}

// rawSteps converts steps for the raw executor (rawproc.RunSteps): C
// strings and buffers, made here so that the child allocates nothing. The
// returned steps refer to them, and keep them alive.
func rawSteps(steps []step) ([]rawproc.Step, rawproc.WorkDir, error) {
	out := make([]rawproc.Step, len(steps))
	wd := rawproc.WorkDir{Root: &[]byte("/\x00")[0]}
	for i := range steps {
		s, r := &steps[i], &out[i]
		var err error
		switch s.Kind {
		case stepRPrivate, stepTmpfs, stepProc:
			r.Op, r.Flags = rawproc.OpMount, uintptr(s.Flags)
			if r.Src, err = cString(stepInfoOf(s.Kind).fstype); err == nil {
				if r.Target, err = cString(s.Target); err == nil {
					r.Data, err = cString(s.Data)
				}
			}
		case stepHostname:
			r.Op, r.Data, r.Len = rawproc.OpHostname, &[]byte(s.Data)[0], uintptr(len(s.Data))
		case stepLoopback:
			ifr := make([]byte, rawproc.IfreqSize)
			copy(ifr, "lo")
			r.Op, r.Data = rawproc.OpLoopback, &ifr[0]
		case stepTimeNS:
			r.Op, r.Flags = rawproc.OpTimeNS, uintptr(s.Flags) // a PID namespace too: timens_linux.go
		case stepTimeOffsets:
			r.Op, r.Data, r.Len = rawproc.OpTimeOffsets, &[]byte(s.Data)[0], uintptr(len(s.Data))
			r.Target, err = cString("/proc/self/timens_offsets")
		case wire.StepJoinFD, wire.StepUnshare:
			err = rawJoinStep(s, r)
		case wire.StepSubIDs:
			r.Op = rawproc.OpUnshare // of nothing: the maps are the parent's work
		case stepWorkDir:
			r.Op = rawproc.OpWorkDir
			if s.Flags&wire.StepDirExplicit != 0 {
				r.Flags = rawproc.Explicit
			}
			if s.Target != "" {
				r.Target, err = cString(s.Target)
			} else if wd.Cwd == nil {
				wd.Cwd = make([]byte, unix.PathMax)
			}
		case stepRlimit, stepNewSession, stepLandlock, stepCapabilities, stepNoNewPrivs, stepSeccomp:
			if err = rawPrivStep(s, r); err != nil {
				err = classify(stepName(s), err, nil)
			}
		default:
			if isFSStep(s.Kind) {
				err = rawFSStep(s, r)
				break
			}
			err = fmt.Errorf("%w: a set-up step of unknown kind %d", ErrInvalid, s.Kind)
		}
		if err != nil {
			return nil, wd, err
		}
	}
	return out, wd, nil
}

// cString returns s as a C string, or ErrInvalid if s holds a NUL byte.
func cString(s string) (*byte, error) {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q contains a NUL byte", ErrInvalid, s)
	}
	return p, nil
}

// withDir returns steps that enter the directory dir, asked for
// explicitly, as their last step: the working directory step of steps, or
// one more.
func withDir(steps []step, dir string) []step {
	out := append([]step(nil), steps...)
	for i := range out {
		if out[i].Kind == stepWorkDir {
			out[i].Target, out[i].Flags = dir, out[i].Flags|wire.StepDirExplicit
			return out
		}
	}
	return append(out, step{Kind: stepWorkDir, Target: dir, Flags: wire.StepDirExplicit})
}

// stepError is a failed set-up step, carried from the child to the parent.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// runSteps is the Go executor: it performs steps in order, in the
// namespaces of the calling thread (which in a child are the whole
// process's, and a time namespace is the children's of the calling
// thread, which must then be the thread group leader). A failure is a
// *stepError naming the step.
func runSteps(steps []step, log *slog.Logger) error {
	// The working directory's path is read before anything can cover it.
	// unix.Getwd asks the kernel: os.Getwd would believe $PWD.
	var wd string
	var wdErr error
	if hasStep(steps, stepWorkDir) {
		wd, wdErr = unix.Getwd()
	}
	var fs fsState // the filesystem view's descriptors
	defer fs.close()
	for i := range steps {
		s := &steps[i]
		var err error
		if isFSStep(s.Kind) {
			err = fs.run(s)
		} else {
			err = runStep(s, wd, wdErr, log)
		}
		if err != nil {
			return &stepError{step: stepName(s), err: err}
		}
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug(stepName(s), stepAttrs(s)...)
		}
	}
	return nil
}

// stepAttrs returns the arguments of s for a debug log.
func stepAttrs(s *step) []any {
	var a []any
	if s.Target != "" {
		a = append(a, "target", s.Target)
	}
	if s.Data != "" && s.Kind != stepTmpfs { // a tmpfs's data is in its name
		a = append(a, "data", s.Data)
	}
	return a
}

// runStep performs one step; wd is the working directory's path read
// before the first step (wdErr if it could not be read).
func runStep(s *step, wd string, wdErr error, log *slog.Logger) error {
	info := stepInfoOf(s.Kind)
	var err error
	switch s.Kind {
	case stepRPrivate, stepTmpfs, stepProc:
		err = unix.Mount(info.fstype, s.Target, info.fstype, uintptr(s.Flags), s.Data)
	case stepHostname:
		err = unix.Sethostname([]byte(s.Data))
	case stepLoopback:
		return syscalls.ConfigureLoopback()
	case stepTimeNS:
		return syscalls.Unshare(syscalls.CLONE_NEWTIME)
	case stepTimeOffsets:
		return os.WriteFile("/proc/self/timens_offsets", []byte(s.Data), 0)
	case stepWorkDir:
		if s.Target != "" {
			wd, wdErr = s.Target, nil
		}
		return enterWorkDir(wd, wdErr, s.Flags&wire.StepDirExplicit != 0, log)
	case stepRlimit, stepNewSession, stepLandlock, stepCapabilities, stepNoNewPrivs, stepSeccomp:
		return runPrivStep(s)
	case wire.StepJoin, wire.StepJoinProcess, wire.StepJoinFD, wire.StepUnshare:
		return runJoinStep(s)
	case wire.StepSubIDs:
		return nil // the maps are the parent's work
	default:
		return fmt.Errorf("%w: a set-up step of unknown kind %d", ErrProtocol, s.Kind)
	}
	if err != nil {
		return os.NewSyscallError(info.call, err)
	}
	return nil
}

// enterWorkDir enters the working directory again by its path wd, read
// before the mounts (wdErr if it could not be read). Until then the process
// is still in the directory it inherited, which may be the host's: a
// directory under /tmp is not the one in the private /tmp, and relative
// paths would reach the host. An explicit directory that does not exist
// inside is an error; an inherited one falls back to /, as bubblewrap does.
func enterWorkDir(wd string, wdErr error, explicit bool, log *slog.Logger) error {
	err := wdErr
	if err == nil {
		if err = unix.Chdir(wd); err == nil {
			return nil
		}
		err = &os.PathError{Op: "chdir", Path: wd, Err: err}
	} else {
		err = os.NewSyscallError("getcwd", err)
	}
	if explicit {
		return err
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	log.Debug(stepWorkDirName+": the inherited one is not there inside; entering /", "err", err)
	return nil
}

// timensOffsets formats offsets for /proc/PID/timens_offsets.
func timensOffsets(monotonic, boottime time.Duration) string {
	line := func(clock string, d time.Duration) string {
		sec := int64(d / time.Second)
		nsec := int64(d % time.Second)
		if nsec < 0 {
			sec--
			nsec += int64(time.Second)
		}
		return fmt.Sprintf("%s %d %d\n", clock, sec, nsec)
	}
	return line("monotonic", monotonic) + line("boottime", boottime)
}

// maxClockSec is the largest clock reading, in seconds, that the kernel
// accepts in a time namespace: KTIME_SEC_MAX / 2.
const maxClockSec = math.MaxInt64 / int64(time.Second) / 2

// checkTimeOffsets rejects offsets that would make a clock negative or
// larger than the kernel allows (about 146 years), before anything is
// created (the kernel would refuse them with ERANGE).
func checkTimeOffsets(monotonic, boottime time.Duration) error {
	var ts unix.Timespec
	for _, c := range []struct {
		name  string
		id    int32
		off   time.Duration
		clock string
	}{{"monotonic", unix.CLOCK_MONOTONIC, monotonic, "CLOCK_MONOTONIC"}, {"boottime", unix.CLOCK_BOOTTIME, boottime, "CLOCK_BOOTTIME"}} {
		if c.off == 0 {
			continue
		}
		if err := unix.ClockGettime(c.id, &ts); err != nil {
			continue
		}
		now := time.Duration(ts.Nano())
		if c.off < 0 && now+c.off < 0 {
			return invalidf("%s offset %v would make %s negative (it reads %v)", c.name, c.off, c.clock, now.Truncate(time.Second))
		}
		if c.off > 0 && int64(ts.Sec)+int64(c.off/time.Second)+1 > maxClockSec {
			return invalidf("%s offset %v would take %s past the kernel's limit of %d s (it reads %v)", c.name, c.off, c.clock, maxClockSec, now.Truncate(time.Second))
		}
	}
	return nil
}
