package nstest_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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

const marker = "nstest-private-tmp-marker"

func TestPrivateTmpPerTest(t *testing.T) {
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			nstest.WithPrivateTmp(t, func(t *testing.T) {
				entries, err := os.ReadDir("/tmp")
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != 0 {
					t.Fatalf("/tmp is not empty: %v", entries)
				}
				// Each subtest writes the same file: no clash, nothing on the host.
				if err := os.WriteFile("/tmp/"+marker, []byte(t.Name()), 0o600); err != nil {
					t.Fatal(err)
				}
				if !nstest.Inside() {
					t.Error("the body runs in the parent")
				}
			})
		})
	}
	if !nstest.Inside() {
		if _, err := os.Stat("/tmp/" + marker); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a file of the private /tmp reached the host: %v", err)
			os.Remove("/tmp/" + marker)
		}
	}
}

func TestTempDirInside(t *testing.T) {
	nstest.WithPrivateTmp(t, func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
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

// The helper tests below run only when the self-tests start them.
const envSelfTest = "NSTEST_SELFTEST"

func TestHelperFailingBody(t *testing.T) {
	if os.Getenv(envSelfTest) != "fail" {
		t.Skip("helper for TestFailurePropagates")
	}
	nstest.WithPrivateTmp(t, func(t *testing.T) {
		t.Error("the body failed on purpose")
	})
}

func TestHelperCountingBody(t *testing.T) {
	dir := os.Getenv(envSelfTest + "_DIR")
	if dir == "" {
		t.Skip("helper for TestNoRecursion")
	}
	f, err := os.OpenFile(filepath.Join(dir, "starts"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%v\n", nstest.Inside())
	f.Close()
	nstest.Run(t, rootless(namespace.WithPrivateMount()), func(t *testing.T) {
		// A nested call for another test must not start anything.
		t.Run("nested", func(t *testing.T) {
			nstest.Run(t, rootless(namespace.WithPrivateMount()), func(t *testing.T) {
				t.Error("nested body ran")
			})
		})
	})
}

func selfTest(t *testing.T, run string, env ...string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run="+run, "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestFailurePropagates(t *testing.T) {
	if nstest.Inside() {
		t.Skip("not inside")
	}
	out, err := selfTest(t, "^TestHelperFailingBody$", envSelfTest+"=fail")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("a failing body: %v; want the parent test binary to fail\n%s", err, out)
	}
	if !strings.Contains(out, "the body failed on purpose") || !strings.Contains(out, "--- FAIL: TestHelperFailingBody") {
		t.Errorf("the failure did not reach the parent's output:\n%s", out)
	}
}

func TestNoRecursion(t *testing.T) {
	if nstest.Inside() {
		t.Skip("not inside")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	out, err := selfTest(t, "^TestHelperCountingBody$", envSelfTest+"_DIR="+dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "starts"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var starts []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		starts = append(starts, sc.Text())
	}
	// Once in the parent, once in the one child; never more.
	if strings.Join(starts, ",") != "false,true" {
		t.Errorf("test function started %v; want [false true]\n%s", starts, out)
	}
	if strings.Contains(out, "nested body ran") {
		t.Errorf("a nested Run ran its body:\n%s", out)
	}
}

func TestRunPattern(t *testing.T) {
	t.Run("a.b(c)", func(t *testing.T) {
		nstest.Run(t, rootless(namespace.WithPrivateMount()), func(t *testing.T) {
			if t.Name() != "TestRunPattern/a.b(c)" {
				t.Errorf("body runs as %s", t.Name())
			}
		})
	})
}
