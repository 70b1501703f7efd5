//go:build linux

package rawproc

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// The operations of joining existing namespaces (the numbers 64-79 are
// theirs).
const (
	// OpSetns enters, by setns(2), the namespaces of kinds Flags (CLONE_NEW*
	// flags) through the descriptor Len: a namespace file, or a pidfd
	// (Linux 5.8 and later) for several kinds at once. The parent opened
	// the descriptor; it is close-on-exec.
	OpSetns Op = 64
	// OpUnshare creates the namespaces of Flags by unshare(2), after the
	// joins: inside a joined user namespace, which then owns them.
	OpUnshare Op = 65
)

// joinOp performs an OpSetns or OpUnshare step.
//
// It runs in a raw child: it must not grow the stack or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func joinOp(s *Step) syscall.Errno {
	var e syscall.Errno
	switch s.Op {
	case OpSetns:
		_, _, e = syscall.RawSyscall6(unix.SYS_SETNS, s.Len, s.Flags, 0, 0, 0, 0)
	case OpUnshare:
		_, _, e = syscall.RawSyscall6(unix.SYS_UNSHARE, s.Flags, 0, 0, 0, 0, 0)
	default:
		e = syscall.EINVAL
	}
	return e
}
