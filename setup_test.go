package namespace

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runSetupdemo runs the Setup fixture and returns its output and status.
func runSetupdemo(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testBinary(t, "setupdemo"), args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("setupdemo: %v", err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func TestSetupContinuesInside(t *testing.T) {
	before := hostMounts(t)
	out, code := runSetupdemo(t, "exit", "7")
	if code != 7 {
		t.Errorf("exit status %d, want 7:\n%s", code, out)
	}
	if n := strings.Count(out, "before setup"); n != 2 {
		t.Errorf("code before Setup ran %d times, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "inside, pid 1, uid 0, 0 entries in /tmp") {
		t.Errorf("the program did not continue as PID 1 with a private /tmp:\n%s", out)
	}
	checkMountsUnchanged(t, before)
}

func TestSetupTwiceIsHarmless(t *testing.T) {
	out, code := runSetupdemo(t, "twice")
	if code != 0 || !strings.Contains(out, "second setup: nil, pid 1") {
		t.Errorf("second Setup: exit %d\n%s", code, out)
	}
}

func TestSetupFailureChangesNothing(t *testing.T) {
	if asRoot() {
		t.Skip("root can create the namespaces without a user namespace; the failing case runs as uid 65534")
	}
	before := hostMounts(t)
	out, code := runSetupdemo(t, "nouser")
	if code != 3 || !strings.Contains(out, "setup failed") || !strings.Contains(out, "WithPrivateUser") {
		t.Errorf("exit %d; want the error returned in the original process:\n%s", code, out)
	}
	if strings.Count(out, "before setup") != 1 {
		t.Errorf("the program ran again although Setup failed:\n%s", out)
	}
	checkMountsUnchanged(t, before)
}

// startSetupdemo starts the fixture and waits for its "ready" line.
func startSetupdemo(t *testing.T, mode string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(testBinary(t, "setupdemo"), mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("fixture ended before it was ready: %v", err)
		}
		if strings.TrimSpace(line) == "ready" {
			return cmd, r
		}
	}
}

func TestSetupForwardsSignals(t *testing.T) {
	cmd, r := startSetupdemo(t, "wait-term")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	line, _ := r.ReadString('\n')
	err := cmd.Wait()
	var ee *exec.ExitError
	if strings.TrimSpace(line) != "got SIGTERM" || !errors.As(err, &ee) || ee.ExitCode() != 42 {
		t.Errorf("SIGTERM to the original process: %q, %v; want it forwarded (exit 42)", line, err)
	}
}

func TestSetupSignalStatus(t *testing.T) {
	cmd, _ := startSetupdemo(t, "sleep")
	// The re-executed program is the original process's only child.
	var child int
	deadline := time.Now().Add(10 * time.Second)
	for child == 0 && time.Now().Before(deadline) {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task/*/children")
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			if fields := strings.Fields(string(b)); len(fields) > 0 {
				child, _ = strconv.Atoi(fields[0])
			}
		}
	}
	if child == 0 {
		t.Fatal("no re-executed child found")
	}
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit status %d, want %d", code, 128+int(syscall.SIGKILL))
	}
}
