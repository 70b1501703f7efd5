//go:build !linux

package syscalls

// Flags for clone(2), unshare(2) and setns(2), as in <linux/sched.h>. The
// values are those of Linux (the same on every Linux architecture), typed
// uintptr like syscall.SysProcAttr.Cloneflags and the argument of Unshare;
// on this system they only name namespace kinds (Type), since no system
// call takes them. A test on Linux checks them against
// golang.org/x/sys/unix.
const (
	CLONE_VM             = uintptr(0x00000100) // share the address space (unshare: implies CLONE_SIGHAND)
	CLONE_FS             = uintptr(0x00000200) // share root, cwd and umask
	CLONE_FILES          = uintptr(0x00000400) // share the file descriptor table
	CLONE_SIGHAND        = uintptr(0x00000800) // share signal handlers
	CLONE_PIDFD          = uintptr(0x00001000) // return a pidfd for the child
	CLONE_PTRACE         = uintptr(0x00002000) // let the tracer trace the child too
	CLONE_VFORK          = uintptr(0x00004000) // suspend the caller until the child execs or exits
	CLONE_THREAD         = uintptr(0x00010000) // same thread group (unshare: implies CLONE_VM, CLONE_SIGHAND)
	CLONE_NEWNS          = uintptr(0x00020000) // new mount namespace (unshare: implies CLONE_FS)
	CLONE_SYSVSEM        = uintptr(0x00040000) // share System V semaphore undo values
	CLONE_SETTLS         = uintptr(0x00080000) // set the thread-local storage descriptor
	CLONE_PARENT_SETTID  = uintptr(0x00100000) // store the child's thread id in the parent
	CLONE_CHILD_CLEARTID = uintptr(0x00200000) // clear the child's thread id at exit
	CLONE_DETACHED       = uintptr(0x00400000) // historical; ignored by the kernel
	CLONE_UNTRACED       = uintptr(0x00800000) // a tracer cannot force CLONE_PTRACE
	CLONE_CHILD_SETTID   = uintptr(0x01000000) // store the child's thread id in the child
	CLONE_NEWCGROUP      = uintptr(0x02000000) // new cgroup namespace
	CLONE_NEWUTS         = uintptr(0x04000000) // new UTS (hostname, domain name) namespace
	CLONE_NEWIPC         = uintptr(0x08000000) // new IPC namespace
	CLONE_NEWUSER        = uintptr(0x10000000) // new user namespace (unshare: implies CLONE_THREAD, CLONE_FS)
	CLONE_NEWPID         = uintptr(0x20000000) // new PID namespace, for children only
	CLONE_NEWNET         = uintptr(0x40000000) // new network namespace
	CLONE_IO             = uintptr(0x80000000) // share the I/O context
	CLONE_NEWTIME        = uintptr(0x00000080) // new time namespace, for children only; clone3(2) and unshare(2) only
	CSIGNAL              = uintptr(0x000000ff) // mask of the exit signal in the low byte of clone(2) flags
)

// NamespaceFlags is the union of the eight CLONE_NEW* flags, one per Type.
const NamespaceFlags uintptr = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
	CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWCGROUP | CLONE_NEWTIME

// Requests of ioctl_ns(2) on namespace files (<linux/nsfs.h>), with the
// values of most Linux architectures (_IO(0xb7, n); powerpc and mips set a
// direction bit as well). No system call takes them on this system.
const (
	NS_GET_USERNS    = 0xb701 // the owning user namespace, as a new fd
	NS_GET_PARENT    = 0xb702 // the parent PID or user namespace, as a new fd
	NS_GET_NSTYPE    = 0xb703 // the CLONE_NEW* flag of the namespace
	NS_GET_OWNER_UID = 0xb704 // the uid of a user namespace's creator
)
