//go:build linux

package nstest_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/proctest"
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
	// Checked by TestChildEndsAfterBody: where the test's own cleanup, the
	// body's cleanup and the code after the switch run.
	t.Cleanup(func() { fmt.Printf("test cleanup, inside %v\n", nstest.Inside()) })
	bodyCleanup := func(t *testing.T) {
		t.Cleanup(func() { fmt.Printf("body cleanup, inside %v\n", nstest.Inside()) })
	}
	ns := rootless(namespace.WithPrivateTmp())
	switch mode {
	case "pass":
		nstest.Run(t, ns, func(t *testing.T) {
			bodyCleanup(t)
			t.Log("the body passed")
		})
	case "error":
		nstest.Run(t, ns, func(t *testing.T) {
			bodyCleanup(t)
			t.Error("the body failed on purpose")
		})
	case "fatal":
		nstest.Run(t, ns, func(t *testing.T) {
			bodyCleanup(t)
			t.Fatal("the body stopped on purpose")
		})
	case "panic":
		nstest.Run(t, ns, func(t *testing.T) {
			bodyCleanup(t)
			panic("the body panicked on purpose")
		})
	case "subpanic":
		nstest.Run(t, ns, func(t *testing.T) {
			bodyCleanup(t)
			t.Run("panics", func(t *testing.T) {
				t.Parallel()
				panic("the subtest panicked on purpose")
			})
		})
	case "exit":
		nstest.Run(t, ns, func(t *testing.T) { os.Exit(0) })
	case "skip":
		nstest.Run(t, ns, func(t *testing.T) {
			bodyCleanup(t)
			t.Skip("the body skipped on purpose")
		})
	case "subfail":
		nstest.Run(t, ns, func(t *testing.T) {
			bodyCleanup(t)
			t.Run("fails", func(t *testing.T) {
				t.Parallel()
				t.Error("the subtest failed on purpose")
			})
			t.Run("passes", func(t *testing.T) {})
		})
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
				t.Run(name, func(t *testing.T) {
					if name == "two" {
						t.Parallel()
					}
					t.Log("subtest " + name + " ran")
				})
			}
		})
	}
	fmt.Printf("after Run, inside %v\n", nstest.Inside())
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
func nobodyCopy(t *testing.T, bin string) string { return proctest.NobodyCopy(t, bin) }

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

// sharedKey names the environment variable that names the shared file of
// the test t.
func sharedKey(t *testing.T) string {
	return "NSTEST_TEST_SHARED_" + strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
}

// sharedFile returns the path of a file that the test t shares with its
// child test processes: in the parent, a new empty file outside /tmp (which
// a private /tmp hides), named in the environment that the children
// inherit, and removed at the end of the test.
func sharedFile(t *testing.T) string {
	t.Helper()
	key := sharedKey(t)
	if nstest.Inside() {
		path := os.Getenv(key)
		if path == "" {
			t.Fatalf("%s is not set: the parent did not make the shared file", key)
		}
		return path
	}
	path := filepath.Join(dirOutsideTmp(t), "shared")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Setenv(key, path)
	t.Cleanup(func() { os.Unsetenv(key) })
	return path
}

// events is a record, in a file that a test and its child test processes
// share, of the steps of the test and where each ran: "P" in the parent
// test process, "C" in a child. The parent writes down beforehand, step by
// step, what it expects, and compares the two when the test ends.
type events struct {
	path string // the record
	key  string // the environment variable that names it for the children
	want []string
}

