//go:build linux

package syscalls

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loFlags returns the interface flags of lo in the calling thread's network
// namespace.
func loFlags() (uint16, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return 0, err
	}
	return ifr.Uint16(), nil
}

// tcpRoundTrip listens on 127.0.0.1, connects, accepts and sends a message
// across, all with sockets of the calling thread's network namespace.
func tcpRoundTrip() error {
	timeout := unix.NsecToTimeval(int64(5 * time.Second))
	socket := func() (int, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &timeout)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &timeout)
		return fd, nil
	}
	l, err := socket()
	if err != nil {
		return err
	}
	defer unix.Close(l)
	localhost := [4]byte{127, 0, 0, 1}
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: localhost}); err != nil {
		return os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(l, 1); err != nil {
		return os.NewSyscallError("listen", err)
	}
	sa, err := unix.Getsockname(l)
	if err != nil {
		return err
	}
	c, err := socket()
	if err != nil {
		return err
	}
	defer unix.Close(c)
	if err := unix.Connect(c, &unix.SockaddrInet4{Addr: localhost, Port: sa.(*unix.SockaddrInet4).Port}); err != nil {
		return os.NewSyscallError("connect", err)
	}
	a, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("accept", err)
	}
	defer unix.Close(a)
	if _, err := unix.Write(c, []byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 8)
	n, err := unix.Read(a, buf)
	if err != nil || string(buf[:n]) != "ping" {
		return fmt.Errorf("read %q, %v", buf[:n], err)
	}
	return nil
}

// dropCapabilities empties the calling thread's effective capability set.
func dropCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[0].Effective, data[1].Effective = 0, 0
	return unix.Capset(&hdr, &data[0])
}

// loopbackProof runs on a locked thread in a fresh network namespace: lo
// starts down and 127.0.0.1 is unusable; after ConfigureLoopback lo is up
// and a TCP connection to 127.0.0.1 works; a second call changes nothing.
func loopbackProof() error {
	flags, err := loFlags()
	if err != nil {
		return err
	}
	if flags&unix.IFF_LOOPBACK == 0 || flags&unix.IFF_UP != 0 {
		return fmt.Errorf("lo in a fresh network namespace has flags %#x, want LOOPBACK and not UP", flags)
	}
	if err := tcpRoundTrip(); err == nil {
		return errors.New("127.0.0.1 reachable while lo is down")
	}

	// Without CAP_NET_ADMIN the call fails loudly and lo stays down: a
	// throw-away thread joins this namespace and drops its capabilities.
	netns, err := OpenNS(0, -1, Net)
	if err != nil {
		return err
	}
	defer netns.Close()
	if err := onThread(func() error {
		if err := SetnsFile(netns, Net); err != nil {
			return err
		}
		if err := dropCapabilities(); err != nil {
			return err
		}
		if err := ConfigureLoopback(); !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("ConfigureLoopback without CAP_NET_ADMIN: %v, want EPERM", err)
		}
		return nil
	}); err != nil {
		return err
	}
	if flags, err := loFlags(); err != nil || flags&unix.IFF_UP != 0 {
		return fmt.Errorf("lo flags %#x (%v) after the failed call", flags, err)
	}

	if err := ConfigureLoopback(); err != nil {
		return err
	}
	after, err := loFlags()
	if err != nil {
		return err
	}
	if after&unix.IFF_UP == 0 || after&unix.IFF_RUNNING == 0 || after&unix.IFF_LOOPBACK == 0 {
		return fmt.Errorf("lo flags %#x after ConfigureLoopback, want UP, RUNNING, LOOPBACK", after)
	}
	if err := tcpRoundTrip(); err != nil {
		return fmt.Errorf("TCP over 127.0.0.1 after ConfigureLoopback: %w", err)
	}
	if err := ConfigureLoopback(); err != nil {
		return fmt.Errorf("second call: %w", err)
	}
	if again, err := loFlags(); err != nil || again != after {
		return fmt.Errorf("second call changed the flags from %#x to %#x (%v)", after, again, err)
	}
	return nil
}

// Proof (6) in a child with its own user and network namespaces, as root
// and as 65534.
func TestConfigureLoopback(t *testing.T) {
	runHelper(t, "loopback", "", userNSAttr(CLONE_NEWNET))
}

// Proof (6) in the test process, on a thrown-away thread in a new network
// namespace; the process's own namespace and lo are untouched.
func TestConfigureLoopbackInProcess(t *testing.T) {
	requireRoot(t)
	netBefore, err := IDOf(0, 0, Net)
	if err != nil {
		t.Fatal(err)
	}
	var thrNet ID
	err = onThread(func() error {
		if err := Unshare(CLONE_NEWNET); err != nil {
			return err
		}
		var err error
		if thrNet, err = ThreadID(Net); err != nil {
			return err
		}
		return loopbackProof()
	})
	if err != nil {
		t.Fatal(err)
	}
	if thrNet.Equal(netBefore) {
		t.Errorf("the thread stayed in the process's network namespace %v", netBefore)
	}
	if netAfter, err := IDOf(0, 0, Net); err != nil || !netAfter.Equal(netBefore) {
		t.Errorf("process network namespace %v (%v), was %v", netAfter, err, netBefore)
	}
}

// Where lo is already up, ConfigureLoopback is a no-op that needs no
// privilege, for root and 65534 alike.
func TestConfigureLoopbackAlreadyUp(t *testing.T) {
	err := onThread(func() error {
		before, err := loFlags()
		if err != nil {
			return err
		}
		if before&unix.IFF_UP == 0 {
			return errSkipLoDown
		}
		if err := ConfigureLoopback(); err != nil {
			return err
		}
		if after, err := loFlags(); err != nil || after != before {
			return fmt.Errorf("flags %#x -> %#x (%v)", before, after, err)
		}
		return nil
	})
	if errors.Is(err, errSkipLoDown) {
		t.Skip("lo is down in the test's network namespace; not touching it")
	}
	if err != nil {
		t.Fatal(err)
	}
}

var errSkipLoDown = errors.New("lo down")
