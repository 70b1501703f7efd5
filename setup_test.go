//go:build linux

package namespace

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// runSetupdemo runs the Setup fixture and returns its output and status.
func runSetupdemo(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runCmd(t, exec.Command(testBinary(t, "setupdemo"), args...))
}

// runCmd runs cmd and returns its combined output and exit status.
func runCmd(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// The program continues inside as PID 1 with an empty private /tmp (root of
// a user namespace when unprivileged), the code before Setup runs twice, and
// the inner exit status becomes the original process's.
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
		t.Errorf("the program did not continue as PID 1 (uid 0) with a private /tmp:\n%s", out)
	}
	if n := strings.Count(out, "before setup, pid 1\n"); n != 1 {
		t.Errorf("want 'before setup' once outside and once as PID 1 inside:\n%s", out)
	}
	checkMountsUnchanged(t, before)

	if out, code := runSetupdemo(t, "exit", "0"); code != 0 {
		t.Errorf("exit 0 inside: status %d\n%s", code, out)
	}
}

// With a time namespace too (before Linux 6.3, made by a relay in front of
// the program: timens_linux.go), the program continues inside it, a Go
// program that makes threads, with the clocks shifted.
func TestSetupTimeNamespace(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("this kernel has no time namespaces")
	}
	out, code := runSetupdemo(t, "time")
	if code != 0 {
		t.Fatalf("exit status %d:\n%s", code, out)
	}
	var up float64
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "uptime "); ok {
			up, _ = strconv.ParseFloat(v, 64)
		}
	}
	if up < 1_000_000 {
		t.Errorf("uptime inside %v, want at least the boot time offset, 1000000 s:\n%s", up, out)
	}
}

