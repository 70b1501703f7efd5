//go:build linux

package nstest_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/nstest"
)

// rootless adds a user namespace for unprivileged runs.
func rootless(opts ...namespace.Option) *namespace.Namespace {
	if os.Geteuid() != 0 {
		opts = append([]namespace.Option{namespace.WithPrivateUser()}, opts...)
	}
	return namespace.New(opts...)
}

// envHostFile names a file that the parent test created in the host's /tmp.
const envHostFile = "NSTEST_TEST_HOST_FILE"

// isPrivateTmp fails the test unless /tmp is an empty tmpfs that does not
// show the host's /tmp.
func isPrivateTmp(t *testing.T) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/tmp", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Errorf("/tmp is not a tmpfs: type %#x, %v", st.Type, err)
	}
	entries, err := os.ReadDir("/tmp")
	if err != nil || len(entries) != 0 {
		t.Errorf("/tmp is not empty: %v %v", entries, err)
	}
	host := os.Getenv(envHostFile)
	if host == "" {
		t.Fatalf("%s is not set: the parent did not create its host file", envHostFile)
	}
	if _, err := os.Stat(host); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the body sees the host's %s (%v)", host, err)
	}
}

// hostFile creates a file in the host's /tmp for isPrivateTmp and names it
// in the environment that the child test processes inherit.
func hostFile(t *testing.T) {
	t.Helper()
	if nstest.Inside() {
		return // the child inherits the parent's
	}
	f, err := os.CreateTemp("/tmp", "nstest-host-")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { os.Remove(f.Name()) })
	t.Setenv(envHostFile, f.Name())
}

const marker = "nstest-private-tmp-marker"

