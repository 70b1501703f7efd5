//go:build linux

package namespace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCommandPrivateTmpAndPID(t *testing.T) {
	before := hostMounts(t)
	cmd := testNS(WithPrivatePID(), WithPrivateTmp(), WithHostname("cmd-test")).Command(context.Background(),
		"sh", "-c", `echo "pid=$$"; echo "tmp=$(ls -A /tmp | wc -l)"; echo "host=$(cat /proc/sys/kernel/hostname)"; echo "env=$LINUXNS_TEST_VAR"; echo "argv0=$0"; pwd; cat`)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	cmd.Stdin = strings.NewReader("from-stdin\n")
	cmd.Env = append(os.Environ(), "LINUXNS_TEST_VAR=yes")
	cmd.Dir = "/"
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"pid=1\n", "tmp=0\n", "host=cmd-test\n", "env=yes\n", "argv0=sh\n", "\n/\n", "from-stdin\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, envChild) {
		t.Errorf("the marker reached the command")
	}
	checkMountsUnchanged(t, before)
}

func TestCommandExitStatuses(t *testing.T) {
	ctx := context.Background()
	n := testNS(WithPrivateMount())
	err := n.Command(ctx, "sh", "-c", "exit 42").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 42 {
		t.Errorf("exit 42: got %v", err)
	}
	if err := n.Command(ctx, "no-such-program-linuxns").Run(); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("missing program: got %v, want exec.ErrNotFound", err)
	}
	// Found in the parent, gone in the child's mount namespace: 127.
	dir := t.TempDir()
	prog := dir + "/prog"
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, "/tmp/") {
		t.Skipf("TMPDIR %s is not under /tmp", dir)
	}
	err = testNS(WithPrivateTmp()).Command(ctx, prog).Run()
	if !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Errorf("program hidden by the private /tmp: got %v, want exit status 127", err)
	}
}

func TestCommandValidationError(t *testing.T) {
	cmd := New(WithHostname("")).Command(context.Background(), "true")
	if err := cmd.Run(); !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v, want ErrInvalid", err)
	}
}

func TestCommandContextTerminates(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancelled once the command runs (a deadline could come first on a
	// slow machine, under emulation, and end the child before it executes
	// sh).
	cmd := testNS(WithPrivatePID(), WithKillGrace(100*time.Millisecond)).Command(ctx, "sh", "-c", "trap '' TERM; echo ready; sleep 60")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("sh said %q (%v), want ready", line, err)
	}
	cancel()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v", err)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("status %v, want killed by SIGKILL", ee)
	}
}

// TestCommandCancelledDuringSetUp: a context that ends while the child
// still sets up kills it: Wait reports SIGKILL, never a set-up failure's
// 125 (the job socket closed under it). One narrow window is left: a cancel
// after the child has had its job but before it executes the program sends
// SIGTERM to the Go child, which as PID 1 exits with the runtime's status 2
// (closing it needs the child to report its execve: a protocol change);
// that status is logged, not failed.
func TestCommandCancelledDuringSetUp(t *testing.T) {
	for i := range 6 {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := testNS(WithPrivatePID(), WithKillGrace(2*time.Second)).Command(ctx, "sh", "-c", "trap '' TERM; sleep 60")
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i) * 200 * time.Microsecond)
		cancel()
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("cancelled after %d µs: %v", i*200, err)
		}
		// (Once sh runs, it ignores SIGTERM and is killed after the grace.)
		ws := ee.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		case ws.Exited() && ws.ExitStatus() == 2:
			t.Logf("cancelled after %d µs: status 2: the cancel fell between the hand-off and execve (the window left open)", i*200)
		default:
			t.Errorf("cancelled after %d µs: status %v, want killed by SIGKILL", i*200, ee)
		}
	}
}

// TestCommandDenied: without CAP_SYS_ADMIN, Start returns a *SetupError
// wrapping ErrPermission with a hint, not os/exec's bare EPERM, and starts
// nothing.
func TestCommandDenied(t *testing.T) {
	if asRoot() {
		t.Skip("root has CAP_SYS_ADMIN: nothing is denied; this is the uid 65534 case")
	}
	cmd := New(WithPrivateMount(), WithPrivatePID()).Command(context.Background(), "true")
	err := cmd.Start()
	var se *SetupError
	if !errors.As(err, &se) || !errors.Is(err, ErrPermission) || !errors.Is(err, fs.ErrPermission) || !strings.Contains(se.Hint, "WithPrivateUser") {
		t.Errorf("Start without privilege: %v, want a *SetupError wrapping ErrPermission with a hint to add WithPrivateUser", err)
	}
	if cmd.Process != nil {
		t.Errorf("a process was started: %d", cmd.Process.Pid)
	}
	// CLONE_SYSVSEM alone creates no namespace and needs no privilege.
	if err := New(WithPrivateSysVSem()).Command(context.Background(), "true").Run(); err != nil {
		t.Errorf("WithPrivateSysVSem alone, unprivileged: %v", err)
	}
	// With a user namespace the same command runs.
	if err := New(WithPrivateUser(), WithPrivateMount(), WithPrivatePID()).Command(context.Background(), "true").Run(); err != nil {
		t.Errorf("with WithPrivateUser: %v", err)
	}
}

