package namespace

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
	"github.com/linuxns/namespace/internal/wire"
)

// The filesystem view's steps: their compilation from the options
// (fs_options.go) and the Go executor; internal/rawproc/fs.go is the raw
// one. Every mount is a detached tree (open_tree, fsopen/fsmount) attached
// with move_mount to a destination opened with openat2 in the view's root,
// so that a destination is resolved in the view (RESOLVE_IN_ROOT), and one
// that is created is created only below the mount that this namespace made
// for it (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV). A new
// root is built in a tree attached over /, which stays the process's root
// until pivot_root, so that sources are the caller's paths; then the fresh
// /proc is mounted and the old root detached.

const (
	stepNewRoot       = wire.StepNewRoot
	stepBindSource    = wire.StepBindSource
	stepFileSource    = wire.StepFileSource
	stepFSSource      = wire.StepFSSource
	stepOverlaySource = wire.StepOverlaySource
	stepAttach        = wire.StepAttach
	stepSetAttr       = wire.StepSetAttr
	stepSymlink       = wire.StepSymlink
	stepDir           = wire.StepDir
	stepPivot         = wire.StepPivot
	stepDetachOldRoot = wire.StepDetachOldRoot
)

// isFSStep reports whether k is a step kind of the filesystem view.
func isFSStep(k stepKind) bool { return k >= stepNewRoot && k <= stepDetachOldRoot }

// isInitStep reports whether s is a step that PID 1 of WithMinimalInit
// performs, in its PID namespace, rather than the Go child outside it, in
// a plan with a fresh /proc: the /proc, and after it the old root's
// detachment (the kernel mounts a /proc in a user namespace only while a
// full /proc is in the mount namespace, as the old root's is).
func isInitStep(s *step) bool {
	return s.Kind == stepProc || s.Kind == stepDetachOldRoot || isFSStep(s.Kind) && s.Flags&wire.StepProcGuard != 0
}

// procReadOnly lists the parts of a fresh /proc made read-only after its
// mount, as bubblewrap does: the kernel checks only file permissions on a
// write to them, and a root without capabilities (and without a user
// namespace) owns them, e.g. /proc/sys/kernel/core_pattern, a way to run a
// program on the host.
var procReadOnly = []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"}

// procGuard adds the steps that bind each of procReadOnly over itself,
// read-only; one missing on this kernel is skipped.
func (c *fsCompiler) procGuard() {
	const f = wire.StepOptional | wire.StepProcGuard
	for _, p := range procReadOnly {
		c.steps = append(c.steps, step{Kind: stepBindSource, Target: p, Data: p, Flags: wire.StepAttrReadOnly | f},
			step{Kind: stepAttach, Target: p, Flags: wire.StepWithAnchor(f, -1)}) // in the fresh /proc: it exists
	}
}

// fsStepName names a step of the filesystem view with its paths.
func fsStepName(s *step) string {
	info := stepInfoOf(s.Kind)
	switch s.Kind {
	case stepNewRoot:
		if s.Data == "" {
			return "make the new root (an empty tmpfs)"
		}
		return info.name + " from " + s.Data
	case stepBindSource:
		return info.name + " " + s.Data + " (for " + s.Target + ")"
	case stepFileSource:
		return info.name + " " + s.Target
	case stepFSSource:
		return "make a " + s.Target + " file system"
	case stepOverlaySource:
		return info.name + " of " + s.Data
	case stepAttach:
		return info.name + " on " + s.Target
	case stepSetAttr:
		return "make " + s.Target + " read-only"
	case stepSymlink:
		return info.name + " " + s.Target + " -> " + s.Data
	case stepDir:
		return info.name + " " + s.Target
	}
	return info.name
}

// fsMount is a mount that the view's compilation knows of: its
// destination, and whether it is a fresh file system that this namespace
// made (below which a destination may be created).
type fsMount struct {
	path  string
	fresh bool
}

