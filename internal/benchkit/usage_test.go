//go:build linux

package benchkit

import (
	"os"
	"testing"
)

// ExecOpUsage records each run's page faults and CPU time, and counts the
// exit statuses it is told to as success.
func TestExecOpUsage(t *testing.T) {
	var u Usage
	op := ExecOpUsage([]string{"/bin/sh", "-c", "exit 0"}, &u)
	for range 3 {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	cpu, faults, runs := u.PerRun()
	if runs != 3 || faults <= 0 || cpu < 0 {
		t.Errorf("PerRun = %v, %v, %d; want 3 runs with page faults", cpu, faults, runs)
	}
	u.Reset()
	if _, _, runs := u.PerRun(); runs != 0 {
		t.Errorf("after Reset: %d runs", runs)
	}
	if err := ExecOpUsage([]string{"/bin/sh", "-c", "exit 1"}, &u, 1)(); err != nil {
		t.Errorf("exit 1 allowed: %v", err)
	}
	if err := ExecOpUsage([]string{"/bin/sh", "-c", "exit 2"}, &u, 1)(); err == nil {
		t.Error("exit 2 not allowed: no error")
	}
	if _, _, runs := u.PerRun(); runs != 2 {
		t.Errorf("failed runs are recorded too: got %d runs, want 2", runs)
	}
}

// Self counts this process's descriptors: one more after an open.
func TestSelfCounts(t *testing.T) {
	before, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	after, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if after.Fds != before.Fds+1 || after.Threads < 1 || after.RSSKiB <= 0 || after.HWMKiB < after.RSSKiB {
		t.Errorf("Self before %+v, after an open %+v", before, after)
	}
}
