package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// Create creates the namespaces of n, makes their set-up, and returns a
// Handle that holds them until Close. It honours the options that Prepare
// honours but WithMinimalInit, WithJoin and WithJoinProcess (the holder is
// PID 1 of the namespaces it creates; join in its jobs instead), and
// checks them as Prepare does (ErrInvalid, ErrUnsupported naming an
// option) before it creates anything; a failed step is a
// *SetupError, and leaves nothing. ctx bounds nothing after Create
// returns.
func (n *Namespace) Create(ctx context.Context) (*Handle, error) {
	guardChild()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n.initProc {
		return nil, fmt.Errorf("namespace: Create: %w: WithMinimalInit: the process that holds the namespaces is their PID 1 already", ErrUnsupported)
	}
	if len(n.joins) > 0 {
		return nil, fmt.Errorf("namespace: Create: %w: WithJoin and WithJoinProcess: a Handle holds namespaces that it created; join the others in its jobs", ErrUnsupported)
	}
	// Held before execve, with no descriptor but the report pipe's.
	// It reaps every child it gets: the orphans of the jobs, in a held
	// PID namespace (holdForever).
	p, err := n.prepare("Create", selfExe, []string{"namespace-handle"}, &os.ProcAttr{Files: []*os.File{nil, nil, nil}}, holdForever)
	if err != nil {
		return nil, err
	}
	h := &Handle{n: n, holder: p}
	dir := "/proc/" + strconv.Itoa(p.Pid) + "/ns/"
	var opts []Option
	for _, t := range n.Types() {
		file := t.ProcName()
		if t == syscalls.Time {
			file = "time_for_children" // made by the held process for its children
		}
		opts = append(opts, WithJoin(t, dir+file))
		h.kinds = append(h.kinds, t)
	}
	h.job = New(opts...)
	// Each job checks, having opened a file, that it is the holder's
	// namespace and the holder still the process at its pid
	// (holder_linux.go).
	for i := range h.job.joins {
		id, err := holderIdentity(p.Pid, h.job.joins[i].path)
		if err != nil {
			_ = p.Abort()
			return nil, fmt.Errorf("namespace: Create: the holder of the namespaces: %w", err)
		}
		h.job.joins[i].owner = id
	}
	// What the jobs' verbs honour of n, not given as options (which
	// StartProcess would refuse).
	h.job.termChild, h.job.killGrace, h.job.logger = n.termChild, n.killGrace, n.logger
	return h, nil
}

// holdKind is how a prepared child waits before its execve.
type holdKind int

const (
	holdNone     holdKind = iota // not held: StartProcess
	holdForStart                 // until Start or Abort: Prepare
	holdForever                  // until Abort, reaping its children: Create
)

// Pid returns the pid of the process that holds the namespaces (PID 1 of
// a new PID namespace), as the caller sees it: its /proc/PID/ns files are
// the namespaces. It is valid until Close.
func (h *Handle) Pid() int { return h.holder.Pid }

// check returns ErrInvalid once the Handle is closed.
func (h *Handle) check(what string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("namespace: Handle.%s: %w: the Handle is closed", what, ErrInvalid)
	}
	return nil
}

// Run runs the registered function f in a child inside the Handle's
// namespaces, as Namespace.Run does. In a held PID namespace the
// function's child is not PID 1 (the holder is): a process outside it
// stands in front of it, as for Command.
func (h *Handle) Run(ctx context.Context, f *Func, args ...string) error {
	if err := h.check("Run"); err != nil {
		return err
	}
	return h.job.Run(ctx, f, args...)
}

// Command returns an *exec.Cmd that runs the named program inside the
// Handle's namespaces, as Namespace.Command does. In a held PID namespace
// the program is not PID 1 (the holder is): a process outside it, its
// parent, passes it the signals it receives and exits with its status.
func (h *Handle) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if err := h.check("Command"); err != nil {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Err = err
		return cmd
	}
	return h.job.Command(ctx, name, args...)
}

// StartProcess starts the program at path inside the Handle's namespaces,
// as Namespace.StartProcess does (with a PID namespace, as Command says).
func (h *Handle) StartProcess(path string, argv []string, attr *os.ProcAttr) (*os.Process, error) {
	if err := h.check("StartProcess"); err != nil {
		return nil, err
	}
	return h.job.StartProcess(path, argv, attr)
}

