package syscalls

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// nsPath returns the /proc path of the namespace file name of pid/tid.
func nsPath(pid, tid int, name string) (string, error) {
	switch {
	case pid < 0:
		return "", fmt.Errorf("syscalls: negative pid %d: %w", pid, unix.EINVAL)
	case tid < 0:
		if pid != 0 && pid != os.Getpid() {
			return "", fmt.Errorf("syscalls: tid < 0 (calling thread) with pid %d of another process: %w", pid, unix.EINVAL)
		}
		return "/proc/thread-self/ns/" + name, nil
	}
	p := "self"
	if pid != 0 {
		p = strconv.Itoa(pid)
	}
	if tid == 0 {
		return "/proc/" + p + "/ns/" + name, nil
	}
	return "/proc/" + p + "/task/" + strconv.Itoa(tid) + "/ns/" + name, nil
}

func typePath(pid, tid int, t Type, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("syscalls: %w %s", ErrInvalidType, t)
	}
	return nsPath(pid, tid, name)
}

// OpenNS opens the file of the namespace of kind t of a process or thread,
// for Setns, SetnsFile, IDOfFile or the ioctls. The file must be closed by
// the caller; while it is open it keeps the namespace alive. Addressing:
//
//   - pid 0 is the calling process, otherwise a process id as seen in the
//     caller's /proc;
//   - tid 0 is the whole process, /proc/PID/ns/NAME, which shows the
//     namespaces of its main thread (the thread group leader);
//   - tid > 0 is that thread of the process, /proc/PID/task/TID/ns/NAME;
//   - tid < 0 is the calling OS thread, /proc/thread-self/ns/NAME (pid must
//     be 0 or the caller's pid). Lock the goroutine to its thread with
//     runtime.LockOSThread for the answer to mean anything.
//
// Opening another process's namespace requires ptrace read access to it.
// Errors are *os.PathError values, or wrap ErrInvalidType for an invalid t.
func OpenNS(pid, tid int, t Type) (*os.File, error) {
	p, err := typePath(pid, tid, t, t.ProcName())
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// IDOf returns the ID of the namespace of kind t of a process or thread,
// addressed as for OpenNS, by stat(2) on the namespace file, without
// opening it. Errors are *os.PathError values, or wrap ErrInvalidType.
func IDOf(pid, tid int, t Type) (ID, error) {
	p, err := typePath(pid, tid, t, t.ProcName())
	if err != nil {
		return ID{}, err
	}
	return statID(p, t)
}

// ChildrenIDOf is like IDOf, but returns the namespace in which the
// process's or thread's future children will be created
// (/proc/…/ns/pid_for_children, /proc/…/ns/time_for_children). It differs
// from IDOf only for PID and Time, after Unshare or Setns. Right after
// Unshare(CLONE_NEWPID), until the first child is created, the kernel has
// no PID namespace to show and the error wraps ENOENT.
func ChildrenIDOf(pid, tid int, t Type) (ID, error) {
	p, err := typePath(pid, tid, t, t.ChildrenProcName())
	if err != nil {
		return ID{}, err
	}
	return statID(p, t)
}

// IDOfFile returns the ID of the namespace file f, by fstat(2) and
// NS_GET_NSTYPE. Errors are *os.PathError values (ENOTTY if f is not a
// namespace file).
func IDOfFile(f *os.File) (ID, error) {
	var st unix.Stat_t
	if err := withFd(f, "fstat", func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		return ID{}, err
	}
	t, err := GetNSType(f)
	if err != nil {
		return ID{}, err
	}
	return ID{Type: t, Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

// ThreadID returns the ID of the calling OS thread's namespace of kind t,
// IDOf(0, -1, t). The goroutine should be locked to its thread
// (runtime.LockOSThread); otherwise the answer describes whichever thread
// the goroutine ran on at the time.
func ThreadID(t Type) (ID, error) { return IDOf(0, -1, t) }

func statID(path string, t Type) (ID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return ID{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return ID{Type: t, Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

func fdID(fd int) (ID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return ID{}, err
	}
	t, err := nsType(fd)
	if err != nil {
		return ID{}, err
	}
	return ID{Type: t, Dev: uint64(st.Dev), Ino: st.Ino}, nil
}
