//go:build linux

package rawproc

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction has room for struct sigaction as rt_sigaction(2) reads
// and writes it: the handler first, then the flags, the restorer (where
// the architecture has one) and the 64-bit mask, that is 5 words on 32-bit
// systems and at most 4 on 64-bit ones. The zero value is SIG_DFL.
type kernelSigaction [5]uintptr

// SignalIgnored reports whether the calling process ignores signal sig
// (its disposition is SIG_IGN), asking rt_sigaction(2) without changing
// it. For the parent: os/signal's Ignored does not know of a signal the
// process inherited ignored and the Go runtime leaves alone (SIGCONT,
// SIGTSTP, SIGTTIN, SIGTTOU, until os/signal is asked for them).
func SignalIgnored(sig int) bool {
	var old kernelSigaction
	_, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old[0])), 8, 0, 0)
	return e == 0 && old[0] == 1 // SIG_IGN
}

// rawClone forks with clone(2): flags (with the exit signal in the low
// byte), no new stack, ptid as parent_tid (where CLONE_PIDFD stores the
// pidfd; 0 without it), no child tid, no TLS. It returns 0 in the child.
// s390x takes the stack first and the flags second; the other
// architectures take the flags first. parent_tid is the third argument
// everywhere (the later ones differ in order, but are all zero here).
//
// It runs in raw children: it must not grow the stack or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func rawClone(flags, ptid uintptr) (uintptr, syscall.Errno) {
	if runtime.GOARCH == "s390x" {
		r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE, 0, flags, ptid, 0, 0, 0)
		return r1, e
	}
	r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE, flags, 0, ptid, 0, 0, 0)
	return r1, e
}