func TestCommandWithMinimalInit(t *testing.T) {
	var out bytes.Buffer
	cmd := testNS(WithPrivatePID(), WithMinimalInit()).Command(context.Background(), "sh", "-c", "echo pid=$$; exit 5")
	cmd.Stdout = &out
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Errorf("got %v, want exit status 5", err)
	}
	if !strings.Contains(out.String(), "pid=2\n") {
		t.Errorf("command output %q; want it to be PID 2 under the init", out.String())
	}
}

func TestCommandReleasesFds(t *testing.T) {
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	before := countFds(t)
	for range 5 {
		if err := testNS(WithPrivateMount()).Command(context.Background(), "true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for countFds(t) != before && time.Now().Before(deadline) {
		runtime.GC() // the child's end of each socket is closed with its Cmd
		time.Sleep(10 * time.Millisecond)
	}
	if got := countFds(t); got != before {
		t.Errorf("fds: %d after, %d before", got, before)
	}
}

func TestProgramWithoutInit(t *testing.T) {
	bin := testBinary(t, "noinit")
	out, err := exec.Command(bin, "run").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("noinit run: %v; want exit 3 (ErrNoInit)\n%s", err, out)
	}
	if n := strings.Count(string(out), "main started"); n != 2 {
		// once in the parent, once in the child, which stops at Run
		t.Errorf("main started %d times, want 2 (no recursion):\n%s", n, out)
	}
	if strings.Contains(string(out), "function ran") {
		t.Errorf("the function ran without Init:\n%s", out)
	}
	out, err = exec.Command(bin, "command").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "command-ok") {
		t.Errorf("Command without Init: %v\n%s", err, out)
	}
}

func TestForgedChildRunsNothing(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A marker without its socket (inherited by accident, or set by hand)
	// is not a child: the program runs as usual, without the marker.
	for _, marker := range []string{"0123456789abcdef0123456789abcdef", "3:0123456789abcdef0123456789abcdef", "0:0123456789abcdef0123456789abcdef"} {
		cmd := exec.Command(self, "-test.run=^TestMarkerNotVisible$")
		cmd.Env = append(os.Environ(), envChild+"="+marker, "LINUXNS_TEST_MARKER_PROBE=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PASS") {
			t.Errorf("marker %q without socket: the program did not run as usual: %v\n%s", marker, err, out)
		}
	}
	// A descriptor that is not a Unix stream socket: likewise.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(self, "-test.run=^TestMarkerNotVisible$")
	cmd.Env = append(os.Environ(), envChild+"=3:0123456789abcdef0123456789abcdef", "LINUXNS_TEST_MARKER_PROBE=1")
	cmd.ExtraFiles = []*os.File{f}
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
		t.Errorf("marker naming a file: the program did not run as usual: %v\n%s", err, out)
	}
	var ee *exec.ExitError

	for name, payload := range map[string][]byte{
		"wrong token": frameBytes(t, job{Token: "ffffffffffffffffffffffffffffffff", Role: roleFunc, Func: "test-failing", Args: []string{"ok"}}),
		"truncated":   frameBytes(t, job{Token: "0123456789abcdef0123456789abcdef", Role: roleFunc, Func: "test-failing"})[:10],
		"garbage":     []byte("\x00\x00\x00\x05hello"),
		"huge length": []byte("\xff\xff\xff\xff"),
	} {
		t.Run(name, func(t *testing.T) {
			parent, childEnd, err := socketPair()
			if err != nil {
				t.Fatal(err)
			}
			defer parent.Close()
			cmd := exec.Command(self, "-test.run=^TestNothing$")
			cmd.Env = append(os.Environ(), envChild+"=3:0123456789abcdef0123456789abcdef")
			cmd.ExtraFiles = []*os.File{childEnd}
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			childEnd.Close()
			awaitHello(t, parent)
			parent.Write(payload)
			parent.Close()
			err = cmd.Wait()
			if !errors.As(err, &ee) || ee.ExitCode() != 125 {
				t.Errorf("%s: %v\n%s", name, err, buf.String())
			}
			if strings.Contains(buf.String(), "PASS") || strings.Contains(buf.String(), "ok") && !strings.Contains(buf.String(), "namespace:") {
				t.Errorf("%s: the test binary ran:\n%s", name, buf.String())
			}
		})
	}
}

func TestNothing(t *testing.T) {}

// TestMarkerNotVisible is run by TestForgedChildRunsNothing: the program
// runs as usual, and the marker is gone from its environment.
func TestMarkerNotVisible(t *testing.T) {
	if os.Getenv("LINUXNS_TEST_MARKER_PROBE") == "" {
		t.Skip("helper of TestForgedChildRunsNothing")
	}
	if v, ok := os.LookupEnv(envChild); ok {
		t.Fatalf("the marker reached the program: %q", v)
	}
}

func frameBytes(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeFrame(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCommandInitForwardsAndReaps(t *testing.T) {
	script := `trap 'echo got-term; exit 9' TERM
(sleep 0.1 &)
sleep 0.5
zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ')
echo "zombies=$zombies"
echo ready
while :; do sleep 0.05; done`
	cmd := testNS(WithPrivatePID(), WithMinimalInit()).Command(context.Background(), "sh", "-c", script)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var out bytes.Buffer
	buf := make([]byte, 256)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "ready") && time.Now().Before(deadline) {
		n, err := stdout.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(out.String(), "zombies=0") {
		t.Errorf("orphan not reaped by the init: %q", out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	out.Write(rest)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 9 || !strings.Contains(out.String(), "got-term") {
		t.Errorf("SIGTERM not forwarded through the init: %v, output %q", err, out.String())
	}
}
