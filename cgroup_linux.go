package namespace

// The cgroup step: the parent makes the child's cgroup before the clone
// (the kernel's CLONE_INTO_CGROUP takes a descriptor of it), and kills what
// is left in it and removes it when the child has ended. See
// docs/cgroups.md.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupStepName names the cgroup step in errors (stepTable's name of
// wire.StepCgroup).
var cgroupStepName = stepTable[stepCgroup].name

// A cgroupDir is the cgroup a child is born in, opened for clone3.
type cgroupDir struct {
	path string
	fd   int  // a descriptor of the directory, for CLONE_INTO_CGROUP; -1 once closed
	own  bool // made for the child: what is left in it is killed and it is removed

	// Of a cgroup of the child's own: descriptors of it and of the
	// directory it was made in, and its name there, kept until it is
	// removed. Its files are opened under them, never by path again: the
	// path may name something else by then (a symbolic link changed, the
	// cgroup removed and another made under its name).
	dir, parent int
	name        string

	closeOnce sync.Once

	finishOnce sync.Once
	usage      CgroupUsage
	err        error
}

// cgroupSeq numbers the cgroups this process makes.
var cgroupSeq atomic.Uint64

// openCgroup makes (or, with WithCgroup, opens) the cgroup of a child of n
// before it is started, or returns nil if n asks for none. Nothing is
// made if it fails.
func (n *Namespace) openCgroup() (*cgroupDir, error) {
	c := n.cg
	parent, err := n.cgroupParent()
	if err != nil || parent == "" {
		return nil, err
	}
	if c.join != "" {
		fd, err := unix.Open(c.join, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, classify(cgroupStepName+" "+c.join, &os.PathError{Op: "open", Path: c.join, Err: err}, n)
		}
		return &cgroupDir{path: c.join, fd: fd, dir: -1, parent: -1}, nil
	}
	given := "WithCgroupParent"
	if c.parent == "" {
		given = "the default cgroup parent"
	}
	pfd, err := openCgroupDir(given, parent)
	if err != nil {
		return nil, err
	}
	n.sweepCgroupsOnce(parent, pfd) // what dead callers left: cgroup_sweep_linux.go
	// The name may be taken: a process with the same pid in another PID
	// namespace shares the parent, or someone made it. Take the next one.
	var name, dir string
	for try := 0; ; try++ {
		name = cgroupName(cgroupSeq.Add(1))
		dir = filepath.Join(parent, name)
		if err = unix.Mkdirat(pfd, name, 0o755); err != unix.EEXIST || try == 100 {
			break
		}
	}
	if err != nil {
		unix.Close(pfd)
		e := classify(cgroupStepName+" under "+parent, &os.PathError{Op: "mkdir", Path: dir, Err: err}, n)
		if se, ok := e.(*SetupError); ok && errors.Is(err, fs.ErrPermission) {
			se.Hint = "the caller may not make a cgroup in " + parent + ": give a directory delegated to it with WithCgroupParent (--cgroup-parent)"
		}
		return nil, e
	}
	cg := &cgroupDir{path: dir, fd: -1, own: true, dir: -1, parent: pfd, name: name}
	fail := func(err error) (*cgroupDir, error) {
		if cg.dir >= 0 {
			unix.Close(cg.dir)
		}
		_ = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
		unix.Close(pfd)
		return nil, classify(cgroupStepName+" "+dir, err, n)
	}
	if cg.dir, err = unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
		cg.dir = -1
		return fail(&os.PathError{Op: "open", Path: dir, Err: err})
	}
	if err := cg.writeLimits(c); err != nil {
		return fail(err)
	}
	if cg.fd, err = unix.FcntlInt(uintptr(cg.dir), unix.F_DUPFD_CLOEXEC, 0); err != nil {
		cg.fd = -1
		return fail(os.NewSyscallError("fcntl", err))
	}
	return cg, nil
}

// cgroupParent checks, creating nothing, that the host can give the
// cgroup that n asks for, and returns the directory under which the
// child's own cgroup is made (or, with WithCgroup, the cgroup to join), or
// "" if n asks for none.
func (n *Namespace) cgroupParent() (string, error) {
	c := n.cg
	if c == nil || (!c.limits() && c.join == "") {
		return "", nil
	}
	if _, err := cgroup2Mount(); err != nil {
		return "", err
	}
	if c.join != "" {
		return c.join, checkCgroupDir("WithCgroup", c.join)
	}
	parent := c.parent
	if parent == "" {
		var err error
		if parent, err = defaultCgroupParent(); err != nil {
			return "", err
		}
	} else if err := checkCgroupDir("WithCgroupParent", parent); err != nil {
		return "", err
	}
	if err := checkControllers(parent, c); err != nil {
		return "", err
	}
	if c.parent == "" {
		if err := unix.Access(parent, unix.W_OK); err != nil {
			return "", fmt.Errorf("namespace: %s: %w: the caller may not make a cgroup in %s (the default: its own cgroup, or the one above it): give a directory delegated to it with WithCgroupParent (--cgroup-parent): %w",
				cgroupStepName, ErrPermission, parent, &os.PathError{Op: "access", Path: parent, Err: err})
		}
	}
	return parent, nil
}