// Parallel subtests each get their own private /tmp, where they write the
// same file without clash; nothing reaches the host's /tmp.
func TestPrivateTmpPerTest(t *testing.T) {
	hostFile(t)
	t.Cleanup(func() {
		if _, err := os.Stat("/tmp/" + marker); !nstest.Inside() && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a file of a private /tmp reached the host: %v", err)
			os.Remove("/tmp/" + marker)
		}
	})
	for _, name := range []string{"first", "second", "third"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nstest.WithPrivateTmp(t, func(t *testing.T) {
				if !nstest.Inside() {
					t.Fatal("the body runs in the parent")
				}
				isPrivateTmp(t)
				if err := os.WriteFile("/tmp/"+marker, []byte(t.Name()), 0o600); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// t.TempDir works inside and lies in the private /tmp, whatever TMPDIR the
// parent has: a directory of the host's /tmp, which the body cannot see (as
// `go test -exec scripts/as-nobody` sets it), or a directory outside /tmp,
// which the body could see but must not write to.
func TestTempDirInside(t *testing.T) {
	hostFile(t)
	for _, where := range []string{"hidden", "visible"} {
		t.Run(where, func(t *testing.T) {
			if !nstest.Inside() {
				dir := t.TempDir()
				if where == "visible" {
					dir = dirOutsideTmp(t)
				}
				t.Setenv("TMPDIR", dir)
			}
			nstest.WithPrivateTmp(t, func(t *testing.T) {
				isPrivateTmp(t)
				if d := os.TempDir(); d != "/tmp" {
					t.Errorf("os.TempDir() = %s; want the private /tmp", d)
				}
				dir := t.TempDir()
				if !strings.HasPrefix(dir, "/tmp/") {
					t.Errorf("t.TempDir() = %s; want it in the private /tmp", dir)
				}
				var tmp, st unix.Stat_t
				if err := unix.Stat("/tmp", &tmp); err != nil {
					t.Fatal(err)
				}
				if err := unix.Stat(dir, &st); err != nil || st.Dev != tmp.Dev {
					t.Errorf("t.TempDir() %s is not on the private /tmp (%v)", dir, err)
				}
				if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			})
			if !nstest.Inside() {
				if entries, err := os.ReadDir(os.Getenv("TMPDIR")); err != nil || len(entries) != 0 {
					t.Errorf("the body wrote to the parent's TMPDIR: %v %v", entries, err)
				}
			}
		})
	}
}

// dirOutsideTmp returns a new empty directory outside /tmp that the test
// user can write to, removed at the end of the test, or skips the test.
func dirOutsideTmp(t *testing.T) string {
	t.Helper()
	for _, parent := range []string{"/var/tmp", "/dev/shm"} {
		if dir, err := os.MkdirTemp(parent, "nstest-tmpdir-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	t.Skip("no directory outside /tmp is writable (/var/tmp, /dev/shm)")
	return ""
}

func TestRunsAsPID1(t *testing.T) {
	t.Parallel()
	nstest.Run(t, rootless(namespace.WithPrivatePID(), namespace.WithHostname("nstest")), func(t *testing.T) {
		if os.Getpid() != 1 {
			t.Errorf("pid %d, want 1", os.Getpid())
		}
		if h, _ := os.Hostname(); h != "nstest" {
			t.Errorf("hostname %q", h)
		}
	})
}

// Each Run call of a test runs its own body in its own child, in its own
// namespaces.
func TestSeveralRunsPerTest(t *testing.T) {
	ran := 0
	for _, host := range []string{"first-body", "second-body"} {
		nstest.Run(t, rootless(namespace.WithHostname(host)), func(t *testing.T) {
			ran++
			if h, _ := os.Hostname(); h != host {
				t.Errorf("the body for %s runs with hostname %q", host, h)
			}
			if ran != 1 {
				t.Errorf("this child ran %d bodies, want 1", ran)
			}
		})
	}
}

// Subtest names with regexp metacharacters and spaces select exactly their
// test in the child.
func TestRunPattern(t *testing.T) {
	for _, name := range []string{"a.b(c)", "a.b(c)", "with space", "x|y", "[z]+"} {
		t.Run(name, func(t *testing.T) {
			want := t.Name()
			nstest.Run(t, rootless(namespace.WithPrivateMount()), func(t *testing.T) {
				if t.Name() != want {
					t.Errorf("body runs as %s, want %s", t.Name(), want)
				}
			})
		})
	}
}

// TestHelper runs only when a test below starts the test binary for it, with
// NSTEST_SELFTEST naming what to do.
func TestHelper(t *testing.T) {
	mode := os.Getenv("NSTEST_SELFTEST")
	if mode == "" {
		t.Skip("helper for the tests that run the test binary")
	}
	// Counted by TestNoRecursion: in a child, this line reaches the
	// parent's output marked "[ns] ".
	fmt.Printf("helper started, inside %v\n", nstest.Inside())
	ns := rootless(namespace.WithPrivateTmp())
	switch mode {
	case "pass":
		nstest.Run(t, ns, func(t *testing.T) { t.Log("the body passed") })
	case "error":
		nstest.Run(t, ns, func(t *testing.T) { t.Error("the body failed on purpose") })
	case "fatal":
		nstest.Run(t, ns, func(t *testing.T) {
			t.Fatal("the body stopped on purpose")
		})
	case "panic":
		nstest.Run(t, ns, func(t *testing.T) { panic("the body panicked on purpose") })
	case "exit":
		nstest.Run(t, ns, func(t *testing.T) { os.Exit(0) })
	case "skip":
		nstest.Run(t, ns, func(t *testing.T) { t.Skip("the body skipped on purpose") })
	case "noperm":
		// No user namespace, whoever runs this.
		nstest.Run(t, namespace.New(namespace.WithPrivateTmp()), func(t *testing.T) {
			t.Error("the body ran without its namespaces")
		})
		t.Log("after Run")
	case "invalid":
		nstest.Run(t, namespace.New(namespace.WithHostname("")), func(t *testing.T) {
			t.Error("the body ran with invalid options")
		})
		t.Log("after Run")
	case "nested":
		nstest.Run(t, ns, func(t *testing.T) {
			t.Run("nested", func(t *testing.T) {
				nstest.Run(t, ns, func(t *testing.T) { t.Error("nested body ran") })
			})
		})
	case "unreached":
		// The child runs the test function, which does not call Run there.
		if !nstest.Inside() {
			nstest.Run(t, ns, func(t *testing.T) { t.Error("the body ran") })
		}
	case "prefix":
		// The start line of the body follows this text on the same line.
		fmt.Print("no newline before Run: ")
		nstest.Run(t, ns, func(t *testing.T) { t.Log("the body passed") })
	case "linger":
		// A process that outlives the body and holds its output; no PID
		// namespace ends it. The test that runs this mode kills it.
		nstest.Run(t, ns, func(t *testing.T) {
			cmd := exec.Command("sleep", "60")
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("lingering pid %d\n", cmd.Process.Pid)
		})
	case "subtests":
		nstest.Run(t, ns, func(t *testing.T) {
			for _, name := range []string{"one", "two"} {
				t.Run(name, func(t *testing.T) { t.Log("subtest " + name + " ran") })
			}
		})
	}
}

// selfTest runs the test binary for TestHelper in mode, and returns its
// output and exit status. Run as uid 65534 if asNobody.
func selfTest(t *testing.T, mode string, asNobody bool, args ...string) (string, int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if asNobody {
		self = nobodyCopy(t, self)
	}
	cmd := exec.Command(self, append([]string{"-test.run=^TestHelper$"}, args...)...)
	cmd.Env = append(os.Environ(), "NSTEST_SELFTEST="+mode)
	if asNobody {
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run the test binary: %v", err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// nobodyCopy copies the program bin into a new directory that uid 65534 can
// reach, and returns the copy's path.
func nobodyCopy(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nstest-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("uid 65534 cannot reach %s (%s is not searchable); set TMPDIR to a directory it can", dir, d)
		}
	}
	src, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(dir, filepath.Base(bin))
	dst, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// A body that fails, stops, panics or exits early fails the parent test,
// and its output reaches the parent's.
func TestFailurePropagates(t *testing.T) {
	if nstest.Inside() {
		t.Skip("runs the test binary itself")
	}
	for mode, want := range map[string]string{
		"error": "the body failed on purpose",
		"fatal": "the body stopped on purpose",
		"panic": "the body panicked on purpose",
		"exit":  "exited before TestHelper finished",
	} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			out, code := selfTest(t, mode, false)
			if code != 1 {
				t.Errorf("exit status %d; want the parent test binary to fail (1)\n%s", code, out)
			}
			if !strings.Contains(out, want) || !strings.Contains(out, "--- FAIL: TestHelper ") {
				t.Errorf("the failure (%q) did not reach the parent's output:\n%s", want, out)
			}
			if mode != "exit" && !strings.Contains(out, "[ns] --- FAIL: TestHelper ") {
				t.Errorf("the child's result did not reach the parent's output:\n%s", out)
			}
		})
	}
}

// A passing body's output shows in the parent's verbose output only, and a
// skipping body skips the parent test.
func TestOutputAndSkip(t *testing.T) {
	if nstest.Inside() {
		t.Skip("runs the test binary itself")
	}
	out, code := selfTest(t, "pass", false, "-test.v")
	if code != 0 || !strings.Contains(out, "[ns] ") || !strings.Contains(out, "the body passed") || !strings.Contains(out, "--- PASS: TestHelper ") {
		t.Errorf("-v: exit %d; want the child's output streamed into the passing parent's:\n%s", code, out)
	}
	if strings.Contains(out, "nstest: body started") {
		t.Errorf("the start line reached the output:\n%s", out)
	}
	out, code = selfTest(t, "pass", false)
	if code != 0 || strings.Contains(out, "the body passed") {
		t.Errorf("without -v: exit %d; want the passing body's output hidden like t.Log's:\n%s", code, out)
	}
	out, code = selfTest(t, "skip", false, "-test.v")
	if code != 0 || !strings.Contains(out, "--- SKIP: TestHelper ") || !strings.Contains(out, "the body skipped on purpose") {
		t.Errorf("skip: exit %d; want the parent test skipped with the reason:\n%s", code, out)
	}
}

// Namespaces that cannot be created fail the parent test at once, with the
// reason; the body runs nowhere. Unprivileged runs check the permission
// error as the test user, root runs as uid 65534; both check invalid options.
func TestNamespaceErrors(t *testing.T) {
	if nstest.Inside() {
		t.Skip("runs the test binary itself")
	}
	out, code := selfTest(t, "noperm", os.Geteuid() == 0)
	if code != 1 || !strings.Contains(out, "nstest: cannot create the namespaces for TestHelper") ||
		!strings.Contains(out, "WithPrivateUser") {
		t.Errorf("without privilege: exit %d; want the parent to fail naming WithPrivateUser:\n%s", code, out)
	}
	out, code = selfTest(t, "invalid", false)
	if code != 1 || !strings.Contains(out, "nstest: TestHelper:") || !strings.Contains(out, "hostname") {
		t.Errorf("invalid options: exit %d; want the parent to fail with the validation error:\n%s", code, out)
	}
	if strings.Contains(out, "the body ran") || strings.Contains(out, "after Run") {
		t.Errorf("the body or the rest of the test ran:\n%s", out)
	}
}

// The child runs the body and never starts a child of its own, also for a
// Run nested in the body (which is skipped); -count runs each once more.
func TestNoRecursion(t *testing.T) {
	if nstest.Inside() {
		t.Skip("runs the test binary itself")
	}
	out, code := selfTest(t, "nested", false, "-test.v")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, out)
	}
	if s := startsIn(out); s != "parent,child" {
		t.Errorf("the test function started in %s; want once in the parent, once in its child\n%s", s, out)
	}
	if strings.Contains(out, "nested body ran") || !strings.Contains(out, "--- SKIP: TestHelper/nested") {
		t.Errorf("a nested Run ran its body, or was not skipped:\n%s", out)
	}

	out, code = selfTest(t, "pass", false, "-test.v", "-test.count=3")
	if s := startsIn(out); code != 0 || s != "parent,child,parent,child,parent,child" {
		t.Errorf("-count=3: exit %d, the test function started in %s; want each run once in the parent, once in a child\n%s", code, s, out)
	}
}

// startsIn lists where TestHelper started, as its output tells.
func startsIn(out string) string {
	var s []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "helper started, inside false"):
			s = append(s, "parent")
		case strings.HasSuffix(l, "[ns] helper started, inside true"):
			s = append(s, "child")
		case strings.Contains(l, "helper started"):
			s = append(s, "unexpected: "+l)
		}
	}
	return strings.Join(s, ",")
}

