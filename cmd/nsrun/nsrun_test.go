package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsrunBinary returns the nsrun binary: $LINUXNS_BIN/nsrun (make builds
// it), or one built now.
func nsrunBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("LINUXNS_BIN"); dir != "" {
		p := filepath.Join(dir, "nsrun")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("nsrun is not built and an unprivileged user cannot build it here: run `make build` (sets LINUXNS_BIN)")
	}
	out := filepath.Join(t.TempDir(), "nsrun")
	if b, err := exec.Command("go", "build", "-o", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("build nsrun: %v\n%s", err, b)
	}
	return out
}

// nsrunCmd returns an nsrun command; unprivileged, -r comes first.
func nsrunCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 && len(args) > 0 && args[0] != "-c" && args[0] != "-U" {
		args = append([]string{"-r"}, args...)
	}
	return exec.Command(nsrunBinary(t), args...)
}

// sh runs nsrun with args and then `sh -c script`, returning the output and
// the exit status.
func sh(t *testing.T, script string, args ...string) (string, int) {
	t.Helper()
	cmd := nsrunCmd(t, append(args, "--", "sh", "-c", script)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("nsrun: %v", err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func TestEachFlagCreatesItsNamespace(t *testing.T) {
	kinds := []string{"mnt", "uts", "ipc", "net", "pid", "user", "cgroup", "time"}
	own := map[string]string{}
	for _, k := range kinds {
		own[k], _ = os.Readlink("/proc/self/ns/" + k)
	}
	cases := map[string][]string{
		"-m": {"mnt"}, "-u": {"uts"}, "-i": {"ipc"}, "-n": {"net"}, "-p": {"pid", "mnt"},
		"-C": {"cgroup"}, "-T": {"time"}, "-U": {"user"}, "-mpnu": {"mnt", "pid", "net", "uts"},
		"--tmp": {"mnt"}, "--hostname=h": {"uts"}, "-c": {"user"},
	}
	var script strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&script, "echo %s=$(readlink /proc/self/ns/%s);", k, k)
	}
	for flag, want := range cases {
		t.Run(flag, func(t *testing.T) {
			out, code := sh(t, script.String(), flag)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, out)
			}
			differ := map[string]bool{}
			for _, k := range want {
				differ[k] = true
			}
			if os.Geteuid() != 0 || flag == "-U" || flag == "-c" {
				differ["user"] = true
			}
			for _, k := range kinds {
				if own[k] == "" {
					continue
				}
				got := strings.Contains(out, k+"="+own[k]+"\n")
				if got == differ[k] {
					t.Errorf("%s: %s namespace differs=%v, want %v\n%s", flag, k, !got, differ[k], out)
				}
			}
		})
	}
}

func TestInsideEffects(t *testing.T) {
	out, code := sh(t, `echo pid=$$; set -- /proc/[0-9]*; echo procs=$#; echo tmp=$(ls -A /tmp | wc -l);
echo host=$(cat /proc/sys/kernel/hostname); ip -o link show lo; echo links=$(ip -o link | wc -l); echo uid=$(id -u)`,
		"-p", "--tmp", "-n", "--hostname", "inside")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{"pid=1\n", "procs=1\n", "tmp=0\n", "host=inside\n", "LOOPBACK,UP", "links=1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if os.Geteuid() != 0 && !strings.Contains(out, "uid=0\n") {
		t.Errorf("-r did not map the caller to root:\n%s", out)
	}
}

func TestMapUsers(t *testing.T) {
	out, code := sh(t, "id -u", "-r")
	if code != 0 || strings.TrimSpace(out) != "0" {
		t.Errorf("-r: id -u = %q (exit %d), want 0", out, code)
	}
	cmd := exec.Command(nsrunBinary(t), "-c", "--", "id", "-u")
	b, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Geteuid()) {
		t.Errorf("-c: id -u = %q, %v; want %d", b, err, os.Geteuid())
	}
}

func TestTimeOffsets(t *testing.T) {
	out, code := sh(t, "cut -d' ' -f1 /proc/uptime", "--boottime", "86400")
	up, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if code != 0 || err != nil || up < 86400 {
		t.Errorf("uptime inside with --boottime 86400 = %q (exit %d)", out, code)
	}
}

