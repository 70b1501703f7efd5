package syscalls

import (
	"os"

	"golang.org/x/sys/unix"
)

// Requests of ioctl_ns(2) on namespace files (<linux/nsfs.h>), with the
// values of golang.org/x/sys/unix for the target architecture.
const (
	NS_GET_USERNS    = unix.NS_GET_USERNS    // the owning user namespace, as a new fd
	NS_GET_PARENT    = unix.NS_GET_PARENT    // the parent PID or user namespace, as a new fd
	NS_GET_NSTYPE    = unix.NS_GET_NSTYPE    // the CLONE_NEW* flag of the namespace
	NS_GET_OWNER_UID = unix.NS_GET_OWNER_UID // the uid of a user namespace's creator
)

// GetUserns returns the user namespace that owns the namespace ns (ioctl
// NS_GET_USERNS), as a new close-on-exec file that the caller must close.
// For a user namespace, that is its parent. The error is an *os.PathError
// wrapping EPERM if the owner lies outside the caller's user namespace
// (above it), or ENOTTY if ns is not a namespace file.
func GetUserns(ns *os.File) (*os.File, error) {
	return nsIoctlFile(ns, NS_GET_USERNS, "ioctl NS_GET_USERNS")
}

// GetParent returns the parent of the PID or user namespace ns (ioctl
// NS_GET_PARENT), as a new close-on-exec file that the caller must close.
// The error is an *os.PathError wrapping EINVAL if ns is of another kind,
// or EPERM if the parent lies outside the caller's namespace (for example
// the parent of the initial namespace or of the caller's own).
func GetParent(ns *os.File) (*os.File, error) {
	return nsIoctlFile(ns, NS_GET_PARENT, "ioctl NS_GET_PARENT")
}

// GetNSType returns the kind of the namespace ns (ioctl NS_GET_NSTYPE).
// The error is an *os.PathError wrapping ENOTTY if ns is not a namespace
// file.
func GetNSType(ns *os.File) (Type, error) {
	var t Type
	err := withFd(ns, "ioctl NS_GET_NSTYPE", func(fd int) error {
		var err error
		t, err = nsType(fd)
		return err
	})
	return t, err
}

// GetOwnerUID returns the uid of the process that created the user
// namespace ns (ioctl NS_GET_OWNER_UID), as seen from the caller's user
// namespace; a uid that has no mapping there is returned as the overflow
// uid (usually 65534). The error is an *os.PathError wrapping EINVAL if ns
// is not a user namespace.
func GetOwnerUID(ns *os.File) (int, error) {
	var uid uint32
	err := withFd(ns, "ioctl NS_GET_OWNER_UID", func(fd int) error {
		var err error
		uid, err = unix.IoctlGetUint32(fd, NS_GET_OWNER_UID)
		return err
	})
	return int(uid), err
}

func nsType(fd int) (Type, error) {
	n, err := unix.IoctlRetInt(fd, NS_GET_NSTYPE)
	if err != nil {
		return 0, err
	}
	return Type(n), nil
}

// nsIoctlFile runs an ioctl that returns a new namespace fd and wraps it in
// an *os.File named after the namespace, like "user:[4026531837]".
func nsIoctlFile(ns *os.File, req uint, op string) (*os.File, error) {
	var nfd int
	err := withFd(ns, op, func(fd int) error {
		var err error
		nfd, err = unix.IoctlRetInt(fd, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	name := "nsfs"
	if id, err := fdID(nfd); err == nil {
		name = id.String()
	}
	return os.NewFile(uintptr(nfd), name), nil
}
