//go:build linux

package proctest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWithArgChildrenZombies(t *testing.T) {
	arg := "987.654321"
	cmd := exec.Command("sleep", arg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := WithArg(arg)
	if len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Errorf("WithArg = %v, want [%d]", pids, cmd.Process.Pid)
	}
	if kids := Children(); len(kids) != 1 || kids[0] != cmd.Process.Pid {
		t.Errorf("Children = %v", kids)
	}
	if kids := ChildrenOf(os.Getpid()); len(kids) != 1 || kids[0] != cmd.Process.Pid {
		t.Errorf("ChildrenOf(self) = %v", kids)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for State(cmd.Process.Pid) != 'T' && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := State(cmd.Process.Pid); st != 'T' {
		t.Errorf("State of a stopped process = %q, want 'T'", st)
	}
	cmd.Process.Kill()
	// Not yet waited for: a zombie.
	deadline = time.Now().Add(10 * time.Second)
	for len(Zombies()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if z := Zombies(); len(z) != 1 || z[0] != cmd.Process.Pid {
		t.Errorf("Zombies = %v", z)
	}
	cmd.Wait()
	if len(WithArg(arg)) != 0 || len(Zombies()) != 0 {
		t.Error("still listed after Wait")
	}
	if st := State(cmd.Process.Pid); st != 0 {
		t.Errorf("State of a reaped process = %q, want 0", st)
	}
}

// OpenPty's two ends are connected: what is written on the slave is read
// on the master.
func TestOpenPty(t *testing.T) {
	m, s, err := OpenPty()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer m.Close()
	defer s.Close()
	if _, err := s.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := m.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "hello") {
		t.Errorf("read %q, %v from the master; want hello", buf[:n], err)
	}
}

// Threads agrees with the kernel's own count (the Threads line of
// /proc/self/status), read right after it; the runtime may start a thread in
// between, so a few tries are allowed.
func TestThreads(t *testing.T) {
	var got, want int
	for range 10 {
		got = Threads()
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Threads:"); ok {
				want, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if got == want && got > 0 {
			return
		}
	}
	t.Errorf("Threads = %d, /proc/self/status says %d", got, want)
}

func TestMounts(t *testing.T) {
	m, err := Mounts()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m, "/proc proc ") {
		t.Errorf("no /proc in:\n%s", m)
	}
}
