package proctest

import (
	"os/exec"
	"strings"
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
	cmd.Process.Kill()
	// Not yet waited for: a zombie.
	deadline := time.Now().Add(10 * time.Second)
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
