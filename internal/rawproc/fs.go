//go:build linux

package rawproc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The filesystem view's steps (the root package's wire.Step kinds 16-39,
// with the same numbers): every mount is made as a detached tree
// (open_tree, fsopen and fsmount) and attached with move_mount to a
// destination opened in the view's root with openat2. See the root
// package's fs_plan_linux.go for their compilation and the Go executor.
const (
	OpNewRoot       Op = 16 // Src: the directory to bind, or nil for a tmpfs; attached over /
	OpBindSource    Op = 17 // Src: the source; Flags: mount attributes, FSOptional
	OpFileSource    Op = 18 // Data, Len: the content; Flags: permissions | attributes<<12
	OpFSSource      Op = 19 // Src: the type; Data: options (key NUL value NUL …, NUL); Flags: attributes
	OpOverlaySource Op = 20 // Src: the lower directory
	OpAttach        Op = 21 // Target: the destination; Src: its walk, or nil; Flags: FSOptional
	OpSetAttr       Op = 22 // Target; Flags: attributes
	OpSymlink       Op = 23 // Target: the link; Src: its walk, or nil; Data: the content, Len bytes, then Len+1 bytes of room
	OpDir           Op = 24 // Target; Src: its walk, or nil; Flags: permissions
	OpPivot         Op = 25 // pivot_root into the new root; the old one stays over it
	OpDetachOldRoot Op = 26 // umount2 of the old root, MNT_DETACH
	FSOptional         = 1 << 16

	skipped              = -2 // the Tree of a skipped optional source
	resolveInRoot        = 0x10
	resolveNoXdev        = 0x01
	resolveNoMagic       = 0x02
	resolveNoSymlinks    = 0x04
	resolveBeneath       = 0x08
	fsconfigSetFlag      = 0
	fsconfigSetString    = 1
	fsconfigCmdCreate    = 6
	statxModeOffset      = 28 // stx_mode in struct statx
	mountAttrSize        = 32
	openHowSize          = 24
	openTreeCloneCloexec = unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	moveMountEmptyFrom   = unix.MOVE_MOUNT_F_EMPTY_PATH
	moveMountEmptyBoth   = unix.MOVE_MOUNT_F_EMPTY_PATH | unix.MOVE_MOUNT_T_EMPTY_PATH
	attachDirMode        = 0o755
	attachFileMode       = 0o644
	walkDirMode          = 0o755
	stagingMode          = "mode\x000700\x00\x00"
	emptyRootMode        = "mode\x000755\x00\x00"
	stagingFile          = "f\x00"
	upperDir             = "upper\x00"
	workDir              = "work\x00"
	dotPath              = ".\x00"
	slashPath            = "/\x00"
	emptyPath            = "\x00"
	tmpfsType            = "tmpfs\x00"
	overlayType          = "overlay\x00"
	lowerdirKey          = "lowerdir\x00"
	upperdirKey          = "upperdir\x00"
	workdirKey           = "workdir\x00"
)

// FSState is the state of the filesystem view's steps between them: the
// descriptors of the view's root and of the tree the last source step
// made, and room for system call arguments (so that the child's stack
// stays small).
type FSState struct {
	// The descriptors plus one: 0 is none (so that the zero FSState is
	// the state before the first step); a tree of -1 is a skipped source.
	root, tree int
	How        [3]uint64 // struct open_how
	Attr       [4]uint64 // struct mount_attr
	Statx      [256]byte // struct statx
}

