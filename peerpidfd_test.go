//go:build linux

package namespace

import (
	"context"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// havePeerPidfd skips a test on kernels without SO_PEERPIDFD (before 6.5).
func havePeerPidfd(t *testing.T) {
	t.Helper()
	var u unix.Utsname
	if unix.Uname(&u) != nil || !kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 6, 5) {
		t.Skip("SO_PEERPIDFD needs Linux 6.5; verifyParent relies on SO_PEERCRED alone here")
	}
}

// TestPeerPidfd: the maker of a socket pair, by pidfd, is this process.
func TestPeerPidfd(t *testing.T) {
	havePeerPidfd(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if pid, live, ok := peerPidfdPid(fds[1]); !ok || !live || pid != os.Getpid() {
		t.Errorf("maker by pidfd: %d %v, want %d", pid, ok, os.Getpid())
	}
}

// peerTask reports, from a child, its socket's maker by SO_PEERCRED and
// by pidfd.
var peerTask = NewTask("test-peer-pidfd", func(ctx context.Context, _ struct{}) ([3]int, error) {
	fd := int(child.sock.Fd())
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return [3]int{}, err
	}
	pid, _, ok := peerPidfdPid(fd)
	okInt := 0
	if ok {
		okInt = 1
	}
	return [3]int{int(cred.Pid), pid, okInt}, nil
})

// TestPeerPidfdBehindRelay: a function in a joined PID namespace, behind
// its relay, sees its socket's maker (the caller) as pid 0 by SO_PEERCRED
// and as the caller by pidfd.
func TestPeerPidfdBehindRelay(t *testing.T) {
	havePeerPidfd(t)
	target, _ := pidTarget(t, false)
	kinds := joinKinds(syscalls.PID)
	got, err := peerTask.Run(context.Background(), New(WithJoinProcess(target.Pid, kinds...)), struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if got != [3]int{0, os.Getpid(), 1} {
		t.Errorf("the maker by SO_PEERCRED, by pidfd, identified: %v, want [0 %d 1]", got, os.Getpid())
	}
}