// writeLimits writes the limits of c into the cgroup's files.
func (cg *cgroupDir) writeLimits(c *cgroupConfig) error {
	write := func(file, value string) error {
		return writeCgroupFile(cg.dir, cg.path, file, value)
	}
	if c.memory > 0 {
		if err := write("memory.max", strconv.FormatInt(c.memory, 10)); err != nil {
			return err
		}
		// Only with swap accounting; the limit must not be spent in swap.
		if err := write("memory.swap.max", "0"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if c.pids > 0 {
		if err := write("pids.max", strconv.FormatInt(c.pids, 10)); err != nil {
			return err
		}
	}
	if c.cpus > 0 {
		if err := write("cpu.max", cpuMax(c.cpus)); err != nil {
			return err
		}
	}
	return nil
}

// cpuMax formats cpu.max for cpus CPUs.
func cpuMax(cpus float64) string {
	return strconv.FormatInt(int64(cpus*cpuPeriod+0.5), 10) + " " + strconv.Itoa(cpuPeriod)
}

// into makes a child started with attr born in cg (nil: none).
func (cg *cgroupDir) into(attr *syscall.SysProcAttr) {
	if cg != nil {
		attr.UseCgroupFD, attr.CgroupFD = true, cg.fd
	}
}

// closeFD closes the descriptor once the child is started.
func (cg *cgroupDir) closeFD() {
	if cg != nil {
		cg.closeOnce.Do(func() {
			if cg.fd >= 0 {
				unix.Close(cg.fd)
			}
		})
	}
}

// finish is called when the child has ended: it kills what the child left
// in its own cgroup, reads what the cgroup counted and removes it. A cgroup
// given with WithCgroup is left in place.
func (cg *cgroupDir) finish() (CgroupUsage, error) {
	if cg == nil {
		return CgroupUsage{}, nil
	}
	cg.finishOnce.Do(func() { cg.usage, cg.err = cg.remove() })
	return cg.usage, cg.err
}

func (cg *cgroupDir) remove() (CgroupUsage, error) {
	cg.closeFD()
	u := CgroupUsage{Path: cg.path, MemoryPeak: -1}
	if !cg.own {
		return u, nil
	}
	defer func() {
		unix.Close(cg.dir)
		unix.Close(cg.parent)
		cg.dir, cg.parent = -1, -1
	}()
	_ = unix.Fchmod(cg.dir, 0o755) // the child may have locked it (see unlock)
	err := killCgroup(cg.dir, cg.path)
	u.OOMKills = max(0, readKeyed(cg.dir, "memory.events", "oom_kill"))
	if b, rerr := readCgroupFile(cg.dir, "memory.peak"); rerr == nil {
		if v, perr := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); perr == nil {
			u.MemoryPeak = v
		}
	}
	u.CPUTime = time.Duration(max(0, readKeyed(cg.dir, "cpu.stat", "usage_usec"))) * time.Microsecond
	if rerr := removeCgroup(cg.parent, cg.name, cg.path); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return u, fmt.Errorf("namespace: remove the child's cgroup %s: %w", cg.path, err)
	}
	return u, nil
}

// cgroup2Mount returns the mount point of the cgroup v2 hierarchy, or
// ErrUnsupported if none is mounted.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("namespace: %s: %w", cgroupStepName, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source ...
		line := sc.Text()
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if fields := strings.Fields(pre); len(fields) >= 5 {
			return unescapeMountinfo(fields[4]), nil
		}
	}
	return "", fmt.Errorf("namespace: %s: %w: no cgroup v2 hierarchy is mounted (this host has cgroup v1 only); the cgroup options need cgroup v2 (boot with systemd.unified_cgroup_hierarchy=1, or mount -t cgroup2)", cgroupStepName, ErrUnsupported)
}

