//go:build linux

package namespace

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{
		{"6.1.0-57-cloud-amd64", false},
		{"6.2.16", false},
		{"6.3.0", true},
		{"6.12.118+deb12-cloud-amd64", true},
		{"6.18.44-fc-v1272", true},
		{"5.15.0-1-generic", false},
		{"7.0", true},
		{"", false},
		{"linux", false},
	} {
		if got := kernelAtLeast(c.release, 6, 3); got != c.want {
			t.Errorf("kernelAtLeast(%q, 6, 3) = %v, want %v", c.release, got, c.want)
		}
	}
}

// A child that dies after it took its job but before it ran it is told
// apart from a program that does not call Init: by whether the program it
// executed again (time namespace, subreaper) asked for its job, and by the
// status 2 of a Go program that panicked or could not start.
func TestStartFailureDiagnosis(t *testing.T) {
	status := func(script string) *exec.Cmd {
		cmd := exec.Command("sh", "-c", script)
		_ = cmd.Run()
		if cmd.ProcessState == nil {
			t.Fatalf("sh -c %q did not run", script)
		}
		return cmd
	}
	timePlan := New(WithPrivateTime(0, 0)).plan()
	for _, c := range []struct {
		name     string
		plan     plan
		rep      report
		script   string
		noInit   bool
		contains []string
	}{
		{"re-executed program died starting", timePlan, report{acked: true, hellos: 1}, "exit 2", false,
			[]string{"status 2", "before it asked for the job again", "time namespace", "standard error"}},
		{"re-executed program killed, reported by the relay", timePlan, report{acked: true, hellos: 1}, "exit 137", false,
			[]string{"128+9", "killed"}},
		{"re-executed program ran, then exited without running it", timePlan, report{acked: true, hellos: 2}, "exit 0", true, nil},
		{"go runtime failure", plan{}, report{acked: true, hellos: 1}, "exit 2", false,
			[]string{"status 2", "panic or a fatal runtime error"}},
		{"no Init", plan{}, report{acked: true, hellos: 1}, "exit 0", true, nil},
		{"no Init, non-zero status", plan{}, report{acked: true, hellos: 1}, "exit 3", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := status(c.script)
			j := &job{Role: roleFunc, Func: "f", Plan: c.plan}
			_, err := New().outcome(j, cmd.ProcessState, nil, c.rep)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrNoInit); got != c.noInit {
				t.Errorf("errors.Is(%v, ErrNoInit) = %v, want %v", err, got, c.noInit)
			}
			for _, s := range c.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			var ee *ExitError
			if !c.noInit && (!errors.As(err, &ee) || ee.Code != cmd.ProcessState.ExitCode()) {
				t.Errorf("error %v: want an *ExitError with the status %d", err, cmd.ProcessState.ExitCode())
			}
		})
	}
}