// The re-executed program gets the same arguments, environment (without
// the package's marker), working directory and standard input. (The
// directory is not under /tmp: the program inside has a private /tmp; see
// TestSetupWorkDir.)
func TestSetupKeepsArgsEnvCwdStdin(t *testing.T) {
	dir := "/usr"
	cmd := exec.Command(testBinary(t, "setupdemo"), "env", "x y", "")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SETUPDEMO_PROBE=probe value")
	out, code := runCmd(t, cmd)
	if code != 0 {
		t.Fatalf("exit status %d:\n%s", code, out)
	}
	for _, want := range []string{"cwd " + dir + "\n", `args ["env" "x y" ""]`, `probe "probe value"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "marker ") {
		t.Errorf("the package's marker reached the program:\n%s", out)
	}

	cmd = exec.Command(testBinary(t, "setupdemo"), "stdin")
	cmd.Stdin = strings.NewReader("hello from the caller\n")
	if out, code := runCmd(t, cmd); code != 0 || !strings.Contains(out, `stdin "hello from the caller"`) {
		t.Errorf("standard input did not reach the program inside (exit %d):\n%s", code, out)
	}
}

func TestSetupTwiceIsHarmless(t *testing.T) {
	out, code := runSetupdemo(t, "twice")
	if code != 0 || !strings.Contains(out, "second setup: nil, pid 1") {
		t.Errorf("second Setup: exit %d\n%s", code, out)
	}
	if n := strings.Count(out, "before setup"); n != 2 {
		t.Errorf("the program started %d times, want 2:\n%s", n, out)
	}
}

func TestSetupAfterAnotherSetup(t *testing.T) {
	out, code := runSetupdemo(t, "again")
	if code != 0 || !strings.Contains(out, "other setup: nil, pid 1, hostname changed false") {
		t.Errorf("Setup of another Namespace inside: exit %d\n%s", code, out)
	}
	if n := strings.Count(out, "before setup"); n != 2 {
		t.Errorf("the program started %d times, want 2:\n%s", n, out)
	}
}

// Without the privilege to create the namespaces, Setup returns the error in
// the original process, which carries on outside, and nothing is mounted.
// Unprivileged, the fixture runs as the test user; as root, it is started as
// uid 65534, so that both modes check the failing path.
func TestSetupFailureChangesNothing(t *testing.T) {
	bin := testBinary(t, "setupdemo")
	cmd := exec.Command(bin, "nouser")
	if asRoot() {
		cmd = exec.Command(nobodyCopy(t, bin), "nouser")
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	}
	before := hostMounts(t)
	out, code := runCmd(t, cmd)
	if code != 3 || !strings.Contains(out, "setup failed (ErrPermission true)") || !strings.Contains(out, "WithPrivateUser") {
		t.Errorf("exit %d; want ErrPermission returned in the original process (exit 3), naming WithPrivateUser:\n%s", code, out)
	}
	if strings.Count(out, "before setup") != 1 || strings.Contains(out, "inside,") {
		t.Errorf("the program ran again although Setup failed:\n%s", out)
	}
	checkMountsUnchanged(t, before)
}

// nobodyCopy copies the program bin into a new directory that uid 65534 can
// reach, and returns the copy's path.
func nobodyCopy(t *testing.T, bin string) string { return proctest.NobodyCopy(t, bin) }

// startSetupdemo starts the fixture, in a session of its own without a
// terminal, and waits for its "ready" line.
func startSetupdemo(t *testing.T, mode string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(testBinary(t, "setupdemo"), mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
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

// Signals sent to the original process reach the program inside, SIGINT
// too when no terminal sent it.
func TestSetupForwardsSignals(t *testing.T) {
	for mode, sig := range map[string]syscall.Signal{"wait-term": syscall.SIGTERM, "wait-int": syscall.SIGINT} {
		cmd, r := startSetupdemo(t, mode)
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		line, _ := r.ReadString('\n')
		err := cmd.Wait()
		var ee *exec.ExitError
		if strings.TrimSpace(line) != "got "+sig.String() || !errors.As(err, &ee) || ee.ExitCode() != 42 {
			t.Errorf("%v to the original process: %q, %v; want it forwarded (exit 42)", sig, line, err)
		}
	}
}

func TestSetupSignalStatus(t *testing.T) {
	cmd, _ := startSetupdemo(t, "sleep")
	// The re-executed program, ready, is the original process's only child.
	kids := proctest.ChildrenOf(cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("children of the original process %v; want the re-executed program alone", kids)
	}
	child := kids[0]
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit status %d, want %d", code, 128+int(syscall.SIGKILL))
	}
}

// A program that dies of a signal inside (here without a PID namespace, so
// that it can kill itself) makes the original process exit with 128+N.
func TestSetupKilledBySignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		out, code := runSetupdemo(t, "kill", strconv.Itoa(int(sig)))
		if code != 128+int(sig) {
			t.Errorf("killed by %v inside: exit status %d, want %d:\n%s", sig, code, 128+int(sig), out)
		}
		if !strings.Contains(out, "uid 0, 0 entries in /tmp") || strings.Contains(out, "inside, pid 1,") {
			t.Errorf("want the program inside with a private /tmp and no PID namespace:\n%s", out)
		}
	}
}

// On a terminal, under a shell with job control: Ctrl-C reaches the
// program inside once (the original process, in the same foreground process
// group, does not send it a second one) while signals sent to the original
// process are still forwarded; Ctrl-Z stops the whole job, so the shell
// sees it stopped and gets the terminal back, and fg continues it.
func TestSetupOnTerminal(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash (a shell with job control) is not installed")
	}
	master, slave, err := proctest.OpenPty()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	script := `set -m; "$0" tty; echo "shell: job status $?"; fg; echo "shell: fg status $?"`
	cmd := exec.Command(bash, "-c", script, testBinary(t, "setupdemo"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL) // the shell's own group
		for _, pid := range proctest.ChildrenOf(cmd.Process.Pid) {
			unix.Kill(-pid, unix.SIGKILL) // the job's group
		}
		<-exited
	})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	expect := func(want string) string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the terminal closed before %q; it showed:\n%s", want, strings.Join(seen, "\n"))
				}
				seen = append(seen, l)
				if strings.Contains(l, want) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q on the terminal after 30s; it showed:\n%s", want, strings.Join(seen, "\n"))
			}
		}
	}
	if l := expect("foreground "); !strings.Contains(l, "foreground true") {
		t.Errorf("inside: %q; want the program in the terminal's foreground process group", l)
	}
	expect("ready")
	kids := proctest.ChildrenOf(cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("the shell has children %v; want the original process alone", kids)
	}
	original := kids[0]

	fmt.Fprint(master, "\x03") // Ctrl-C
	expect("int 1")
	// A SIGINT forwarded by the original process would reach the program
	// before this SIGUSR1, which the original process forwards too.
	if err := unix.Kill(original, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if l := expect("usr1 "); !strings.HasSuffix(l, "usr1 ints=1") {
		t.Errorf("after one Ctrl-C: %q; want exactly one SIGINT", l)
	}

	fmt.Fprint(master, "\x1a") // Ctrl-Z
	if l := expect("shell: job status"); !strings.HasSuffix(l, "status "+strconv.Itoa(128+int(syscall.SIGTSTP))) {
		t.Errorf("the shell saw %q; want the job stopped by SIGTSTP", l)
	}
	fmt.Fprint(master, "count\n")
	if l := expect("count "); !strings.HasSuffix(l, "count 1") {
		t.Errorf("after fg: %q", l)
	}
	fmt.Fprint(master, "quit\n")
	if l := expect("shell: fg status"); !strings.HasSuffix(l, "status 0") {
		t.Errorf("the shell saw %q; want the job to exit 0", l)
	}
}

// As PID 1, the program cannot die of a signal it does not handle: a
// forwarded SIGTERM makes the Go runtime exit with status 2, which the
// original process passes on (docs/testing-and-pid1.md).
func TestSetupUnhandledSignalAsPID1(t *testing.T) {
	cmd, _ := startSetupdemo(t, "sleep")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
}

// TestSetupFailureResendsSignals: a SIGTERM that reaches the original
// process while Setup waits for its child is not lost when Setup then
// fails: the program dies of it, as it would have without Setup.
//
// The fixture runs in a user and mount namespace of the test's own (made by
// unshare -Urm) in which /proc/sys is covered by a tmpfs that it cannot
// remove (mounted in the namespaces around it, and so locked), so that the
// kernel refuses the child a fresh /proc and Setup fails. The test stops the child
// as soon as it exists, sends SIGTERM to the original process, waits until
// a thread of it has taken the signal, and lets the child go on and fail.
// An attempt in which the child was gone before it could be stopped is
// repeated.
func TestSetupFailureResendsSignals(t *testing.T) {
	bin := testBinary(t, "setupdemo")
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) (util-linux) to make the fixture's set-up fail")
	}
	for attempt := 1; attempt <= 50; attempt++ {
		cmd := exec.Command(unshare, "-Urm", "sh", "-c", `mount -t tmpfs none /proc/sys && exec unshare -Urm "$0" exit 0`, bin)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		exited := func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		pid := cmd.Process.Pid // unshare, sh, unshare, then the fixture
		stopped := false
		for child := 0; child == 0 && !exited(); {
			if !isSetupdemo(pid) {
				continue // still unshare or sh (which runs mount)
			}
			kids := proctest.ChildrenOf(pid)
			if len(kids) == 0 {
				continue
			}
			child = kids[0]
			_ = syscall.Kill(child, syscall.SIGSTOP)
			st := proctest.State(child)
			for ; st != 'T' && st != 'Z' && st != 0; st = proctest.State(child) {
			}
			if st != 'T' {
				break // gone before it stopped: another attempt
			}
			stopped = true
			_ = syscall.Kill(pid, syscall.SIGTERM)
			for sigtermPending(pid) && !exited() {
			}
			_ = syscall.Kill(child, syscall.SIGCONT)
		}
		<-done
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		text := out.String()
		if !stopped {
			continue
		}
		if !strings.Contains(text, "mount proc on /proc") {
			t.Fatalf("attempt %d: the fixture's Setup did not fail on /proc as arranged (%v):\n%s", attempt, ws, text)
		}
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Fatalf("attempt %d: Setup failed and the program went on (%v), losing the SIGTERM that arrived meanwhile:\n%s", attempt, ws, text)
		}
		t.Logf("attempt %d: Setup failed and the program died of the SIGTERM it got meanwhile", attempt)
		return
	}
	t.Fatal("in 50 attempts the child was never stopped before it was gone")
}

// isSetupdemo reports whether process pid runs the setupdemo fixture.
func isSetupdemo(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b)) == "setupdemo"
}

// sigtermPending reports whether SIGTERM is pending for process pid as a
// whole (no thread has taken it yet).
func sigtermPending(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(syscall.SIGTERM-1)) != 0
		}
	}
	return false
}
