//go:build linux

package syscalls

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The values of enum kcmp_type in include/uapi/linux/kcmp.h.
func TestKcmpConstants(t *testing.T) {
	want := []KcmpType{KCMP_FILE, KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_IO, KCMP_SYSVSEM, KCMP_EPOLL_TFD}
	names := "KCMP_FILE KCMP_VM KCMP_FILES KCMP_FS KCMP_SIGHAND KCMP_IO KCMP_SYSVSEM KCMP_EPOLL_TFD"
	for i, k := range want {
		if int(k) != i {
			t.Errorf("%v = %d, want %d", k, int(k), i)
		}
		if k.String() != strings.Fields(names)[i] {
			t.Errorf("KcmpType(%d).String() = %q", i, k.String())
		}
	}
	if s := KcmpType(8).String(); s != "KcmpType(8)" {
		t.Errorf("KcmpType(8).String() = %q", s)
	}
}

// kcmpCheck calls Kcmp and handles a kernel that forbids it outright.
func kcmpCheck(t *testing.T, pid1, pid2 int, typ KcmpType, idx1, idx2 uintptr) int {
	t.Helper()
	r, err := Kcmp(pid1, pid2, typ, idx1, idx2)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("kernel built without kcmp(2) (CONFIG_KCMP)")
	}
	if errors.Is(err, unix.EPERM) {
		if b, rerr := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); rerr == nil {
			if scope, _ := strconv.Atoi(strings.TrimSpace(string(b))); scope >= 2 {
				t.Skipf("Yama ptrace_scope=%d forbids kcmp for uid %d: %v", scope, os.Getuid(), err)
			}
		}
	}
	if err != nil {
		t.Fatalf("Kcmp(%d, %d, %v, %d, %d): %v", pid1, pid2, typ, idx1, idx2, err)
	}
	if r < 0 || r > 3 {
		t.Fatalf("Kcmp(%d, %d, %v) = %d, outside 0..3", pid1, pid2, typ, r)
	}
	return r
}

// Two threads of this process share everything a Go thread shares.
func TestKcmpOwnThreads(t *testing.T) {
	tidc := make(chan int)
	release := make(chan struct{})
	defer close(release)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is thrown away
		tidc <- unix.Gettid()
		<-release
	}()
	tid := <-tidc
	pid := os.Getpid()
	if tid == pid {
		t.Fatal("locked goroutine ran on the main thread")
	}
	if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid)); err != nil {
		t.Fatalf("thread %d not among this process's tasks: %v", tid, err)
	}
	for _, typ := range []KcmpType{KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_SYSVSEM} {
		if r := kcmpCheck(t, pid, tid, typ, 0, 0); r != 0 {
			t.Errorf("%v: main thread vs thread %d = %d, want 0 (shared)", typ, tid, r)
		}
		if same, err := KcmpSame(pid, tid, typ, 0, 0); err != nil || !same {
			t.Errorf("KcmpSame(%v) = %v, %v", typ, same, err)
		}
	}
}

// A child started by os/exec shares no VM, fd table, fs attributes, signal
// handlers or I/O context with us; the order is consistent both ways.
func TestKcmpChild(t *testing.T) {
	b := startBlockerT(t, nil, "ioprio") // ioprio: an I/O context to compare
	pid, child := os.Getpid(), b.pid()
	for _, typ := range []KcmpType{KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_IO} {
		r := kcmpCheck(t, pid, child, typ, 0, 0)
		if r == 0 {
			t.Errorf("%v: child shares ours", typ)
		}
		if back := kcmpCheck(t, child, pid, typ, 0, 0); r+back != 3 || r == 3 {
			t.Errorf("%v: order %d one way, %d the other", typ, r, back)
		}
		if same, err := KcmpSame(pid, child, typ, 0, 0); err != nil || same {
			t.Errorf("KcmpSame(us, child, %v) = %v, %v", typ, same, err)
		}
		if r := kcmpCheck(t, child, child, typ, 0, 0); r != 0 {
			t.Errorf("%v: child vs itself = %d", typ, r)
		}
	}
}

func TestKcmpFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dup, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	other, err := os.Open(path) // same file, another open file description
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	pid := os.Getpid()
	if r := kcmpCheck(t, pid, pid, KCMP_FILE, f.Fd(), uintptr(dup)); r != 0 {
		t.Errorf("KCMP_FILE on dup'd fds = %d, want 0", r)
	}
	if r := kcmpCheck(t, pid, pid, KCMP_FILE, f.Fd(), other.Fd()); r == 0 {
		t.Error("KCMP_FILE on two opens of one file = 0, want different")
	}
	if same, err := KcmpSame(pid, pid, KCMP_FILE, uintptr(dup), f.Fd()); err != nil || !same {
		t.Errorf("KcmpSame(dup) = %v, %v", same, err)
	}
	if _, err := Kcmp(pid, pid, KCMP_FILE, f.Fd(), 1<<20); !errors.Is(err, unix.EBADF) {
		t.Errorf("KCMP_FILE with a closed fd: %v, want EBADF", err)
	}
}

func TestKcmpEpollTFD(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p[0], &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p[0])}); err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	slot := KcmpEpollSlot{Efd: uint32(epfd), Tfd: uint32(p[0])}
	r, err := KcmpEpollTFD(pid, pid, p[0], slot)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("kernel built without kcmp(2)")
	}
	if err != nil || r != 0 {
		t.Errorf("KcmpEpollTFD(registered fd) = %d, %v; want 0", r, err)
	}
	if r, err := KcmpEpollTFD(pid, pid, p[1], slot); err != nil || r == 0 {
		t.Errorf("KcmpEpollTFD(other fd) = %d, %v; want different", r, err)
	}
	if _, err := KcmpEpollTFD(pid, pid, p[0], KcmpEpollSlot{Efd: uint32(epfd), Tfd: uint32(p[1])}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("KcmpEpollTFD(unregistered slot): %v, want ENOENT", err)
	}
	// Kcmp refuses KCMP_EPOLL_TFD: its idx2 is a pointer.
	if _, err := Kcmp(pid, pid, KCMP_EPOLL_TFD, uintptr(p[0]), 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Kcmp(KCMP_EPOLL_TFD): %v, want EINVAL", err)
	}
}

func TestKcmpErrors(t *testing.T) {
	pid := os.Getpid()
	var se *os.SyscallError
	_, err := Kcmp(pid, pid, KcmpType(99), 0, 0)
	wantErrno(t, err, unix.EINVAL)
	if !errors.As(err, &se) || se.Syscall != "kcmp" {
		t.Errorf("error %#v is not an *os.SyscallError for kcmp", err)
	}
	if _, err := Kcmp(pid, math.MaxInt32, KCMP_VM, 0, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("Kcmp(missing pid): %v, want ESRCH", err)
	}
	if same, err := KcmpSame(math.MaxInt32, pid, KCMP_VM, 0, 0); same || !errors.Is(err, unix.ESRCH) {
		t.Errorf("KcmpSame(missing pid) = %v, %v", same, err)
	}
}