// Pin bind-mounts the Handle's namespace of kind kind on path, so that
// other programs can enter it while the Handle is open (`nsenter
// --net=PATH`; in /run/netns/NAME, `ip netns exec NAME`), as `unshare
// --net=PATH` does. If path does not exist, an empty file is made there
// and removed by Close. The bind mount is made in the caller's mount
// namespace, which needs CAP_SYS_ADMIN there (ErrPermission otherwise).
// A path whose last element is a symbolic link is refused (ErrInvalid):
// the mount is made on the file itself, never where a link leads. The
// directory that holds path is looked up once, and the file is made,
// mounted on and removed in that directory, whatever its path leads to
// meanwhile; links in the directories above path are followed at that one
// look-up, so give a path whose directories only trusted users can
// change. Close unmounts every pin that is still mounted, by the mount
// itself rather than by its path.
func (h *Handle) Pin(kind syscalls.Type, path string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("namespace: Handle.Pin: %w: the Handle is closed", ErrInvalid)
	}
	held := false
	for _, t := range h.kinds {
		held = held || t == kind
	}
	if !held || !kind.Valid() {
		return fmt.Errorf("namespace: Handle.Pin: %w: the Handle holds no %v namespace (it holds %s)", ErrInvalid, kind, kindNames(h.n.Flags()))
	}
	if path == "" || path[0] != '/' {
		return fmt.Errorf("namespace: Handle.Pin: %w: the path %q is not absolute", ErrInvalid, path)
	}
	dirPath, name := filepath.Split(path)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("namespace: Handle.Pin: %w: the path %q does not name a file", ErrInvalid, path)
	}
	dir, err := unix.Open(dirPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return classify("pin the "+kind.String()+" namespace", &os.PathError{Op: "open", Path: dirPath, Err: err}, nil)
	}
	// The file made here is the mount's target by its descriptor, not by
	// its name again.
	created := false
	made, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o444)
	switch {
	case err == nil:
		created = true
	case !errors.Is(err, unix.EEXIST):
		unix.Close(dir)
		return classify("pin the "+kind.String()+" namespace", &os.PathError{Op: "create", Path: path, Err: err}, nil)
	}
	if pinCreatedHook != nil {
		pinCreatedHook()
	}
	p, err := pinAt(dir, name, path, "/proc/"+strconv.Itoa(h.holder.Pid)+"/ns/"+pinFile(kind), made)
	if err != nil {
		if created && p.ino != 0 {
			removeIfSame(dir, name, p.dev, p.ino)
		}
		unix.Close(dir)
		if errors.Is(err, ErrInvalid) {
			return fmt.Errorf("namespace: Handle.Pin: %w", err)
		}
		e := classify("pin the "+kind.String()+" namespace on "+path, err, nil)
		var se *SetupError
		if errors.As(e, &se) && errors.Is(err, unix.EPERM) {
			se.Hint = "a bind mount in the caller's mount namespace needs CAP_SYS_ADMIN there (root)"
		}
		return e
	}
	p.created = created
	h.pins = append(h.pins, p)
	return nil
}

// pinFile returns the name in /proc/PID/ns of the namespace of kind kind
// that Pin pins.
func pinFile(kind syscalls.Type) string {
	if kind == syscalls.Time {
		return "time_for_children"
	}
	return kind.ProcName()
}

// pinCreatedHook, if set (by tests), runs between the making of Pin's file
// and the mount on it.
var pinCreatedHook func()

// pinAt bind-mounts the namespace file src on name in the directory dir
// (path is the whole path, for messages), which must not be a symbolic
// link: the mount is made on the file opened without following one
// (open_tree and move_mount), so that a link cannot redirect it; made, if
// not -1, is the file Pin made there (taken over: closed here), the
// target itself. The pin keeps dir and the mount's descriptor, by which
// unpin unmounts exactly it. On failure, p holds the file's identity if
// it was found.
func pinAt(dir int, name, path, src string, made int) (p pin, err error) {
	p = pin{path: path, dir: dir, name: name, tree: -1}
	dst := made
	if dst < 0 {
		if dst, err = unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
			return p, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
	defer unix.Close(dst)
	var st unix.Stat_t
	if err := unix.Fstat(dst, &st); err != nil {
		return p, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	p.dev, p.ino = uint64(st.Dev), uint64(st.Ino)
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		p.ino = 0 // not Pin's file: left alone
		return p, fmt.Errorf("%w: %s is a symbolic link: Pin does not follow one (give the path it points to)", ErrInvalid, path)
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return p, os.NewSyscallError("open_tree", err)
	}
	if err := unix.MoveMount(tree, "", dst, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		unix.Close(tree)
		return p, os.NewSyscallError("move_mount", err)
	}
	p.tree = tree
	return p, nil
}

// unpin unmounts the pin p by its descriptor (not by its path, which may
// since lead elsewhere), if it is still mounted, and removes the file that
// Pin made if it is still the one under the mount.
func unpin(p pin) error {
	defer unix.Close(p.tree)
	defer unix.Close(p.dir)
	// /proc/self/fd/N leads to the pin's own mount, wherever it is; EINVAL:
	// it is no longer mounted (someone else unmounted it).
	err := unix.Unmount("/proc/self/fd/"+strconv.Itoa(p.tree), unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("namespace: Handle.Close: unpin %s: %w", p.path, os.NewSyscallError("umount2", err))
	}
	if p.created {
		if err := removeIfSame(p.dir, p.name, p.dev, p.ino); err != nil {
			return fmt.Errorf("namespace: Handle.Close: remove %s: %w", p.path, err)
		}
	}
	return nil
}

// removeIfSame removes name in the directory dir if it is still the file
// dev:ino (not a link or a file put in its place since).
func removeIfSame(dir int, name string, dev, ino uint64) error {
	var st unix.Stat_t
	if unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
		return nil
	}
	if err := unix.Unlinkat(dir, name, 0); err != nil {
		return os.NewSyscallError("unlinkat", err)
	}
	return nil
}

// Close unpins every namespace that Pin pinned, ends the holding process
// (and so, with a PID namespace, every process in it) and reaps it. The
// namespaces end when nothing else is in them or holds them. Jobs that
// still run outside a held PID namespace go on. Close returns the errors
// of unpinning; calling it again returns nil.
func (h *Handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	for i := len(h.pins) - 1; i >= 0; i-- {
		if err := unpin(h.pins[i]); err != nil {
			errs = append(errs, err)
		}
	}
	h.pins = nil
	_ = h.holder.Abort()
	return errors.Join(errs...)
}