// recordEvents starts the record of a test: in the parent, a new file
// outside /tmp (which a private /tmp hides), named in the environment that
// the child test processes inherit, and checked by a cleanup that runs
// after every other cleanup of the test. The parent's /tmp is recorded
// too, for isHostTmp.
func recordEvents(t *testing.T) *events {
	t.Helper()
	ev := &events{path: sharedFile(t), key: sharedKey(t)}
	if nstest.Inside() {
		return ev
	}
	var st unix.Stat_t
	if err := unix.Stat("/tmp", &st); err != nil {
		t.Fatal(err)
	}
	os.Setenv(ev.key+"_TMP", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	t.Cleanup(func() { os.Unsetenv(ev.key + "_TMP") })
	t.Cleanup(func() {
		if f := flag.Lookup("test.run"); f != nil && strings.Count(f.Value.String(), "/") >= 2 {
			// -run selects subtests of a body: the steps expected here
			// assume all of them run.
			t.Logf("-run %s: the record of the steps is not checked", f.Value)
			return
		}
		data, err := os.ReadFile(ev.path)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if !slices.Equal(got, ev.want) {
			t.Errorf("the steps ran as\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(ev.want, "\n\t"))
		}
	})
	return ev
}

// expect adds steps to what the parent expects the record to be; it does
// nothing in a child.
func (ev *events) expect(steps ...string) {
	if !nstest.Inside() {
		ev.want = append(ev.want, steps...)
	}
}

// add records step, and where it runs.
func (ev *events) add(t *testing.T, step string) {
	t.Helper()
	where := "P"
	if nstest.Inside() {
		where = "C"
	}
	f, err := os.OpenFile(ev.path, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s %s\n", step, where)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Errorf("record %s: %v", step, err)
	}
}

// isHostTmp fails the test unless /tmp is the directory that the parent
// saw when it started the record: code after Run must run in the parent,
// not in a child with a private /tmp.
func (ev *events) isHostTmp(t *testing.T, step string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/tmp", &st); err != nil {
		t.Fatal(err)
	}
	if id, want := fmt.Sprintf("%d:%d", st.Dev, st.Ino), os.Getenv(ev.key+"_TMP"); id != want {
		t.Errorf("%s: /tmp is %s, not the host's %s: this code runs inside the namespaces (inside %v)", step, id, want, nstest.Inside())
	}
}

// Code after Run runs once, in the parent, after the body: the child's copy
// of the test ends with the body and the cleanups registered in it; the
// cleanups registered before Run run in the parent only.
func TestCodeAfterRunRunsInParent(t *testing.T) {
	t.Parallel()
	ev := recordEvents(t)
	ev.expect("before P", "before C", "body C", "body cleanup C", "after P", "cleanup P")
	ev.add(t, "before")
	t.Cleanup(func() { ev.add(t, "cleanup") })
	nstest.WithPrivateTmp(t, func(t *testing.T) {
		t.Cleanup(func() { ev.add(t, "body cleanup") })
		ev.add(t, "body")
	})
	ev.add(t, "after")
	ev.isHostTmp(t, "after Run")
}

// With several Run calls, each child ends with its body. The code between
// two calls runs in the parent and, as set-up of the second body, in the
// second call's child, never in the first call's.
func TestCodeAfterSeveralRuns(t *testing.T) {
	ev := recordEvents(t)
	ev.expect("before P", "before C", "body 1 C", "between P", "before C", "between C", "body 2 C", "after P")
	ev.add(t, "before")
	nstest.WithPrivateTmp(t, func(t *testing.T) { ev.add(t, "body 1") })
	ev.add(t, "between")
	if !nstest.Inside() {
		ev.isHostTmp(t, "between the Run calls")
	}
	nstest.WithPrivateTmp(t, func(t *testing.T) { ev.add(t, "body 2") })
	ev.add(t, "after")
	ev.isHostTmp(t, "after the second Run")
}

// Subtests around Run and inside the body: the child ends when the body's
// subtests (parallel ones too) and cleanups are done, and goes back neither
// to the subtest's function nor to the test around it. To reach the body
// of a parallel subtest, the child runs the code of the test around it up
// to its end, as the parent does before the parallel subtest resumes.
func TestCodeAfterRunInSubtests(t *testing.T) {
	ev := recordEvents(t)
	ev.expect("top P")
	ev.add(t, "top")
	t.Run("a", func(t *testing.T) {
		ev.expect("a P", "top C", "a C", "a body C", "a inner C", "a body end C", "a parallel C", "a body cleanup C", "after a P")
		ev.add(t, "a")
		nstest.WithPrivateTmp(t, func(t *testing.T) {
			t.Cleanup(func() { ev.add(t, "a body cleanup") })
			ev.add(t, "a body")
			t.Run("inner", func(t *testing.T) { ev.add(t, "a inner") })
			t.Run("parallel", func(t *testing.T) {
				t.Parallel()
				ev.add(t, "a parallel")
			})
			ev.add(t, "a body end")
		})
		ev.add(t, "after a")
		ev.isHostTmp(t, "after Run in subtest a")
	})
	ev.expect("between P")
	ev.add(t, "between")
	t.Run("b", func(t *testing.T) {
		t.Parallel()
		ev.expect("b P", "top C", "between C", "after top C", "b C", "b body C", "after b P")
		ev.add(t, "b")
		nstest.WithPrivateTmp(t, func(t *testing.T) { ev.add(t, "b body") })
		ev.add(t, "after b")
		ev.isHostTmp(t, "after Run in subtest b")
	})
	ev.expect("after top P")
	ev.add(t, "after top")
}

// A t.TempDir made before Run is made again by the child's copy of the test,
// which runs no cleanup registered before Run: without a private /tmp, it
// lies in a directory that the parent gives the child and removes after it,
// so that nothing is left on the host.
func TestTempDirBeforeRun(t *testing.T) {
	report := sharedFile(t)
	dir := t.TempDir()
	nstest.Run(t, rootless(namespace.WithHostname("nstest-tempdir")), func(t *testing.T) {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("the child's t.TempDir: %v", err)
		}
		if err := os.WriteFile(report, []byte(dir), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	data, err := os.ReadFile(report)
	if err != nil || len(data) == 0 {
		t.Fatalf("the body did not report the child's t.TempDir: %q %v", data, err)
	}
	if child := string(data); child == dir {
		t.Errorf("the child's t.TempDir is the parent's %s", dir)
	} else if _, err := os.Lstat(child); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the child's t.TempDir %s is left on the host (%v)", child, err)
		os.RemoveAll(filepath.Dir(child))
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the parent's t.TempDir %s: %v", dir, err)
	}
}

// resultLine matches the result line of TestHelper in the parent's own
// output, not the child's.
var resultLine = regexp.MustCompile(`(?m)^--- (PASS|FAIL|SKIP): TestHelper \(`)

// The child's copy of the test ends with the body, whatever its outcome:
// the code after Run and the cleanups registered before Run run in the
// parent only; the body's cleanups run in the child, and the body's output
// and failures (its subtests' results too) reach the parent's output.
// A panic ends the child as it ends any test binary, with its message.
func TestChildEndsAfterBody(t *testing.T) {
	if nstest.Inside() {
		t.Skip("runs the test binary itself")
	}
	for _, c := range []struct {
		mode, result string
		want         []string // in the output
	}{
		{"pass", "PASS", []string{"the body passed"}},
		{"error", "FAIL", []string{"the body failed on purpose", "[ns] --- FAIL: TestHelper ("}},
		{"fatal", "FAIL", []string{"the body stopped on purpose", "[ns] --- FAIL: TestHelper ("}},
		{"skip", "SKIP", []string{"the body skipped on purpose", "[ns] --- SKIP: TestHelper ("}},
		{"subfail", "FAIL", []string{"the subtest failed on purpose", "[ns] --- FAIL: TestHelper/fails (", "[ns] --- PASS: TestHelper/passes ("}},
		{"panic", "FAIL", []string{"[ns] panic: the body panicked on purpose"}},
		{"subpanic", "FAIL", []string{"[ns] panic: the subtest panicked on purpose"}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			out, code := selfTest(t, c.mode, false, "-test.v")
			if want := map[string]int{"PASS": 0, "SKIP": 0, "FAIL": 1}[c.result]; code != want {
				t.Errorf("exit status %d, want %d", code, want)
			}
			if m := resultLine.FindStringSubmatch(out); m == nil || m[1] != c.result {
				t.Errorf("the parent test's result is %v, want %s", m, c.result)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output lacks %q", w)
				}
			}
			if strings.Contains(out, "[ns] after Run") {
				t.Errorf("the code after Run ran in the child")
			}
			// A skipped body skips the parent test where Run is called.
			if afterRun := strings.Contains(out, "after Run, inside false"); afterRun != (c.result != "SKIP") {
				t.Errorf("the code after Run ran in the parent: %v, want %v", afterRun, c.result != "SKIP")
			}
			if !strings.Contains(out, "[ns] body cleanup, inside true") {
				t.Errorf("the body's cleanup did not run in the child")
			}
			if !strings.Contains(out, "test cleanup, inside false") {
				t.Errorf("the test's cleanup did not run in the parent")
			}
			if !strings.HasSuffix(c.mode, "panic") && strings.Contains(out, "[ns] test cleanup") {
				t.Errorf("the cleanup registered before Run ran in the child")
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}