// cstr returns the address of a NUL-terminated string constant.
//
//go:nosplit
//go:norace
//go:nocheckptr
func cstr(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

//go:nosplit
//go:norace
//go:nocheckptr
func bstr(s string) *byte { return unsafe.StringData(s) }

//go:nosplit
//go:norace
//go:nocheckptr
func ptr(b *byte) uintptr { return uintptr(unsafe.Pointer(b)) }

// next returns the byte after the NUL that ends the string at p.
//
//go:nosplit
//go:norace
//go:nocheckptr
func next(p *byte) *byte {
	for *p != 0 {
		p = (*byte)(unsafe.Add(unsafe.Pointer(p), 1))
	}
	return (*byte)(unsafe.Add(unsafe.Pointer(p), 1))
}

//go:nosplit
//go:norace
//go:nocheckptr
func at(p *byte, i uintptr) *byte { return (*byte)(unsafe.Add(unsafe.Pointer(p), i)) }

//go:nosplit
//go:norace
//go:nocheckptr
func closeFD(fd int) {
	if fd >= 0 {
		syscall.RawSyscall6(unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
	}
}

// CloseFS closes the descriptors of st.
//
//go:nosplit
//go:norace
//go:nocheckptr
func CloseFS(st *FSState) {
	closeFD(st.root - 1)
	closeFD(st.tree - 1)
	st.root, st.tree = 0, 0
}

// openIn opens path with openat2 in dir, O_PATH, with the resolve flags.
//
//go:nosplit
//go:norace
//go:nocheckptr
func openIn(st *FSState, dir uintptr, path uintptr, flags, resolve uint64) (int, syscall.Errno) {
	st.How[0], st.How[1], st.How[2] = flags|unix.O_PATH|unix.O_CLOEXEC, 0, resolve
	fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT2, dir, path, uintptr(unsafe.Pointer(&st.How[0])), openHowSize, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), 0
}

// root returns the descriptor of the view's root: the new root, or /.
//
//go:nosplit
//go:norace
//go:nocheckptr
func root(st *FSState) (int, syscall.Errno) {
	if st.root == 0 {
		fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, cstr(slashPath), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			return -1, e
		}
		st.root = int(fd) + 1
	}
	return st.root - 1, 0
}

// setAttr adds the mount attributes attr to every mount of the tree at
// fd (and path, if not empty).
//
//go:nosplit
//go:norace
//go:nocheckptr
func setAttr(st *FSState, fd int, path uintptr, attr uintptr) syscall.Errno {
	if attr == 0 {
		return 0
	}
	st.Attr[0], st.Attr[1], st.Attr[2], st.Attr[3] = uint64(attr), 0, 0, 0
	_, _, e := syscall.RawSyscall6(unix.SYS_MOUNT_SETATTR, uintptr(fd), path, unix.AT_EMPTY_PATH|unix.AT_RECURSIVE,
		uintptr(unsafe.Pointer(&st.Attr[0])), mountAttrSize, 0)
	return e
}

// newFS makes a detached mount of a new file system of type typ with the
// options at opts (key NUL value NUL …, NUL) and the attributes attr.
//
//go:nosplit
//go:norace
//go:nocheckptr
func newFS(typ, opts *byte, attr uintptr) (int, syscall.Errno) {
	fsfd, _, e := syscall.RawSyscall6(unix.SYS_FSOPEN, ptr(typ), unix.FSOPEN_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	for p := opts; p != nil && *p != 0; {
		key := p
		val := next(key)
		p = next(val)
		cmd, v := uintptr(fsconfigSetString), ptr(val)
		if *val == 0 {
			cmd, v = fsconfigSetFlag, 0
		}
		if _, _, e = syscall.RawSyscall6(unix.SYS_FSCONFIG, fsfd, cmd, ptr(key), v, 0, 0); e != 0 {
			closeFD(int(fsfd))
			return -1, e
		}
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_FSCONFIG, fsfd, fsconfigCmdCreate, 0, 0, 0, 0); e == 0 {
		var m uintptr
		m, _, e = syscall.RawSyscall6(unix.SYS_FSMOUNT, fsfd, unix.FSMOUNT_CLOEXEC, attr, 0, 0, 0)
		closeFD(int(fsfd))
		if e != 0 {
			return -1, e
		}
		return int(m), 0
	}
	closeFD(int(fsfd))
	return -1, e
}

// enterStage makes the staging mount stage the working directory, so
// that it can be named without /proc (a joined mount namespace's /proc is
// whatever its owner put there), and returns the descriptor of the
// working directory before, for leaveStage, or noCwd if this process
// cannot open it (a directory it may not search, in a user namespace).
//
//go:nosplit
//go:norace
//go:nocheckptr
func enterStage(stage int) (uintptr, syscall.Errno) {
	cwd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, cstr(dotPath), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		cwd = noCwd
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_FCHDIR, uintptr(stage), 0, 0, 0, 0, 0); e != 0 {
		if cwd != noCwd {
			closeFD(int(cwd))
		}
		return 0, e
	}
	return cwd, 0
}