// fsCompiler compiles the filesystem view.
type fsCompiler struct {
	mounts []fsMount
	steps  []step
}

// anchor returns the flags f with the anchor of dst: the destination of
// the nearest mount above dst, if it is fresh.
func (c *fsCompiler) anchor(dst string, f uint64) uint64 {
	best := -1
	for i := range c.mounts {
		m := c.mounts[i].path
		if m != dst && under(dst, m) && (best < 0 || len(m) >= len(c.mounts[best].path)) {
			best = i
		}
	}
	if best >= 0 && c.mounts[best].fresh {
		return wire.StepWithAnchor(f, len(c.mounts[best].path))
	}
	return wire.StepWithAnchor(f, -1)
}

// mount adds a source step and its attach at dst.
func (c *fsCompiler) mount(src step, dst string, fresh bool, attachFlags uint64) {
	c.steps = append(c.steps, src, step{Kind: stepAttach, Target: dst, Flags: c.anchor(dst, attachFlags)})
	c.mounts = append(c.mounts, fsMount{dst, fresh})
}

// tmpfs adds a fresh tmpfs at dst.
func (c *fsCompiler) tmpfs(dst string, t *tmpfsConfig) {
	c.mount(step{Kind: stepFSSource, Target: "tmpfs", Data: t.options(), Flags: wire.StepAttrNoSuid | wire.StepAttrNoDev}, dst, true, 0)
}

// appendFSSteps compiles the filesystem view and the private /tmp and
// /proc into s: the options in order, then /tmp, then (with a new root)
// pivot_root, /proc, and the old root's detachment.
func (n *Namespace) appendFSSteps(s []step) []step {
	c := fsCompiler{mounts: []fsMount{{"/", false}}, steps: s}
	newRoot := false
	for i := range n.fs {
		op := &n.fs[i]
		dst := cleanPath(op.dst)
		switch op.kind {
		case fsRoot, fsEmptyRoot:
			c.steps = append(c.steps, step{Kind: stepNewRoot, Target: "/", Data: op.src})
			c.mounts = append(c.mounts, fsMount{"/", op.kind == fsEmptyRoot})
			newRoot = true
		case fsBind:
			attrs := uint64(wire.StepAttrNoSuid)
			if !op.devices {
				attrs |= wire.StepAttrNoDev
			}
			if op.ro {
				attrs |= wire.StepAttrReadOnly
			}
			var opt uint64
			if op.optional {
				opt = wire.StepOptional
			}
			c.mount(step{Kind: stepBindSource, Target: dst, Data: op.src, Flags: attrs | opt}, dst, false, opt)
		case fsTmpfs:
			c.tmpfs(dst, op.tmp)
		case fsFile:
			attrs := uint64(wire.StepAttrNoSuid | wire.StepAttrNoDev)
			if op.mode&0o222 == 0 {
				attrs |= wire.StepAttrReadOnly
			}
			c.mount(step{Kind: stepFileSource, Target: dst, Data: string(op.content), Flags: uint64(unixMode(op.mode)) | attrs<<12}, dst, false, 0)
		case fsTmpOverlay:
			c.mount(step{Kind: stepOverlaySource, Target: dst, Data: op.src, Flags: wire.StepAttrNoSuid | wire.StepAttrNoDev}, dst, true, 0)
		case fsReadOnlyRoot, fsRemountRO:
			c.steps = append(c.steps, step{Kind: stepSetAttr, Target: dst, Flags: wire.StepAttrReadOnly})
		case fsSymlink:
			c.steps = append(c.steps, step{Kind: stepSymlink, Target: dst, Data: op.src, Flags: c.anchor(dst, 0)})
		case fsDir:
			c.steps = append(c.steps, step{Kind: stepDir, Target: dst, Flags: c.anchor(dst, uint64(unixMode(op.mode)))})
		case fsDev:
			c.dev()
		}
	}
	if n.tmp != nil {
		if newRoot {
			// The classic tmpfs step's flags and mode, through fsmount,
			// into the new root.
			c.tmpfs("/tmp", n.tmp)
		} else {
			c.steps = append(c.steps, step{Kind: stepTmpfs, Target: "/tmp", Data: n.tmp.data(), Flags: unix.MS_NOSUID | unix.MS_NODEV})
		}
	}
	if newRoot {
		if n.mountsProc() {
			// The mount point of the fresh /proc, made if the root is
			// empty; a root from a directory must have it.
			c.steps = append(c.steps, step{Kind: stepDir, Target: "/proc", Flags: c.anchor("/proc", 0o555)})
		}
		c.steps = append(c.steps, step{Kind: stepPivot})
	}
	if n.mountsProc() {
		c.steps = append(c.steps, step{Kind: stepProc, Target: "/proc", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC})
		c.procGuard()
	}
	if newRoot {
		c.steps = append(c.steps, step{Kind: stepDetachOldRoot})
	}
	return c.steps
}

