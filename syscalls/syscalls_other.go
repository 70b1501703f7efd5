//go:build !linux

package syscalls

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// The package on systems other than Linux: the types, constants and pure
// functions (Type, ID, KcmpType, ParseType, TypesOf, …) are the same as on
// Linux, and every function that would make a system call returns an error
// of the type it documents that wraps errors.ErrUnsupported.

// errNoNamespaces is the cause of every error on this system.
var errNoNamespaces = fmt.Errorf("%w: namespaces are a Linux feature, and this is %s", errors.ErrUnsupported, runtime.GOOS)

func syscallErr(call string) error { return os.NewSyscallError(call, errNoNamespaces) }

func pathErr(op, path string) error {
	return &os.PathError{Op: op, Path: path, Err: errNoNamespaces}
}

func fileName(f *os.File) string {
	if f == nil {
		return "<nil>"
	}
	return f.Name()
}

// Unshare calls unshare(2) on Linux; here it returns an *os.SyscallError
// wrapping errors.ErrUnsupported.
func Unshare(flags uintptr) error { return syscallErr("unshare") }

// Setns calls setns(2) on Linux; here it returns an *os.SyscallError
// wrapping errors.ErrUnsupported.
func Setns(fd int, nstype Type) error { return syscallErr("setns") }

// SetnsFile is Setns on the file descriptor of f; here it returns an
// *os.PathError wrapping errors.ErrUnsupported.
func SetnsFile(f *os.File, nstype Type) error { return pathErr("setns", fileName(f)) }

// PivotRoot calls pivot_root(2) on Linux; here it returns an *os.LinkError
// wrapping errors.ErrUnsupported.
func PivotRoot(newRoot, putOld string) error {
	return &os.LinkError{Op: "pivot_root", Old: newRoot, New: putOld, Err: errNoNamespaces}
}

// OpenNS opens a namespace file on Linux; here it returns an *os.PathError
// wrapping errors.ErrUnsupported.
func OpenNS(pid, tid int, t Type) (*os.File, error) {
	return nil, pathErr("open", "/proc/"+strconv.Itoa(pid)+"/ns/"+t.ProcName())
}

// IDOf returns a namespace's ID on Linux; here it returns an *os.PathError
// wrapping errors.ErrUnsupported.
func IDOf(pid, tid int, t Type) (ID, error) {
	return ID{}, pathErr("stat", "/proc/"+strconv.Itoa(pid)+"/ns/"+t.ProcName())
}

// ChildrenIDOf is like IDOf for the namespace of future children; here it
// returns an *os.PathError wrapping errors.ErrUnsupported.
func ChildrenIDOf(pid, tid int, t Type) (ID, error) {
	return ID{}, pathErr("stat", "/proc/"+strconv.Itoa(pid)+"/ns/"+t.ChildrenProcName())
}

// IDOfFile returns the ID of a namespace file on Linux; here it returns an
// *os.PathError wrapping errors.ErrUnsupported.
func IDOfFile(f *os.File) (ID, error) { return ID{}, pathErr("fstat", fileName(f)) }

// ThreadID returns the ID of the calling thread's namespace on Linux; here
// it returns an *os.PathError wrapping errors.ErrUnsupported.
func ThreadID(t Type) (ID, error) { return IDOf(0, -1, t) }

// GetUserns is ioctl NS_GET_USERNS on Linux; here it returns an
// *os.PathError wrapping errors.ErrUnsupported.
func GetUserns(ns *os.File) (*os.File, error) {
	return nil, pathErr("ioctl NS_GET_USERNS", fileName(ns))
}

// GetParent is ioctl NS_GET_PARENT on Linux; here it returns an
// *os.PathError wrapping errors.ErrUnsupported.
func GetParent(ns *os.File) (*os.File, error) {
	return nil, pathErr("ioctl NS_GET_PARENT", fileName(ns))
}

// GetNSType is ioctl NS_GET_NSTYPE on Linux; here it returns an
// *os.PathError wrapping errors.ErrUnsupported.
func GetNSType(ns *os.File) (Type, error) {
	return 0, pathErr("ioctl NS_GET_NSTYPE", fileName(ns))
}

// GetOwnerUID is ioctl NS_GET_OWNER_UID on Linux; here it returns an
// *os.PathError wrapping errors.ErrUnsupported.
func GetOwnerUID(ns *os.File) (int, error) {
	return 0, pathErr("ioctl NS_GET_OWNER_UID", fileName(ns))
}

// ConfigureLoopback brings lo up in a Linux network namespace; here it
// returns an error wrapping errors.ErrUnsupported.
func ConfigureLoopback() error { return syscallErr("ioctl SIOCSIFFLAGS") }

// Kcmp calls kcmp(2) on Linux; here it returns an *os.SyscallError wrapping
// errors.ErrUnsupported.
func Kcmp(pid1, pid2 int, typ KcmpType, idx1, idx2 uintptr) (int, error) {
	return 0, syscallErr("kcmp")
}

// KcmpSame reports whether Kcmp finds the resource shared; here it returns
// an *os.SyscallError wrapping errors.ErrUnsupported.
func KcmpSame(pid1, pid2 int, typ KcmpType, idx1, idx2 uintptr) (bool, error) {
	return false, syscallErr("kcmp")
}

// KcmpEpollTFD calls kcmp(2) with KCMP_EPOLL_TFD on Linux; here it returns
// an *os.SyscallError wrapping errors.ErrUnsupported.
func KcmpEpollTFD(pid1, pid2, fd1 int, slot KcmpEpollSlot) (int, error) {
	return 0, syscallErr("kcmp")
}
