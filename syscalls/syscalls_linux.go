package syscalls

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Unshare calls unshare(2): the calling OS thread stops sharing the
// resources selected by flags (CLONE_NEW* flags create new namespaces;
// CLONE_FS, CLONE_FILES and CLONE_SYSVSEM give the thread private copies).
// An error is an *os.SyscallError wrapping the errno.
//
// Unshare affects only the calling thread, and Go programs are always
// multi-threaded. Call it from a goroutine locked with runtime.LockOSThread
// that never unlocks, so that the thread is thrown away afterwards:
//
//   - CLONE_NEWNS (which implies CLONE_FS) and the other namespaces change
//     only the calling thread; the process's other threads, and goroutines
//     that later run on them, stay where they were.
//   - CLONE_NEWUSER fails with EINVAL in a multi-threaded process, that is,
//     always in Go. Create user namespaces with os/exec and
//     syscall.SysProcAttr.Cloneflags instead.
//   - CLONE_NEWPID and CLONE_NEWTIME do not move the caller: they set the
//     namespace in which the thread's future children are created (see
//     Type.ChildrenProcName). The first child created from the thread
//     becomes PID 1 of a new PID namespace, and when it exits no further
//     child can be created there (ENOMEM).
//
// Because of that last point, Unshare with CLONE_NEWPID first makes sure
// that the os package has run its one-time probe of pidfd support, which
// forks a short-lived child: if that probe ran later, from the thread with
// the new PID namespace, it would become PID 1 and exit, and the real child
// started with os/exec would fail with ENOMEM.
//
// Creating namespaces other than user namespaces needs CAP_SYS_ADMIN in the
// caller's user namespace; without it the error wraps EPERM.
func Unshare(flags uintptr) error {
	if flags&CLONE_NEWPID != 0 {
		primeProcessStart()
	}
	if err := unix.Unshare(int(flags)); err != nil {
		return os.NewSyscallError("unshare", err)
	}
	return nil
}

// Setns calls setns(2): the calling OS thread joins the namespace referred
// to by the file descriptor fd, such as one opened from /proc/PID/ns/NAME
// (see OpenNS). If nstype is not 0, the kernel checks that fd refers to a
// namespace of that kind (EINVAL otherwise). fd may also be a pidfd (Linux
// 5.8 and later); nstype is then the set of CLONE_NEW* flags to join, for
// example Type(CLONE_NEWUTS|CLONE_NEWNET). An error is an *os.SyscallError
// wrapping the errno: EBADF for a bad fd, EINVAL for a file of another kind,
// EPERM unless the caller has CAP_SYS_ADMIN both in the user namespace that
// owns the target and in its own.
//
// Like Unshare, Setns changes only the calling thread: lock the goroutine to
// its thread and do not unlock it (or Setns back before unlocking). Joining a
// user namespace fails with EINVAL in a multi-threaded process, that is,
// always in Go. Joining a mount namespace fails with EINVAL unless the
// thread has its own filesystem attributes: call Unshare(CLONE_FS) on the
// same thread first. Joining a PID or time namespace affects only the
// thread's future children.
func Setns(fd int, nstype Type) error {
	if err := unix.Setns(fd, int(nstype)); err != nil {
		return os.NewSyscallError("setns", err)
	}
	return nil
}

// SetnsFile is Setns on the file descriptor of f. An error is an
// *os.PathError naming f. The thread caveats of Setns apply.
func SetnsFile(f *os.File, nstype Type) error {
	return withFd(f, "setns", func(fd int) error {
		return unix.Setns(fd, int(nstype))
	})
}

// PivotRoot calls pivot_root(2): in the caller's mount namespace the root
// mount moves to putOld and newRoot becomes the root mount. newRoot must be
// a mount point other than the current root, putOld must be at or under
// newRoot, and neither the current root nor newRoot may have shared
// propagation (make / MS_REC|MS_PRIVATE first). The roots and working
// directories of all processes and threads that used the old root are
// changed too. An error is an *os.LinkError naming both paths.
//
// pivot_root acts on the calling thread's mount namespace; call it in a
// process (or on a locked thread after Unshare(CLONE_NEWNS)) that owns a
// private mount namespace, never in the host's, and unmount putOld with
// MNT_DETACH afterwards to drop the old root.
func PivotRoot(newRoot, putOld string) error {
	if err := unix.PivotRoot(newRoot, putOld); err != nil {
		return &os.LinkError{Op: "pivot_root", Old: newRoot, New: putOld, Err: err}
	}
	return nil
}

var primeOnce sync.Once

// primeProcessStart makes the os package probe for pidfd support now (Go
// 1.23 and later fork a child for that on first use), so that the probe's
// child does not become PID 1 of a PID namespace unshared afterwards.
func primeProcessStart() {
	primeOnce.Do(func() {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Release()
		}
	})
}

// withFd runs fn with the file descriptor of f, keeping f alive meanwhile.
// A non-nil error of fn, or a nil or closed f, becomes an *os.PathError with
// operation op.
func withFd(f *os.File, op string, fn func(fd int) error) error {
	if f == nil {
		return &os.PathError{Op: op, Path: "<nil>", Err: os.ErrInvalid}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: err}
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: err}
	}
	if ferr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: ferr}
	}
	return nil
}
