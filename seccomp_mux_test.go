//go:build linux

package namespace

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/linuxns/namespace/internal/systab"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestSeccompMultiplexers: on i386, a denied socket or System V IPC call is
// denied through socketcall(2) and ipc(2) too, by its call number (ipc's
// version bits above the low 16 ignored), and the other calls through them
// are allowed. The block of the i386 table runs in x/net/bpf's virtual
// machine, on any architecture.
func TestSeccompMultiplexers(t *testing.T) {
	rules := []SeccompRule{SeccompDeny("connect", "shmget"), SeccompKill("bind")}
	vm, err := bpf.NewVM(seccompBlock(systab.I386, rules, false))
	if err != nil {
		t.Fatal(err)
	}
	call := func(nr, arg0 uint32) uint32 {
		d := make([]byte, 64)
		binary.BigEndian.PutUint32(d[0:], nr)
		binary.BigEndian.PutUint32(d[16:], arg0)
		r, err := vm.Run(d)
		if err != nil {
			t.Fatal(err)
		}
		return uint32(r)
	}
	nr := func(name string) uint32 {
		n, ok := systab.I386.Number(name)
		if !ok {
			t.Fatalf("i386 has no %s", name)
		}
		return uint32(n)
	}
	socketcall, ipc := nr("socketcall"), nr("ipc")
	eperm := unix.SECCOMP_RET_ERRNO | uint32(syscall.EPERM)
	for _, c := range []struct {
		name      string
		got, want uint32
	}{
		{"socketcall(SYS_CONNECT)", call(socketcall, 3), eperm},
		{"socketcall(SYS_BIND)", call(socketcall, 2), unix.SECCOMP_RET_KILL_PROCESS},
		{"socketcall(SYS_SOCKET)", call(socketcall, 1), unix.SECCOMP_RET_ALLOW},
		{"ipc(SHMGET)", call(ipc, 23), eperm},
		{"ipc(SHMGET), version 1", call(ipc, 1<<16|23), eperm},
		{"ipc(SHMAT)", call(ipc, 21), unix.SECCOMP_RET_ALLOW},
		{"connect", call(nr("connect"), 0), eperm},
		{"getpid", call(nr("getpid"), 0), unix.SECCOMP_RET_ALLOW},
	} {
		if c.got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, c.got, c.want)
		}
	}
}