// noCwd is enterStage's working directory that could not be opened.
const noCwd = ^uintptr(0)

// leaveStage goes back to the working directory cwd and closes it; to /
// if it was noCwd, which the plan's working directory step, after the
// view's steps, leaves for the one asked for, entered again by its path.
//
//go:nosplit
//go:norace
//go:nocheckptr
func leaveStage(cwd uintptr) {
	if cwd == noCwd {
		syscall.RawSyscall6(unix.SYS_CHDIR, cstr(slashPath), 0, 0, 0, 0, 0)
		return
	}
	if _, _, e := syscall.RawSyscall6(unix.SYS_FCHDIR, cwd, 0, 0, 0, 0, 0); e != 0 {
		syscall.RawSyscall6(unix.SYS_CHDIR, cstr(slashPath), 0, 0, 0, 0, 0)
	}
	closeFD(int(cwd))
}

// newRoot makes the tree of the new root and attaches it over /: the old
// root stays the process's root, and sources are resolved in it, until
// OpPivot.
//
//go:nosplit
//go:norace
//go:nocheckptr
func newRoot(s *Step, st *FSState) syscall.Errno {
	var (
		fd int
		e  syscall.Errno
	)
	if s.Src != nil {
		var r uintptr
		r, _, e = syscall.RawSyscall6(unix.SYS_OPEN_TREE, atFDCWD, ptr(s.Src), openTreeCloneCloexec|unix.AT_RECURSIVE, 0, 0, 0)
		fd = int(r)
	} else {
		fd, e = newFS(bstr(tmpfsType), bstr(emptyRootMode), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	}
	if e != 0 {
		return e
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_MOVE_MOUNT, uintptr(fd), cstr(emptyPath), atFDCWD, cstr(slashPath), moveMountEmptyFrom, 0); e != 0 {
		closeFD(fd)
		return e
	}
	closeFD(st.root - 1)
	st.root = fd + 1
	return 0
}

// bindSource clones the tree at s.Src.
//
//go:nosplit
//go:norace
//go:nocheckptr
func bindSource(s *Step, st *FSState) syscall.Errno {
	r, _, e := syscall.RawSyscall6(unix.SYS_OPEN_TREE, atFDCWD, ptr(s.Src), openTreeCloneCloexec|unix.AT_RECURSIVE, 0, 0, 0)
	if e == syscall.ENOENT && s.Flags&FSOptional != 0 {
		st.tree = skipped
		return 0
	}
	if e != 0 {
		return e
	}
	st.tree = int(r) + 1
	return setAttr(st, int(r), cstr(emptyPath), s.Flags&0xf)
}

// fileSource makes a file with the content of s on a tmpfs of its own,
// attached over / while it is written and cloned (the kernel clones only
// attached mounts), then detached again.
//
//go:nosplit
//go:norace
//go:nocheckptr
func fileSource(s *Step, st *FSState) syscall.Errno {
	stage, e := newFS(bstr(tmpfsType), bstr(stagingMode), unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if e != 0 {
		return e
	}
	cwd, e := enterStage(stage)
	if e != 0 {
		closeFD(stage)
		return e
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_MOVE_MOUNT, uintptr(stage), cstr(emptyPath), atFDCWD, cstr(slashPath), moveMountEmptyFrom, 0); e != 0 {
		leaveStage(cwd)
		closeFD(stage)
		return e
	}
	e = writeFile(s, stage)
	if e == 0 {
		var r uintptr
		r, _, e = syscall.RawSyscall6(unix.SYS_OPEN_TREE, uintptr(stage), cstr(stagingFile), openTreeCloneCloexec, 0, 0, 0)
		if e == 0 {
			st.tree = int(r) + 1
			e = setAttr(st, int(r), cstr(emptyPath), s.Flags>>12&0xf)
		}
	}
	_, _, e2 := syscall.RawSyscall6(unix.SYS_UMOUNT2, cstr(dotPath), unix.MNT_DETACH, 0, 0, 0, 0)
	leaveStage(cwd)
	closeFD(stage)
	if e == 0 {
		e = e2
	}
	return e
}

// writeFile writes the content of s to the file "f" of the directory dir.
//
//go:nosplit
//go:norace
//go:nocheckptr
func writeFile(s *Step, dir int) syscall.Errno {
	fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, uintptr(dir), cstr(stagingFile), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600, 0, 0)
	if e != 0 {
		return e
	}
	for off := uintptr(0); off < s.Len && e == 0; {
		var n uintptr
		n, _, e = syscall.RawSyscall6(unix.SYS_WRITE, fd, ptr(at(s.Data, off)), s.Len-off, 0, 0, 0)
		if e == syscall.EINTR {
			e = 0
		}
		off += n
	}
	if e == 0 {
		_, _, e = syscall.RawSyscall6(unix.SYS_FCHMOD, fd, s.Flags&0o7777, 0, 0, 0, 0)
	}
	closeFD(int(fd))
	return e
}

// overlaySource makes an overlay of s.Src with an upper layer on a fresh
// tmpfs, reached through its descriptor's path in /proc. The tmpfs is
// attached over / while the overlay is made (before Linux 6.x overlayfs
// takes its layers only from attached mounts), then detached.
//
//go:nosplit
//go:norace
//go:nocheckptr
func overlaySource(s *Step, st *FSState) syscall.Errno {
	stage, e := newFS(bstr(tmpfsType), bstr(emptyRootMode), 0)
	if e != 0 {
		return e
	}
	cwd, e := enterStage(stage)
	if e != 0 {
		closeFD(stage)
		return e
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_MOVE_MOUNT, uintptr(stage), cstr(emptyPath), atFDCWD, cstr(slashPath), moveMountEmptyFrom, 0); e != 0 {
		leaveStage(cwd)
		closeFD(stage)
		return e
	}
	e = overlayOn(s, st, stage)
	_, _, e2 := syscall.RawSyscall6(unix.SYS_UMOUNT2, cstr(dotPath), unix.MNT_DETACH, 0, 0, 0, 0)
	leaveStage(cwd)
	closeFD(stage)
	if e == 0 {
		e = e2
	}
	return e
}

// overlayOn makes the overlay of overlaySource with its upper layer on the
// tmpfs stage.
//
//go:nosplit
//go:norace
//go:nocheckptr
func overlayOn(s *Step, st *FSState, stage int) syscall.Errno {
	if _, _, e := syscall.RawSyscall6(unix.SYS_MKDIRAT, uintptr(stage), cstr(upperDir), walkDirMode, 0, 0, 0); e != 0 {
		return e
	}
	if _, _, e := syscall.RawSyscall6(unix.SYS_MKDIRAT, uintptr(stage), cstr(workDir), walkDirMode, 0, 0, 0); e != 0 {
		return e
	}
	// The layers by their names in the working directory, the stage.
	upper, work := cstr(upperDir), cstr(workDir)
	fsfd, _, e := syscall.RawSyscall6(unix.SYS_FSOPEN, cstr(overlayType), unix.FSOPEN_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_FSCONFIG, fsfd, fsconfigSetString, cstr(lowerdirKey), ptr(s.Src), 0, 0); e == 0 {
		if _, _, e = syscall.RawSyscall6(unix.SYS_FSCONFIG, fsfd, fsconfigSetString, cstr(upperdirKey), upper, 0, 0); e == 0 {
			if _, _, e = syscall.RawSyscall6(unix.SYS_FSCONFIG, fsfd, fsconfigSetString, cstr(workdirKey), work, 0, 0); e == 0 {
				_, _, e = syscall.RawSyscall6(unix.SYS_FSCONFIG, fsfd, fsconfigCmdCreate, 0, 0, 0, 0)
			}
		}
	}
	if e == 0 {
		var r uintptr
		r, _, e = syscall.RawSyscall6(unix.SYS_FSMOUNT, fsfd, unix.FSMOUNT_CLOEXEC, s.Flags&0xf, 0, 0, 0)
		if e == 0 {
			st.tree = int(r) + 1
		}
	}
	closeFD(int(fsfd))
	return e
}

// walkFrom is walk, with the root made first.
//
//go:nosplit
//go:norace
//go:nocheckptr
func walkFrom(st *FSState, w *byte) (int, *byte, syscall.Errno) {
	if _, e := root(st); e != 0 {
		return -1, nil, e
	}
	return walk(st, w)
}

// walk opens the parent of a destination to be created below its anchor:
// the anchor is opened in the root, then each element but the last is made
// (if missing) and opened without following symbolic links or crossing a
// mount. It returns the parent and the last element.
//
//go:nosplit
//go:norace
//go:nocheckptr
func walk(st *FSState, w *byte) (int, *byte, syscall.Errno) {
	r := st.root - 1 // made by the caller (root)
	// (openIn, by hand: on ppc64le its frame would take the raw child's
	// chain past the nosplit limit.)
	st.How[0], st.How[1], st.How[2] = unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0, resolveInRoot|resolveNoMagic
	fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT2, uintptr(r), ptr(w), uintptr(unsafe.Pointer(&st.How[0])), openHowSize, 0, 0)
	if e != 0 {
		return -1, nil, e
	}
	cur := int(fd)
	for elem := next(w); ; {
		after := next(elem)
		if *after == 0 { // elem is the last
			return cur, elem, 0
		}
		_, _, e = syscall.RawSyscall6(unix.SYS_MKDIRAT, uintptr(cur), ptr(elem), walkDirMode, 0, 0, 0)
		if e != 0 && e != syscall.EEXIST {
			closeFD(cur)
			return -1, nil, e
		}
		st.How[0], st.How[1], st.How[2] = unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0, resolveBeneath|resolveNoSymlinks|resolveNoMagic|resolveNoXdev
		fd, _, e = syscall.RawSyscall6(unix.SYS_OPENAT2, uintptr(cur), ptr(elem), uintptr(unsafe.Pointer(&st.How[0])), openHowSize, 0, 0)
		closeFD(cur)
		if e != 0 {
			return -1, nil, e
		}
		cur, elem = int(fd), after
	}
}