// unescapeMountinfo undoes the octal escapes (\040) of a mountinfo field.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkCgroupDir checks that dir, given with option, is a directory of the
// cgroup v2 hierarchy.
func checkCgroupDir(option, dir string) error {
	fd, err := openCgroupDir(option, dir)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// openCgroupDir opens dir, given with option, and checks that what it
// opened is a directory of the cgroup v2 hierarchy.
func openCgroupDir(option, dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("namespace: %s: %w: %s(%q): %w", cgroupStepName, ErrInvalid, option, dir, &os.PathError{Op: "open", Path: dir, Err: err})
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		unix.Close(fd)
		return -1, fmt.Errorf("namespace: %s: %w: %s(%q) is not a directory of the cgroup v2 hierarchy", cgroupStepName, ErrInvalid, option, dir)
	}
	return fd, nil
}

// defaultCgroupParent returns the directory under which a child's own
// cgroup is made when WithCgroupParent is not given: the caller's cgroup if
// it is the root of the hierarchy, else the one above it.
func defaultCgroupParent() (string, error) {
	mnt, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("namespace: %s: %w", cgroupStepName, err)
	}
	own := ""
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own = p
		}
	}
	if own == "" || strings.HasSuffix(own, " (deleted)") {
		return "", fmt.Errorf("namespace: %s: %w: the caller is in no cgroup v2 cgroup (/proc/self/cgroup); give WithCgroupParent (--cgroup-parent)", cgroupStepName, ErrUnsupported)
	}
	dir := filepath.Join(mnt, own)
	if own != "/" {
		// A cgroup with processes (the caller) cannot enable controllers
		// for its children: make the child's beside the caller's.
		dir = filepath.Dir(dir)
	}
	return dir, nil
}

// checkControllers checks that the controllers of c's limits are enabled
// for the children of parent, or says which is missing.
func checkControllers(parent string, c *cgroupConfig) error {
	var need []string
	if c.memory > 0 {
		need = append(need, "memory")
	}
	if c.pids > 0 {
		need = append(need, "pids")
	}
	if c.cpus > 0 {
		need = append(need, "cpu")
	}
	if len(need) == 0 {
		return nil
	}
	avail, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("namespace: %s: %w", cgroupStepName, err)
	}
	enabled, err := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("namespace: %s: %w", cgroupStepName, err)
	}
	for _, ctl := range need {
		switch {
		case !hasWord(avail, ctl):
			return fmt.Errorf("namespace: %s: %w: the cgroup v2 hierarchy has no %s controller at %s (it is bound to a cgroup v1 hierarchy, or not enabled above %s)", cgroupStepName, ErrUnsupported, ctl, parent, parent)
		case !hasWord(enabled, ctl):
			return fmt.Errorf("namespace: %s: %w: the %s controller is not enabled for the children of %s: enable it (echo +%s > %s/cgroup.subtree_control) or give another WithCgroupParent", cgroupStepName, ErrUnsupported, ctl, parent, ctl, parent)
		}
	}
	return nil
}

func hasWord(b []byte, w string) bool {
	for _, f := range strings.Fields(string(b)) {
		if f == w {
			return true
		}
	}
	return false
}

// startErrorIn explains a failed clone into cgroup cg (nil: none): the
// errors that only the cgroup causes, or those of startError.
func (n *Namespace) startErrorIn(cg *cgroupDir, err error) error {
	var errno syscall.Errno
	if cg == nil || !errors.As(err, &errno) {
		return n.startError(err)
	}
	switch errno {
	case unix.ENOSYS, unix.E2BIG:
		return &SetupError{Step: cgroupStepName + " " + cg.path, Err: err, kind: ErrUnsupported,
			Hint: "starting a process in its cgroup (clone3 with CLONE_INTO_CGROUP) needs Linux 5.7"}
	case unix.EACCES:
		return &SetupError{Step: cgroupStepName + " " + cg.path, Err: err, kind: ErrPermission,
			Hint: "the caller may not move a process into " + cg.path + ": it needs write access to cgroup.procs of the cgroup that holds both it and the caller (a delegated subtree)"}
	case unix.EBUSY, unix.EOPNOTSUPP:
		return &SetupError{Step: cgroupStepName + " " + cg.path, Err: err, kind: ErrInvalid,
			Hint: "a process cannot be put in a cgroup whose controllers are enabled for its children (the kernel's no-internal-process rule), nor in a threaded one: give a leaf"}
	}
	return n.startError(err)
}

// withUsage adds to err, the outcome of a child, what its cgroup counted:
// ErrMemoryLimit if the memory limit killed a process, and the failure to
// remove the cgroup (cerr), which fails even a successful job.
func withUsage(err error, u CgroupUsage, cerr error) error {
	if err != nil && u.OOMKills > 0 {
		err = fmt.Errorf("namespace: %w (%d process(es) killed in %s): %w", ErrMemoryLimit, u.OOMKills, u.Path, err)
	}
	if cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}
