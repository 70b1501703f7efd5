package namespace

import (
	"os"
	"strings"
)

// The filesystem view: options that say what the child sees of the file
// system, applied in the order given (as bubblewrap applies its
// arguments). Each needs a mount namespace, which it implies. Every verb
// honours them: Do's and Exec's thread has a mount namespace and a root of
// its own (unshare(CLONE_NEWNS) gives it its own fs_struct), so even a new
// root changes that thread only.
//
// Paths are absolute; a destination is resolved inside the view being
// built (inside the new root, once WithRoot or WithEmptyRoot made one, with
// symbolic links followed as if it were already the root), a source in
// the caller's file system. Nothing of the host is ever created or
// changed: a destination that does not exist is created only below a
// tmpfs or an empty root that the namespace itself made (and then without
// following symbolic links or crossing mounts); elsewhere it is a
// *SetupError naming the path. A missing source is a *SetupError that
// wraps fs.ErrNotExist.
//
// Validate refuses, before anything is created (ErrInvalid): an empty or
// relative path, a destination with a ".." element or a NUL byte, and a
// destination at or under a path that a later option replaces (a later
// bind, tmpfs, file, overlay, WithDev's /dev, a new root's /, or the /tmp
// of WithPrivateTmp and the /proc of WithPrivatePID, which are mounted
// after the filesystem options, in the view).

// fsKind is the kind of a filesystem view option.
type fsKind uint8

const (
	fsBind fsKind = iota + 1
	fsTmpfs
	fsReadOnlyRoot
	fsRoot
	fsEmptyRoot
	fsSymlink
	fsDir
	fsFile
	fsRemountRO
	fsDev
	fsTmpOverlay
)

// fsOp is one filesystem view option.
type fsOp struct {
	kind     fsKind
	name     string // the option's name, for errors
	src, dst string // dst: the path in the view; src: a source, a root directory or a link's content
	ro       bool
	optional bool
	devices  bool
	mode     os.FileMode
	content  []byte
	tmp      *tmpfsConfig
	errs     []error
}

// A BindOption tunes a bind mount of WithBind or WithReadOnlyBind.
type BindOption func(*fsOp)

// BindOptional skips the bind if its source does not exist (bubblewrap's
// --bind-try and --ro-bind-try), instead of failing.
func BindOptional() BindOption { return func(o *fsOp) { o.optional = true } }

// BindDevices lets device nodes under the source work (bubblewrap's
// --dev-bind); without it the bind is mounted nodev.
func BindDevices() BindOption { return func(o *fsOp) { o.devices = true } }

func fsOption(op fsOp, opts ...BindOption) Option {
	for _, f := range opts {
		if f != nil {
			f(&op)
		}
	}
	return option(op.name, func(n *Namespace) { n.fs = append(n.fs, op) })
}

// WithBind mounts the tree at src (a recursive bind, with every mount
// below it) on dst, read-write, nosuid and, unless BindDevices is given,
// nodev; mount flags that the source's mounts have (read-only, nosuid,
// nodev, noexec) stay. A write through it shows on the host. Every verb
// honours it.
func WithBind(src, dst string, opts ...BindOption) Option {
	return fsOption(fsOp{kind: fsBind, name: "WithBind", src: src, dst: dst}, opts...)
}

// WithReadOnlyBind is WithBind, read-only on every mount of the bound tree
// (mount_setattr with AT_RECURSIVE): a write through it fails with EROFS,
// on a submount of the bound tree too. The source's own flags stay, so
// that it works in a user namespace, where the kernel locks them. Every
// verb honours it.
func WithReadOnlyBind(src, dst string, opts ...BindOption) Option {
	return fsOption(fsOp{kind: fsBind, name: "WithReadOnlyBind", src: src, dst: dst, ro: true}, opts...)
}

// WithTmpfs mounts a fresh tmpfs on dst, nosuid,nodev, mode 0755 unless
// TmpfsMode says otherwise (TmpfsSize and TmpfsInodes limit it). Every
// verb honours it.
func WithTmpfs(dst string, opts ...TmpfsOption) Option {
	t := &tmpfsConfig{mode: 0o755}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	return fsOption(fsOp{kind: fsTmpfs, name: "WithTmpfs", dst: dst, tmp: t})
}