// openDest opens the destination of s: made if missing below its anchor
// (a directory if dir, else a file), or else existing in the root.
//
//go:nosplit
//go:norace
//go:nocheckptr
func openDest(s *Step, st *FSState, dir bool) (int, syscall.Errno) {
	if s.Src == nil {
		r, e := root(st)
		if e != 0 {
			return -1, e
		}
		return openIn(st, uintptr(r), ptr(s.Target), 0, resolveInRoot|resolveNoMagic)
	}
	if _, e := root(st); e != 0 {
		return -1, e
	}
	parent, last, e := walk(st, s.Src)
	if e != 0 {
		return -1, e
	}
	if dir {
		_, _, e = syscall.RawSyscall6(unix.SYS_MKDIRAT, uintptr(parent), ptr(last), attachDirMode, 0, 0, 0)
	} else {
		_, _, e = syscall.RawSyscall6(unix.SYS_MKNODAT, uintptr(parent), ptr(last), unix.S_IFREG|attachFileMode, 0, 0, 0)
	}
	fd := -1
	if e == 0 || e == syscall.EEXIST {
		fd, e = openIn(st, uintptr(parent), ptr(last), 0, resolveBeneath|resolveNoSymlinks|resolveNoMagic)
	}
	closeFD(parent)
	return fd, e
}

