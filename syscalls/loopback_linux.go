package syscalls

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ConfigureLoopback brings the loopback interface "lo" up in the calling
// thread's network namespace, the equivalent of "ip link set lo up": it
// reads the interface flags with SIOCGIFFLAGS and, if IFF_UP is not set,
// sets IFF_UP and IFF_RUNNING, keeping the other flags, with SIOCSIFFLAGS.
// The kernel then assigns 127.0.0.1/8 and ::1 to lo and adds their routes.
// In a new network namespace lo exists but is down, so nothing, not even
// 127.0.0.1, is reachable until this is called.
//
// ConfigureLoopback is idempotent: if lo is already up it changes nothing
// and needs no privilege; otherwise it needs CAP_NET_ADMIN in the user
// namespace that owns the network namespace (the error wraps EPERM).
//
// The network namespace is that of the calling OS thread, which in Go is
// not necessarily the process's: after Unshare(CLONE_NEWNET) or Setns on a
// locked thread, call ConfigureLoopback from that same goroutine. The
// sockets used are closed before it returns.
func ConfigureLoopback() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("syscalls: configure loopback: %w", os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("syscalls: configure loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("syscalls: configure loopback: %w", os.NewSyscallError("ioctl SIOCGIFFLAGS", err))
	}
	flags := ifr.Uint16()
	if flags&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(flags | unix.IFF_UP | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("syscalls: configure loopback: %w", os.NewSyscallError("ioctl SIOCSIFFLAGS", err))
	}
	return nil
}