// WithReadOnlyRoot makes every mount of the view read-only (the root and
// every mount below it, at this point of the order): mounts that later
// options add stay writable, and so do the /tmp of WithPrivateTmp and the
// /proc of WithPrivatePID, which come after every filesystem option. Given
// first, it freezes the host's tree; given last, the built view. Every
// verb honours it.
func WithReadOnlyRoot() Option {
	return fsOption(fsOp{kind: fsReadOnlyRoot, name: "WithReadOnlyRoot", dst: "/"})
}

// WithRoot makes dir (a recursive bind of it) the child's root, through
// pivot_root: the old root is detached once the set-up is done, so that no
// path (.., /proc/self/root, /proc/1/root) reaches it; this is not a mere
// chroot. The options that follow build inside the new root (their
// destinations are paths in it; their sources are the caller's), and so
// do WithPrivateTmp and WithPrivatePID's /proc, which must find /tmp and
// /proc there. It must come before every other filesystem option (they
// would be under the / it replaces). Every verb honours it.
func WithRoot(dir string) Option {
	return fsOption(fsOp{kind: fsRoot, name: "WithRoot", src: dir, dst: "/"})
}

// WithEmptyRoot makes the child's root a fresh tmpfs (mode 0755), as
// WithRoot does with a directory, to be filled by the options that follow:
// every destination is created in it (directories, empty files for binds of
// files, the mount points of /tmp and /proc). Every verb honours it.
func WithEmptyRoot() Option {
	return fsOption(fsOp{kind: fsEmptyRoot, name: "WithEmptyRoot", dst: "/"})
}

// WithSymlink makes the symbolic link link with the content target (which
// may be relative, e.g. "usr/bin" for /bin), as bubblewrap's --symlink. A
// link that exists already with that content is kept. Every verb honours
// it.
func WithSymlink(target, link string) Option {
	return fsOption(fsOp{kind: fsSymlink, name: "WithSymlink", src: target, dst: link})
}

// WithDir makes the directory path with the permissions mode (and its
// missing parents, 0755), as bubblewrap's --dir; a directory that exists
// is kept as it is. Every verb honours it.
func WithDir(path string, mode os.FileMode) Option {
	return fsOption(fsOp{kind: fsDir, name: "WithDir", dst: path, mode: mode})
}

// WithFile puts a file with content and the permissions mode on dst, read-
// only unless mode has a write bit, without writing it anywhere on the
// host: it is made on a tmpfs of its own, in the namespace, and bind-
// mounted on dst (as bubblewrap's --file and --ro-bind-data; for a
// generated /etc/passwd, resolv.conf or configuration). Every verb honours
// it.
func WithFile(dst string, content []byte, mode os.FileMode) Option {
	return fsOption(fsOp{kind: fsFile, name: "WithFile", dst: dst, content: append([]byte(nil), content...), mode: mode})
}

// WithRemountReadOnly makes the mount at dst, and every mount below it,
// read-only (bubblewrap's --remount-ro). Every verb honours it.
func WithRemountReadOnly(dst string) Option {
	return fsOption(fsOp{kind: fsRemountRO, name: "WithRemountReadOnly", dst: dst})
}

// WithDev mounts a minimal /dev (bubblewrap's --dev): a tmpfs with null,
// zero, full, random, urandom and tty bind-mounted from the host's /dev (so
// that it works without privilege), shm, pts with its own devpts instance
// and ptmx, and the links fd, stdin, stdout, stderr and core into /proc.
// Every verb honours it.
//
// It builds /dev in a new root, so it must follow WithRoot or WithEmptyRoot
// (ErrInvalid otherwise), as bubblewrap's --dev, whose root is always new:
// over the host's root, the tmpfs on /dev would cover the host's device
// nodes before they are bound. To keep the host's /dev in a view of the
// host, use WithBind("/dev", "/dev", BindDevices()).
func WithDev() Option {
	return fsOption(fsOp{kind: fsDev, name: "WithDev", dst: "/dev"})
}

// WithTmpOverlay mounts an overlay on dir whose lower layer is dir and
// whose upper layer is a fresh tmpfs: the child may write anywhere under
// dir, and its writes vanish with the namespace. It works in a user
// namespace on kernels from 5.11. Every verb honours it.
func WithTmpOverlay(dir string) Option {
	return fsOption(fsOp{kind: fsTmpOverlay, name: "WithTmpOverlay", src: dir, dst: dir})
}