// dev adds the steps of WithDev.
func (c *fsCompiler) dev() {
	c.mount(step{Kind: stepFSSource, Target: "tmpfs", Data: "mode\x000755\x00", Flags: wire.StepAttrNoSuid | wire.StepAttrNoExec}, "/dev", true, 0)
	for _, node := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		p := "/dev/" + node
		c.mount(step{Kind: stepBindSource, Target: p, Data: p, Flags: wire.StepAttrNoSuid | wire.StepAttrNoExec}, p, false, 0)
	}
	c.steps = append(c.steps, step{Kind: stepDir, Target: "/dev/shm", Flags: c.anchor("/dev/shm", 0o1777)})
	c.steps = append(c.steps, step{Kind: stepDir, Target: "/dev/pts", Flags: c.anchor("/dev/pts", 0o755)})
	c.mount(step{Kind: stepFSSource, Target: "devpts", Data: "newinstance\x00\x00ptmxmode\x000666\x00mode\x00620\x00",
		Flags: wire.StepAttrNoSuid | wire.StepAttrNoExec}, "/dev/pts", false, 0)
	for _, l := range [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"}} {
		p := "/dev/" + l[1]
		c.steps = append(c.steps, step{Kind: stepSymlink, Target: p, Data: l[0], Flags: c.anchor(p, 0)})
	}
}

// options returns the tmpfs's options for fsconfig: key NUL value NUL ….
func (t *tmpfsConfig) options() string {
	s := fmt.Sprintf("mode\x00%04o\x00", unixMode(t.mode))
	if t.size > 0 {
		s += fmt.Sprintf("size\x00%d\x00", t.size)
	}
	if t.inodes > 0 {
		s += fmt.Sprintf("nr_inodes\x00%d\x00", t.inodes)
	}
	return s
}

// unixMode returns the permission bits of m as in chmod(2).
func unixMode(m os.FileMode) uint32 {
	perm := uint32(m.Perm())
	if m&os.ModeSticky != 0 {
		perm |= unix.S_ISVTX
	}
	if m&os.ModeSetgid != 0 {
		perm |= unix.S_ISGID
	}
	if m&os.ModeSetuid != 0 {
		perm |= unix.S_ISUID
	}
	return perm
}

// walkOf returns the walk of a destination with an anchor, for the raw
// executor: the anchor, then each element below it, each NUL-terminated,
// then a NUL; or nil if s has no anchor.
func walkOf(s *step) (*byte, error) {
	n := wire.StepAnchorLen(s.Flags)
	if n < 0 {
		return nil, nil
	}
	if n > len(s.Target) || !under(s.Target, s.Target[:n]) || s.Target == s.Target[:n] {
		return nil, fmt.Errorf("%w: the anchor of %q is not above it", ErrInvalid, s.Target)
	}
	b := append([]byte(s.Target[:n]), 0)
	for _, e := range strings.Split(strings.TrimPrefix(s.Target[n:], "/"), "/") {
		if e == "" || e == "." || e == ".." {
			return nil, fmt.Errorf("%w: the destination %q is not clean", ErrInvalid, s.Target)
		}
		b = append(append(b, e...), 0)
	}
	return &append(b, 0)[0], nil
}

