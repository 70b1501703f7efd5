//go:build linux

package namespace

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestHandleHolderPidReused: a Command made by a Handle is started after
// the Handle was closed (its holder reaped), and the holder's pid now
// belongs to another process, in the host's namespaces. The command must
// fail, not run in that process's namespaces (the jobs join
// /proc/HOLDER/ns/* by path when they start). Root only: the test gives
// the other process the holder's pid with clone3's set_tid.
func TestHandleHolderPidReused(t *testing.T) {
	if !asRoot() {
		t.Skip("clone3 with set_tid, which puts a process at the holder's pid, needs CAP_SYS_ADMIN")
	}
	host, _ := os.Hostname()
	h, err := testNS(WithHostname("held-" + strings.Repeat("x", 4))).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(context.Background(), "/bin/hostname")
	pid := h.Pid()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	other, errno := cloneAtPid(pid)
	if errno != 0 {
		t.Skipf("clone3 with set_tid %d: %v", pid, errno)
	}
	defer func() {
		_ = unix.Kill(other, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(other, &ws, 0, nil)
	}()
	out, err := cmd.Output()
	if err == nil {
		t.Errorf("the closed Handle's command ran in the namespaces of process %d, which took the holder's pid: hostname %q (the host's is %q)", other, strings.TrimSpace(string(out)), host)
	}
}

// cloneAtPid forks a process that waits forever at pid (clone3 set_tid).
//
//go:norace
func cloneAtPid(pid int) (int, syscall.Errno) {
	tid := [1]int32{int32(pid)}
	var args struct {
		flags, pidfd, childTID, parentTID, exitSignal uint64
		stack, stackSize, tls, setTID, setTIDSize     uint64
	}
	args.exitSignal = uint64(syscall.SIGCHLD)
	args.setTID = uint64(uintptr(unsafe.Pointer(&tid[0])))
	args.setTIDSize = 1
	r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if r1 == 0 {
		for {
			syscall.RawSyscall6(unix.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
		}
	}
	return int(r1), 0
}