// replaces returns the path that op mounts over, or "".
func (op *fsOp) replaces() string {
	switch op.kind {
	case fsBind, fsTmpfs, fsRoot, fsEmptyRoot, fsFile, fsDev, fsTmpOverlay:
		return op.dst
	}
	return ""
}

// under reports whether path p is at or below dir (both clean, absolute).
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// checkFSPath checks an absolute path of an option.
func checkFSPath(name, what, p string, dest bool) error {
	switch {
	case p == "":
		return invalidf("%s: the %s is empty", name, what)
	case p[0] != '/':
		return invalidf("%s: the %s %q is relative; give an absolute path", name, what, p)
	case strings.IndexByte(p, 0) >= 0:
		return invalidf("%s: the %s %q contains a NUL byte", name, what, p)
	}
	if dest {
		for _, e := range strings.Split(p, "/") {
			if e == ".." {
				return invalidf("%s: the %s %q has a \"..\" element", name, what, p)
			}
		}
	}
	return nil
}

// cleanPath removes repeated, trailing and "." separators of an absolute
// path without "..".
func cleanPath(p string) string {
	var b strings.Builder
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." {
			continue
		}
		b.WriteString("/")
		b.WriteString(e)
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// checkFS checks the filesystem view's options, in order.
func (n *Namespace) checkFS() []error {
	var errs []error
	newRoot := false
	for i := range n.fs {
		op := &n.fs[i]
		errs = append(errs, op.errs...)
		switch op.kind {
		case fsRoot, fsEmptyRoot:
			newRoot = true
		case fsDev:
			if !newRoot {
				errs = append(errs, invalidf("WithDev builds /dev in a new root: give WithRoot or WithEmptyRoot before it (over the host's root, its tmpfs would cover the host's device nodes before they are bound); to keep the host's /dev, use WithBind(\"/dev\", \"/dev\", BindDevices())"))
			}
		}
		if op.tmp != nil {
			errs = append(errs, op.tmp.check()...)
		}
		switch op.kind {
		case fsBind, fsRoot, fsTmpOverlay:
			if err := checkFSPath(op.name, "source", op.src, false); err != nil {
				errs = append(errs, err)
			}
			if op.kind == fsTmpOverlay && strings.ContainsAny(op.src, ":,\\") {
				errs = append(errs, invalidf("%s: the directory %q has ':', ',' or '\\', which overlayfs's options cannot hold", op.name, op.src))
			}
		case fsSymlink:
			if op.src == "" || strings.IndexByte(op.src, 0) >= 0 {
				errs = append(errs, invalidf("%s: the link's content %q is empty or contains a NUL byte", op.name, op.src))
			}
		case fsDir, fsFile:
			if op.mode&^(os.ModePerm|os.ModeSticky|os.ModeSetuid|os.ModeSetgid) != 0 {
				errs = append(errs, invalidf("%s: mode %v has bits other than permissions, sticky, setuid and setgid", op.name, op.mode))
			}
		}
		if err := checkFSPath(op.name, "destination", op.dst, true); err != nil {
			errs = append(errs, err)
			continue
		}
		dst := cleanPath(op.dst)
		for j := i + 1; j < len(n.fs); j++ {
			later := &n.fs[j]
			r := later.replaces()
			if r == "" || checkFSPath(later.name, "", r, true) != nil {
				continue
			}
			// A directory made for a later mount is its mount point.
			if r = cleanPath(r); under(dst, r) && !(op.kind == fsDir && dst == r) {
				errs = append(errs, invalidf("%s: the destination %s is at or under %s, which the later %s replaces; give %s first",
					op.name, dst, r, later.name, later.name))
				break
			}
		}
		if n.tmp != nil && under(dst, "/tmp") {
			errs = append(errs, invalidf("%s: the destination %s is under /tmp, which WithPrivateTmp mounts after the filesystem options; use WithTmpfs(\"/tmp\") before %s instead", op.name, dst, op.name))
		}
		if n.mountsProc() && under(dst, "/proc") {
			errs = append(errs, invalidf("%s: the destination %s is under /proc, which WithPrivatePID mounts afresh after the filesystem options", op.name, dst))
		}
	}
	return errs
}