// attach attaches the last source's tree at the destination of s.
//
//go:nosplit
//go:norace
//go:nocheckptr
func attach(s *Step, st *FSState) syscall.Errno {
	if st.tree == skipped && s.Flags&FSOptional != 0 {
		st.tree = 0
		return 0
	}
	tree := st.tree - 1
	if tree < 0 {
		return syscall.EBADF
	}
	_, _, e := syscall.RawSyscall6(unix.SYS_STATX, uintptr(tree), cstr(emptyPath), unix.AT_EMPTY_PATH, unix.STATX_TYPE, uintptr(unsafe.Pointer(&st.Statx[0])), 0)
	if e != 0 {
		return e
	}
	mode := *(*uint16)(unsafe.Pointer(&st.Statx[statxModeOffset]))
	dst, e := openDest(s, st, mode&unix.S_IFMT == unix.S_IFDIR)
	if e == 0 {
		_, _, e = syscall.RawSyscall6(unix.SYS_MOVE_MOUNT, uintptr(tree), cstr(emptyPath), uintptr(dst), cstr(emptyPath), moveMountEmptyBoth, 0)
		closeFD(dst)
	}
	closeFD(tree)
	st.tree = 0
	return e
}

// remount adds the attributes of s to every mount at and below its
// destination.
//
//go:nosplit
//go:norace
//go:nocheckptr
func remount(s *Step, st *FSState) syscall.Errno {
	r, e := root(st)
	if e != 0 {
		return e
	}
	fd, e := openIn(st, uintptr(r), ptr(s.Target), 0, resolveInRoot|resolveNoMagic)
	if e != 0 {
		return e
	}
	e = setAttr(st, fd, cstr(emptyPath), s.Flags&0xf)
	closeFD(fd)
	return e
}

