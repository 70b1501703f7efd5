//go:build linux

package rawproc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cloneArgs is struct clone_args of clone3(2) up to its cgroup field
// (CLONE_ARGS_SIZE_VER2, Linux 5.7): every field is a 64-bit integer on
// every architecture.
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal uint64
	stack, stackSize, tls, setTID, setTIDSize     uint64
	cgroup                                        uint64
}

// rawCloneIntoCgroup forks as rawClone does, with clone3(2) and
// CLONE_INTO_CGROUP: the child is born in the cgroup of the directory
// descriptor cgroupFD, so that none of its instructions runs in the
// caller's cgroup. flags are rawClone's (the exit signal in the low byte);
// with CLONE_PIDFD the pidfd is stored at pidfd. Kernels before 5.7 refuse
// it (ENOSYS before 5.3, E2BIG from 5.3 to 5.6).
//
// It runs in raw children: it must not grow the stack or allocate; args is
// prepared by the caller.
//
//go:nosplit
//go:norace
//go:nocheckptr
func rawCloneIntoCgroup(args *cloneArgs, flags, pidfd, cgroupFD uintptr) (uintptr, syscall.Errno) {
	args.intoCgroup(flags, pidfd, cgroupFD, 0, 0)
	r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE3, uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args), 0, 0, 0, 0)
	return r1, e
}

// intoCgroup fills args for clone3(2) with CLONE_INTO_CGROUP: flags are
// rawClone's (the exit signal in the low byte), the pidfd (CLONE_PIDFD) is
// stored at pidfd, and the child, if stack is not 0, starts with its stack
// pointer at stack+size (clone3 takes the base of the stack and its size,
// not the top: the kernel adds them).
//
//go:nosplit
//go:norace
//go:nocheckptr
func (args *cloneArgs) intoCgroup(flags, pidfd, cgroupFD, stack, size uintptr) {
	args.flags = uint64(flags&^0xff) | unix.CLONE_INTO_CGROUP
	args.exitSignal = uint64(flags & 0xff)
	args.pidfd = uint64(pidfd)
	args.cgroup = uint64(cgroupFD)
	args.stack = uint64(stack)
	args.stackSize = uint64(size)
}