// rawFSStep converts a step of the filesystem view for the raw executor.
func rawFSStep(s *step, r *rawproc.Step) error {
	var err error
	r.Op = rawproc.Op(s.Kind)
	r.Flags = uintptr(uint32(s.Flags))
	cs := func(dst **byte, v string) {
		if err == nil {
			*dst, err = cString(v)
		}
	}
	switch s.Kind {
	case stepNewRoot:
		if s.Data != "" {
			cs(&r.Src, s.Data)
		}
	case stepBindSource:
		cs(&r.Src, s.Data)
	case stepFileSource:
		if len(s.Data) > 0 {
			r.Data, r.Len = &[]byte(s.Data)[0], uintptr(len(s.Data))
		}
	case stepFSSource:
		cs(&r.Src, s.Target)
		r.Data = &append([]byte(s.Data), 0)[0]
	case stepOverlaySource:
		cs(&r.Src, s.Data)
	case stepAttach, stepDir:
		cs(&r.Target, s.Target)
		if err == nil {
			r.Src, err = walkOf(s)
		}
	case stepSetAttr:
		cs(&r.Target, s.Target)
	case stepSymlink:
		cs(&r.Target, s.Target)
		if err == nil {
			r.Src, err = walkOf(s)
		}
		b := make([]byte, 2*len(s.Data)+2) // the content, NUL, room to read a link into
		copy(b, s.Data)
		r.Data, r.Len = &b[0], uintptr(len(s.Data))
	}
	return err
}

// fsStepErr describes the failure e of the step s of the filesystem view,
// for both executors.
func fsStepErr(s *step, e syscall.Errno) error {
	info := stepInfoOf(s.Kind)
	switch s.Kind {
	case stepNewRoot, stepBindSource, stepOverlaySource:
		if s.Data != "" {
			return &os.PathError{Op: info.call, Path: s.Data, Err: e}
		}
	case stepAttach, stepSymlink, stepDir, stepSetAttr:
		err := &os.PathError{Op: info.call, Path: s.Target, Err: e}
		switch {
		case wire.StepAnchorLen(s.Flags) < 0 && e == syscall.ENOENT && s.Kind != stepSetAttr:
			return fmt.Errorf("%w: %s is not there, and it is created only below a tmpfs or an empty root that this namespace made: make it in the source, or mount a tmpfs above it first", err, s.Target)
		case e == syscall.ELOOP || e == syscall.EXDEV:
			return fmt.Errorf("%w: a symbolic link or another mount is in the way of creating %s below %s", err, s.Target, s.Target[:wire.StepAnchorLen(s.Flags)])
		case e == syscall.EEXIST && s.Kind == stepSymlink:
			return fmt.Errorf("%w: something other than a link to %s is there", err, s.Data)
		}
		return err
	}
	return os.NewSyscallError(info.call, e)
}

// fsState is the Go executor's state between the filesystem view's
// steps: the same as the raw executor's.
type fsState struct{ raw rawproc.FSState }

// run performs the step s of the filesystem view: the raw executor's code
// is plain Go without allocation, so the Go executor calls it (with the
// arguments converted as for the raw executor): one implementation.
func (f *fsState) run(s *step) error {
	var r rawproc.Step
	if err := rawFSStep(s, &r); err != nil {
		return err
	}
	if e := rawproc.RunFS(&r, &f.raw); e != 0 {
		return fsStepErr(s, e)
	}
	return nil
}

// close closes the state's descriptors.
func (f *fsState) close() { rawproc.CloseFS(&f.raw) }
