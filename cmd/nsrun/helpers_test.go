//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// The tests run the built nsrun binary and observe its effects from inside,
// with shell commands. As an unprivileged user (go test -exec
// scripts/as-nobody) every namespace flag is combined with -r.

// testTimeout bounds every nsrun the tests start.
const testTimeout = 60 * time.Second

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// nsrunBinary returns the nsrun binary under test: $LINUXNS_BIN/nsrun (make
// build puts it there), or, as root, one built now with go build. An
// unprivileged user without LINUXNS_BIN skips the test.
func nsrunBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("LINUXNS_BIN"); dir != "" {
		p := filepath.Join(dir, "nsrun")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("nsrun is not built and an unprivileged user cannot build it here: run `make build` and set LINUXNS_BIN (make test does)")
	}
	built.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			built.err = errors.New("the go command is not in PATH to build nsrun: run `make build` and set LINUXNS_BIN")
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "nsrun-test"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "nsrun")
		out, err := exec.Command(goBin, "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = errors.New("go build nsrun: " + err.Error() + "\n" + string(out))
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// rootless reports whether the tests run unprivileged.
func rootless() bool { return os.Geteuid() != 0 }

// withUser returns args with -r in front when the tests run unprivileged
// and args ask for no user namespace themselves.
func withUser(args []string) []string {
	if !rootless() {
		return args
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-r" || a == "-U" || a == "-c" || a == "--user" || a == "--map-root-user" || a == "--map-current-user" {
			return args
		}
	}
	return append([]string{"-r"}, args...)
}

// execsInPlace reports whether nsrun with flags (and -r when unprivileged,
// as nsrun adds it) executes COMMAND in its own place rather than as a
// child.
func execsInPlace(flags []string) bool {
	c, err := parseArgs(append(withUser(flags), "--", "true"))
	return err == nil && !c.needsParent()
}

// command returns nsrun with args exactly as given, in a session of its own
// (no controlling terminal, so that terminal rules play no part), killed
// if the test outlives testTimeout.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, nsrunBinary(t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// nsrun is command with -r added when the tests run unprivileged.
func nsrun(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return command(t, withUser(args)...)
}

// result runs cmd and returns its combined output and exit status.
func result(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	if cmd.ProcessState.ExitCode() < 0 {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), cmd.ProcessState, out.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// shell runs `nsrun FLAGS -- sh -c SCRIPT` (with -r when unprivileged) and
// returns the output and exit status.
func shell(t *testing.T, script string, flags ...string) (string, int) {
	t.Helper()
	return result(t, nsrun(t, append(slices.Clone(flags), "--", "sh", "-c", script)...))
}

// mustShell is shell that fails the test unless the script exits 0.
func mustShell(t *testing.T, script string, flags ...string) string {
	t.Helper()
	out, code := shell(t, script, flags...)
	if code != 0 {
		t.Fatalf("nsrun %v -- sh -c %q: exit status %d\n%s", flags, script, code, out)
	}
	return out
}

// lines returns the output as a map of "key=value" lines.
func keyValues(out string) map[string]string {
	kv := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// nsKinds are the namespace kinds the tests compare.
var nsKinds = []string{"mnt", "uts", "ipc", "net", "pid", "user", "cgroup", "time"}

// ownNamespaces returns the test's own namespace ids by kind.
func ownNamespaces(t *testing.T) map[string]string {
	t.Helper()
	own := map[string]string{}
	for _, k := range nsKinds {
		if id, err := os.Readlink("/proc/self/ns/" + k); err == nil {
			own[k] = id
		}
	}
	return own
}

// A pty is the master side of a pseudo-terminal whose output is collected
// in the background.
type pty struct {
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	seen   int // how far expect has consumed out
	more   chan struct{}
	closed chan struct{}
}

// openPty opens a new pseudo-terminal and returns its master and its slave
// (both closed at the end of the test).
func openPty(t *testing.T) (*pty, *os.File) {
	t.Helper()
	m, s, err := proctest.OpenPty()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	t.Cleanup(func() { s.Close() })
	p := &pty{master: m, more: make(chan struct{}, 1), closed: make(chan struct{})}
	go p.collect()
	return p, s
}

func (p *pty) collect() {
	defer close(p.closed)
	buf := make([]byte, 4096)
	for {
		n, err := p.master.Read(buf)
		p.mu.Lock()
		p.out.Write(buf[:n])
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// write types s on the terminal.
func (p *pty) write(t *testing.T, s string) {
	t.Helper()
	if _, err := p.master.WriteString(s); err != nil {
		t.Fatalf("write to pty: %v", err)
	}
}

// expect waits until s appears in the output after what earlier calls
// consumed, and consumes up to its end.
func (p *pty) expect(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(testTimeout / 2)
	for {
		p.mu.Lock()
		all := p.out.String()
		i := strings.Index(all[p.seen:], s)
		if i >= 0 {
			p.seen += i + len(s)
		}
		p.mu.Unlock()
		if i >= 0 {
			return
		}
		select {
		case <-p.more:
		case <-p.closed:
			select {
			case <-p.more:
				continue
			default:
			}
			t.Fatalf("terminal closed before %q appeared; output:\n%s", s, all)
		case <-deadline:
			t.Fatalf("%q did not appear on the terminal; output:\n%s", s, all)
		}
	}
}

// output returns everything the terminal printed so far.
func (p *pty) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait waits for cmd with a deadline; it kills cmd and fails the test if the
// deadline passes.
func wait(t *testing.T, cmd *exec.Cmd, what string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not exit", what)
		return nil
	}
}

// waitForeground waits until the terminal's foreground process group is
// led by a running (not stopped) process named comm.
func (p *pty) waitForeground(t *testing.T, comm string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout / 2)
	for {
		pgrp, err := unix.IoctlGetInt(int(p.master.Fd()), unix.TIOCGPGRP)
		if err == nil && pgrp > 0 {
			if name, state, ok := procState(pgrp); ok && name == comm && state != "T" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no running %s in the terminal's foreground (group %d, %v); output:\n%s", comm, pgrp, err, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procState returns the command name and state letter of process pid.
func procState(pid int) (comm, state string, ok bool) {
	f, ok := procStat(pid)
	if !ok {
		return "", "", false
	}
	return f[0], f[1], true
}

// procStat returns the name of process pid followed by the fields of
// /proc/PID/stat after it (state, ppid, pgrp, session, …).
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return nil, false
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < 4 {
		return nil, false
	}
	return append([]string{string(b[i+1 : j])}, f...), true
}

// killSession kills every process of the session that cmd leads (it was
// started with Setsid): after a failure nothing the test started may be
// left, stopped jobs included.
func killSession(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	sid := cmd.Process.Pid
	for range 10 {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			t.Errorf("list processes: %v", err)
			break
		}
		n := 0
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if f, ok := procStat(pid); ok && f[4] == strconv.Itoa(sid) && f[1] != "Z" {
				_ = unix.Kill(pid, unix.SIGKILL)
				n++
			}
		}
		if n == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cmd.ProcessState == nil {
		_ = cmd.Wait()
	}
}