// symlink makes the link of s below its anchor, or accepts the existing
// one if it has the content asked for.
//
//go:nosplit
//go:norace
//go:nocheckptr
func symlink(s *Step, st *FSState) syscall.Errno {
	if s.Src != nil {
		parent, last, e := walkFrom(st, s.Src)
		if e != 0 {
			return e
		}
		_, _, e = syscall.RawSyscall6(unix.SYS_SYMLINKAT, ptr(s.Data), uintptr(parent), ptr(last), 0, 0, 0)
		if e == syscall.EEXIST {
			e = sameLink(s, st, parent, ptr(last))
		}
		closeFD(parent)
		return e
	}
	r, e := root(st)
	if e != 0 {
		return e
	}
	fd, e := openIn(st, uintptr(r), ptr(s.Target), unix.O_NOFOLLOW, resolveInRoot|resolveNoMagic)
	if e != 0 {
		return e
	}
	e = sameLink(s, st, fd, cstr(emptyPath))
	closeFD(fd)
	return e
}

// sameLink returns 0 if the link at dir and path has the content of s,
// else EEXIST.
//
//go:nosplit
//go:norace
//go:nocheckptr
func sameLink(s *Step, st *FSState, dir int, path uintptr) syscall.Errno {
	buf := at(s.Data, s.Len+1)
	n, _, e := syscall.RawSyscall6(unix.SYS_READLINKAT, uintptr(dir), path, ptr(buf), s.Len+1, 0, 0)
	if e != 0 || n != s.Len {
		return syscall.EEXIST
	}
	for i := uintptr(0); i < n; i++ {
		if *at(buf, i) != *at(s.Data, i) {
			return syscall.EEXIST
		}
	}
	return 0
}

