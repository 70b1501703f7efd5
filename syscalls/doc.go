// Package syscalls is a thin, tested layer over the Linux system calls that
// create, enter, compare and inspect namespaces: unshare(2), setns(2),
// pivot_root(2), kcmp(2) and the nsfs ioctls of ioctl_ns(2). It is the Go
// counterpart of Perl's Linux::Clone 1.3 and the foundation of package
// github.com/linuxns/namespace.
//
// The package adds little policy: each function issues one system call (or a
// short fixed sequence of them), and errors are returned as *os.SyscallError,
// *os.PathError or *os.LinkError values that wrap the kernel's errno, so that
// errors.Is(err, unix.EPERM) and similar tests work. It also names the eight
// namespace kinds (Type) and identifies a namespace instance by the device and
// inode number of its nsfs file (ID).
//
// # The one-thread rule
//
// Namespaces are an attribute of a thread, not of a process, and every Go
// program is multi-threaded: the runtime moves goroutines between OS threads
// at will and starts new threads from a template thread. The consequences:
//
//   - Unshare and Setns change only the calling OS thread. Call them from a
//     goroutine that has called runtime.LockOSThread and never unlocks it, so
//     that the thread is destroyed when the goroutine returns instead of being
//     handed back, with foreign namespaces, to unrelated goroutines.
//     Goroutines started from that goroutine run on other threads and do not
//     see its namespaces.
//   - A new user namespace (Unshare(CLONE_NEWUSER), or Setns into a user
//     namespace) is refused with EINVAL in any multi-threaded process, which
//     means in every Go program.
//   - A new PID or time namespace (CLONE_NEWPID, CLONE_NEWTIME) applies only
//     to children created afterwards by the calling thread, never to the
//     thread itself.
//   - Setns into a mount namespace requires the thread to have its own
//     filesystem attributes: call Unshare(CLONE_FS) on the locked thread
//     first.
//   - /proc/PID/ns shows the namespaces of the main thread (the thread
//     group leader). While the main goroutine is blocked, the runtime may
//     run other goroutines on the main thread; one that locks it and
//     changes its namespaces changes what /proc/PID/ns shows, and when that
//     goroutine returns the main thread is not destroyed but parked for
//     good. Programs that switch namespaces on threads can keep the main
//     thread out of reach by calling runtime.LockOSThread in an init
//     function, which pins the main goroutine to it.
//
// For code that must run entirely inside new namespaces, start a child
// process with os/exec and SysProcAttr.Cloneflags (the CLONE_* constants of
// this package can be used there), or use package
// github.com/linuxns/namespace, which re-executes the program for that.
//
// Perl's Linux::Clone::clone has no counterpart here: a raw clone(2) child
// of a Go program cannot run Go code, because it would inherit only the one
// calling thread of a runtime that needs all of them.
//
// The package is for Linux. It builds on other systems too, with the same
// types, constants and pure functions (Type, ID, ParseType, TypesOf, …);
// there every function that would make a system call returns an error that
// wraps errors.ErrUnsupported.
package syscalls
