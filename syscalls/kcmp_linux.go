package syscalls

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kcmp calls kcmp(2), which tells whether the processes or threads pid1 and
// pid2 share the kernel resource typ; for KCMP_FILE, idx1 and idx2 are file
// descriptors of pid1 and pid2, and are otherwise ignored. The result is 0
// if the resource is the same, 1 or 2 if it differs (a kernel-defined,
// consistent order: 1 if pid1's sorts before pid2's, 2 if after), or 3 if it
// differs and no order is available.
//
// Both targets must be accessible as for ptrace(2) PTRACE_MODE_READ (one's
// own threads and children with the same credentials usually are; Yama's
// ptrace_scope may restrict this); otherwise the error wraps EPERM. A
// missing pid gives ESRCH; an unknown typ, EINVAL; a kernel without
// CONFIG_KCMP, ENOSYS. Errors are *os.SyscallError values.
//
// Resources that are allocated lazily compare equal while both sides have
// none: KCMP_IO until a task has an I/O context (after block I/O or
// ioprio_set(2)), KCMP_SYSVSEM until it has used SEM_UNDO.
//
// KCMP_EPOLL_TFD takes a pointer, which cannot be passed safely as a
// uintptr; Kcmp rejects it with an error wrapping EINVAL. Use KcmpEpollTFD.
func Kcmp(pid1, pid2 int, typ KcmpType, idx1, idx2 uintptr) (int, error) {
	if typ == KCMP_EPOLL_TFD {
		return 0, fmt.Errorf("syscalls: kcmp: use KcmpEpollTFD for KCMP_EPOLL_TFD: %w",
			os.NewSyscallError("kcmp", unix.EINVAL))
	}
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), uintptr(typ), idx1, idx2, 0)
	if errno != 0 {
		return 0, os.NewSyscallError("kcmp", errno)
	}
	return int(r), nil
}

// KcmpSame reports whether Kcmp(pid1, pid2, typ, idx1, idx2) finds the
// resource shared (Kcmp returned 0).
func KcmpSame(pid1, pid2 int, typ KcmpType, idx1, idx2 uintptr) (bool, error) {
	r, err := Kcmp(pid1, pid2, typ, idx1, idx2)
	return err == nil && r == 0, err
}

// KcmpEpollTFD calls kcmp(2) with KCMP_EPOLL_TFD: it compares the open file
// description behind file descriptor fd1 of pid1 with the file registered in
// the epoll instance slot.Efd of pid2 under the descriptor number slot.Tfd.
// Results and errors are as for Kcmp; a slot that is not registered gives
// ENOENT.
func KcmpEpollTFD(pid1, pid2, fd1 int, slot KcmpEpollSlot) (int, error) {
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), uintptr(KCMP_EPOLL_TFD),
		uintptr(fd1), uintptr(unsafe.Pointer(&slot)), 0)
	if errno != 0 {
		return 0, os.NewSyscallError("kcmp", errno)
	}
	return int(r), nil
}