// go test -run selecting a subtest of a body runs only that subtest in the
// child.
func TestRunFlagReachesBody(t *testing.T) {
	if nstest.Inside() {
		t.Skip("runs the test binary itself")
	}
	out, code := selfTest(t, "subtests", false, "-test.v", "-test.run=^TestHelper$/two")
	if code != 0 || !strings.Contains(out, "subtest two ran") || strings.Contains(out, "subtest one ran") {
		t.Errorf("-run TestHelper/two: exit %d; want only subtest two to run in the child:\n%s", code, out)
	}
	out, code = selfTest(t, "subtests", false, "-test.v")
	if code != 0 || !strings.Contains(out, "subtest two ran") || !strings.Contains(out, "subtest one ran") {
		t.Errorf("-run TestHelper: exit %d; want both subtests to run in the child:\n%s", code, out)
	}
}

// A child test process that does not reach the Run call (zero tests run
// there, or the test function took another path) fails the parent test:
// the body ran nowhere.
func TestUnreachedBodyFails(t *testing.T) {
	if nstest.Inside() {
		t.Skip("runs the test binary itself")
	}
	out, code := selfTest(t, "unreached", false)
	if code != 1 || !strings.Contains(out, "did not reach this Run call of TestHelper") {
		t.Errorf("exit status %d; want the parent to fail, saying the child did not reach Run:\n%s", code, out)
	}
	if strings.Contains(out, "the body ran") {
		t.Errorf("the body ran:\n%s", out)
	}
	// Output without a newline before Run does not hide the body's start.
	out, code = selfTest(t, "prefix", false, "-test.v")
	if code != 0 || !strings.Contains(out, "[ns] no newline before Run: ") || !strings.Contains(out, "the body passed") {
		t.Errorf("text before the start line: exit %d; want the body to pass and the text to be kept:\n%s", code, out)
	}
}

// A process that the body leaves running with its output open does not
// hang the parent test or fail it: the parent stops reading, and says so.
func TestLingeringProcess(t *testing.T) {
	if nstest.Inside() {
		t.Skip("runs the test binary itself")
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("sleep(1) is not installed")
	}
	out, code := selfTest(t, "linger", false, "-test.v")
	for _, l := range strings.Split(out, "\n") {
		if _, p, ok := strings.Cut(l, "lingering pid "); ok {
			if pid, err := strconv.Atoi(strings.TrimSpace(p)); err == nil && pid > 1 {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Errorf("kill the lingering process %d: %v", pid, err)
				}
			}
		}
	}
	if !strings.Contains(out, "lingering pid ") {
		t.Errorf("the body did not start its process:\n%s", out)
	}
	if code != 0 || !strings.Contains(out, "outlived it and kept its output open") || !strings.Contains(out, "--- PASS: TestHelper ") {
		t.Errorf("exit status %d; want the parent test to pass with a note on the lingering process:\n%s", code, out)
	}
}
