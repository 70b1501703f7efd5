package syscalls

import "golang.org/x/sys/unix"

// Flags for clone(2), unshare(2) and setns(2), as in <linux/sched.h>. The
// values are those of golang.org/x/sys/unix, typed uintptr like
// syscall.SysProcAttr.Cloneflags and the argument of Unshare.
//
// The CLONE_NEW* flags create namespaces. The others select which resources
// a new thread or process shares with its creator (and, for unshare(2),
// which ones the caller stops sharing); they are provided for completeness
// and for use with os/exec, since Go cannot run code in a raw clone child.
const (
	CLONE_VM             = uintptr(unix.CLONE_VM)             // share the address space (unshare: implies CLONE_SIGHAND)
	CLONE_FS             = uintptr(unix.CLONE_FS)             // share root, cwd and umask
	CLONE_FILES          = uintptr(unix.CLONE_FILES)          // share the file descriptor table
	CLONE_SIGHAND        = uintptr(unix.CLONE_SIGHAND)        // share signal handlers
	CLONE_PIDFD          = uintptr(unix.CLONE_PIDFD)          // return a pidfd for the child
	CLONE_PTRACE         = uintptr(unix.CLONE_PTRACE)         // let the tracer trace the child too
	CLONE_VFORK          = uintptr(unix.CLONE_VFORK)          // suspend the caller until the child execs or exits
	CLONE_THREAD         = uintptr(unix.CLONE_THREAD)         // same thread group (unshare: implies CLONE_VM, CLONE_SIGHAND)
	CLONE_NEWNS          = uintptr(unix.CLONE_NEWNS)          // new mount namespace (unshare: implies CLONE_FS)
	CLONE_SYSVSEM        = uintptr(unix.CLONE_SYSVSEM)        // share System V semaphore undo values
	CLONE_SETTLS         = uintptr(unix.CLONE_SETTLS)         // set the thread-local storage descriptor
	CLONE_PARENT_SETTID  = uintptr(unix.CLONE_PARENT_SETTID)  // store the child's thread id in the parent
	CLONE_CHILD_CLEARTID = uintptr(unix.CLONE_CHILD_CLEARTID) // clear the child's thread id at exit
	CLONE_DETACHED       = uintptr(unix.CLONE_DETACHED)       // historical; ignored by the kernel
	CLONE_UNTRACED       = uintptr(unix.CLONE_UNTRACED)       // a tracer cannot force CLONE_PTRACE
	CLONE_CHILD_SETTID   = uintptr(unix.CLONE_CHILD_SETTID)   // store the child's thread id in the child
	CLONE_NEWCGROUP      = uintptr(unix.CLONE_NEWCGROUP)      // new cgroup namespace
	CLONE_NEWUTS         = uintptr(unix.CLONE_NEWUTS)         // new UTS (hostname, domain name) namespace
	CLONE_NEWIPC         = uintptr(unix.CLONE_NEWIPC)         // new IPC namespace
	CLONE_NEWUSER        = uintptr(unix.CLONE_NEWUSER)        // new user namespace (unshare: implies CLONE_THREAD, CLONE_FS)
	CLONE_NEWPID         = uintptr(unix.CLONE_NEWPID)         // new PID namespace, for children only
	CLONE_NEWNET         = uintptr(unix.CLONE_NEWNET)         // new network namespace
	CLONE_IO             = uintptr(unix.CLONE_IO)             // share the I/O context
	CLONE_NEWTIME        = uintptr(unix.CLONE_NEWTIME)        // new time namespace, for children only; clone3(2) and unshare(2) only
	CSIGNAL              = uintptr(unix.CSIGNAL)              // mask of the exit signal in the low byte of clone(2) flags
)

// NamespaceFlags is the union of the eight CLONE_NEW* flags, one per Type.
const NamespaceFlags uintptr = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
	CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWCGROUP | CLONE_NEWTIME