// mkdir makes the directory of s below its anchor, or accepts an existing
// one.
//
//go:nosplit
//go:norace
//go:nocheckptr
func mkdir(s *Step, st *FSState) syscall.Errno {
	if s.Src == nil {
		r, e := root(st)
		if e != 0 {
			return e
		}
		fd, e := openIn(st, uintptr(r), ptr(s.Target), unix.O_DIRECTORY, resolveInRoot|resolveNoMagic)
		closeFD(fd)
		return e
	}
	parent, last, e := walkFrom(st, s.Src)
	if e != 0 {
		return e
	}
	_, _, e = syscall.RawSyscall6(unix.SYS_MKDIRAT, uintptr(parent), ptr(last), s.Flags&0o7777, 0, 0, 0)
	if e == syscall.EEXIST {
		var fd int
		fd, e = openIn(st, uintptr(parent), ptr(last), unix.O_DIRECTORY, resolveBeneath|resolveNoSymlinks|resolveNoMagic)
		closeFD(fd)
	} else if e == 0 { // the umask applied
		_, _, e = syscall.RawSyscall6(unix.SYS_FCHMODAT, uintptr(parent), ptr(last), s.Flags&0o7777, 0, 0, 0)
	}
	closeFD(parent)
	return e
}

// pivot makes the new root the process's root. pivot_root(".", ".")
// leaves the old root attached over the new one, in this mount namespace
// only; no path reaches it (lookups start at the new root, below it).
//
//go:nosplit
//go:norace
//go:nocheckptr
func pivot(st *FSState) syscall.Errno {
	if st.root == 0 {
		return syscall.EBADF
	}
	if _, _, e := syscall.RawSyscall6(unix.SYS_FCHDIR, uintptr(st.root-1), 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	_, _, e := syscall.RawSyscall6(unix.SYS_PIVOT_ROOT, cstr(dotPath), cstr(dotPath), 0, 0, 0, 0)
	return e
}

// detachOldRoot detaches the old root, the mount over the new root.
//
//go:nosplit
//go:norace
//go:nocheckptr
func detachOldRoot() syscall.Errno {
	if _, _, e := syscall.RawSyscall6(unix.SYS_CHDIR, cstr(slashPath), 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	if _, _, e := syscall.RawSyscall6(unix.SYS_UMOUNT2, cstr(dotPath), unix.MNT_DETACH, 0, 0, 0, 0); e != 0 {
		return e
	}
	_, _, e := syscall.RawSyscall6(unix.SYS_CHDIR, cstr(slashPath), 0, 0, 0, 0, 0)
	return e
}

// RunFS performs a step of the filesystem view with the state st. The Go
// executor calls it too: it is plain Go that neither allocates nor grows
// the stack.
//
//go:nosplit
//go:norace
//go:nocheckptr
func RunFS(s *Step, st *FSState) syscall.Errno {
	switch s.Op {
	case OpNewRoot:
		return newRoot(s, st)
	case OpBindSource:
		return bindSource(s, st)
	case OpFileSource:
		return fileSource(s, st)
	case OpFSSource:
		fd, e := newFS(s.Src, s.Data, s.Flags&0xf)
		st.tree = fd + 1
		return e
	case OpOverlaySource:
		return overlaySource(s, st)
	case OpAttach:
		return attach(s, st)
	case OpSetAttr:
		return remount(s, st)
	case OpSymlink:
		return symlink(s, st)
	case OpDir:
		return mkdir(s, st)
	case OpPivot:
		return pivot(st)
	case OpDetachOldRoot:
		return detachOldRoot()
	}
	return syscall.EINVAL
}