func TestExitStatuses(t *testing.T) {
	if _, code := sh(t, "exit 7", "-m"); code != 7 {
		t.Errorf("exit 7: got %d", code)
	}
	if _, code := sh(t, "kill -TERM $$; sleep 5", "-p", "--init"); code != 128+int(syscall.SIGTERM) {
		t.Errorf("killed by SIGTERM: got %d, want %d", code, 128+int(syscall.SIGTERM))
	}
	run := func(args ...string) (string, int) {
		cmd := nsrunCmd(t, args...)
		b, _ := cmd.CombinedOutput()
		return string(b), cmd.ProcessState.ExitCode()
	}
	if out, code := run("-m", "--", "no-such-command-nsrun"); code != 127 || !strings.Contains(out, "not found") {
		t.Errorf("missing command: %d %q", code, out)
	}
	notExec := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notExec, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(notExec), 0o755)
	if out, code := run("-m", "--", notExec); code != 126 {
		t.Errorf("not executable: %d %q", code, out)
	}
	for _, bad := range [][]string{{"-x", "true"}, {"--tmp-size", "huge", "true"}, {"--kill-grace", "x", "true"}, {"--hostname", "bad_name!", "true"}} {
		if out, code := run(bad...); code != 125 || !strings.Contains(out, "nsrun:") {
			t.Errorf("nsrun %q: exit %d, output %q; want 125 with a message", bad, code, out)
		}
	}
	if out, code := run("--help"); code != 0 || !strings.Contains(out, "--map-root-user") {
		t.Errorf("--help: %d %q", code, out)
	}
	if out, code := run("-V"); code != 0 || !strings.HasPrefix(out, "nsrun ") {
		t.Errorf("-V: %d %q", code, out)
	}
}

func TestPrivilegedFlagSuggestsR(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may create namespaces without -r; this is the unprivileged case (uid 65534)")
	}
	cmd := exec.Command(nsrunBinary(t), "-m", "true")
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "add -r") {
		t.Errorf("exit %d, %q; want 125 and a suggestion of -r", cmd.ProcessState.ExitCode(), out)
	}
}

func TestNoCommandRunsShell(t *testing.T) {
	cmd := nsrunCmd(t, "-p")
	cmd.Env = append(os.Environ(), "SHELL=/bin/sh")
	cmd.Stdin = strings.NewReader("echo shell-pid=$$\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "shell-pid=1") {
		t.Errorf("nsrun without COMMAND: %v %q", err, out)
	}
}

// startReady starts cmd and waits until it prints "ready".
func startReady(t *testing.T, cmd *exec.Cmd) *bufio.Reader {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("command did not get ready: %q %v", line, err)
	}
	return r
}

func TestSignalsAreForwarded(t *testing.T) {
	for _, flags := range [][]string{{"-m"}, {"-p", "--init"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			cmd := nsrunCmd(t, append(flags, "--", "sh", "-c", `trap 'echo got-usr1' USR1; trap 'echo got-term; exit 4' TERM; echo ready; while :; do sleep 0.05; done`)...)
			r := startReady(t, cmd)
			cmd.Process.Signal(syscall.SIGUSR1)
			if line, _ := r.ReadString('\n'); strings.TrimSpace(line) != "got-usr1" {
				t.Errorf("USR1 not forwarded: %q", line)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			line, _ := r.ReadString('\n')
			err := cmd.Wait()
			var ee *exec.ExitError
			if strings.TrimSpace(line) != "got-term" || !errors.As(err, &ee) || ee.ExitCode() != 4 {
				t.Errorf("TERM: line %q, %v; want got-term and exit 4", line, err)
			}
		})
	}
}

func TestIgnoredTermIsKilledAfterGrace(t *testing.T) {
	cmd := nsrunCmd(t, "--kill-grace", "200ms", "-m", "--", "sh", "-c", `trap '' TERM; echo ready; while :; do sleep 0.05; done`)
	startReady(t, cmd)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("COMMAND ignoring SIGTERM was never killed")
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit status %d, want %d (killed)", code, 128+int(syscall.SIGKILL))
	}
}

// openPty returns a new pseudo-terminal pair.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}

func TestInteractiveShellOnPty(t *testing.T) {
	master, slave := openPty(t)
	defer master.Close()
	cmd := nsrunCmd(t, "-p", "--", "sh", "-i")
	cmd.Env = append(os.Environ(), "PS1=$ ", "ENV=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	defer cmd.Process.Kill()

	outc := make(chan string, 1)
	go func() {
		var all bytes.Buffer
		buf := make([]byte, 1024)
		for {
			n, err := master.Read(buf)
			all.Write(buf[:n])
			if err != nil {
				outc <- all.String()
				return
			}
		}
	}()
	fmt.Fprint(master, "echo pid=$$ tty=$(tty >/dev/null && echo yes)\n")
	fmt.Fprint(master, "exit 3\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("interactive shell did not exit")
	}
	master.Close()
	var out string
	select {
	case out = <-outc:
	case <-time.After(5 * time.Second):
	}
	if !strings.Contains(out, "pid=1 tty=yes") {
		t.Errorf("shell output %q; want pid=1 on a terminal", out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit status %d, want 3; output %q", code, out)
	}
}
