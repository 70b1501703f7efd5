//go:build linux

package namespace

import (
	"bytes"
	"context"
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

	"github.com/linuxns/namespace/syscalls"
)

// Fail closed: a privilege or limit step that cannot be applied keeps the
// program from running, and the caller learns which step failed, in every
// verb and executor, with and without WithMinimalInit (whose PID 1 performs
// the steps in the raw executor).

// privFailCase is a privilege step that the kernel refuses.
type privFailCase struct {
	name  string
	opts  []Option
	step  string        // the *SetupError's step
	errno syscall.Errno // what it wraps
	skip  string        // why it does not apply here, or ""
}

// privFailCases returns the steps that fail here: a Landlock rule on a
// path that does not exist, an RLIMIT_NOFILE above fs.nr_open (EPERM even
// for root), and, for a user other than root without a user namespace,
// dropping capabilities from the bounding set (CAP_SETPCAP).
func privFailCases(t testing.TB) []privFailCase {
	nrOpen := uint64(1 << 20)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			nrOpen = v
		}
	}
	cases := []privFailCase{
		{name: "landlock", opts: []Option{WithLandlock(LandlockReadOnly("/no/such/linuxns/path"))}, step: "apply Landlock rules", errno: syscall.ENOENT},
		{name: "rlimit", opts: []Option{WithRlimit(unix.RLIMIT_NOFILE, nrOpen+1, nrOpen+1)}, step: "set resource limit nofile", errno: syscall.EPERM},
		{name: "caps", opts: []Option{WithCapabilities()}, step: "drop capabilities", errno: syscall.EPERM},
	}
	if landlockABI() < llNeedFS {
		cases[0].skip = "the kernel's Landlock ABI is below 3"
	}
	if asRoot() {
		cases[2].skip = "root may drop capabilities"
	}
	return cases
}

// PrivSetupFailEnv makes the test binary call Setup with the options of
// the privFailCase of that name (and a new PID namespace for "NAME+init",
// through a private user namespace for a user other than root), print
// "ran" if Setup returns nil, or the error, and exit.
const PrivSetupFailEnv = "LINUXNS_TEST_PRIV_SETUP_FAIL"

// privSetupFailHelper is the helper of PrivSetupFailEnv.
func privSetupFailHelper(name string) {
	for _, c := range privFailCases(nil) {
		if c.name != name {
			continue
		}
		err := New(c.opts...).Setup()
		if err == nil {
			fmt.Println("ran")
			os.Exit(0)
		}
		var se *SetupError
		fmt.Printf("SetupError=%v step=%q errno=%v: %v\n", errors.As(err, &se), stepOf(se), errors.Is(err, c.errno), err)
		os.Exit(0)
	}
	fmt.Println("no such case")
	os.Exit(3)
}

func stepOf(se *SetupError) string {
	if se == nil {
		return ""
	}
	return se.Step
}

// TestPrivFailClosedEveryVerb: for each failing step, every verb, with and
// without WithMinimalInit, runs nothing and names the step.
func TestPrivFailClosedEveryVerb(t *testing.T) {
	for _, c := range privFailCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			checkErr := func(verb string, err error) {
				t.Helper()
				var se *SetupError
				if !errors.As(err, &se) || !strings.Contains(se.Step, c.step) || !errors.Is(err, c.errno) {
					t.Errorf("%s: %v; want a *SetupError of step %q wrapping %v", verb, err, c.step, c.errno)
				}
			}
			dir := t.TempDir()
			marker := filepath.Join(dir, "ran")
			ran := func(verb string) {
				t.Helper()
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("%s: the program ran", verb)
					os.Remove(marker)
				}
			}
			plain := New(c.opts...)
			_, err := privProbe.Run(context.Background(), plain, dir)
			checkErr("Run", err)
			pool, err := plain.Pool(1)
			if err == nil {
				_, err = privProbe.Run(context.Background(), pool, dir)
				pool.Close()
			}
			checkErr("Pool", err)

			cmd := exec.Command(selfExe)
			cmd.Env = append(os.Environ(), PrivSetupFailEnv+"="+c.name, "GORACE=atexit_sleep_ms=0")
			b, err := cmd.CombinedOutput()
			want := fmt.Sprintf("SetupError=true step=%q errno=true", c.step)
			if err != nil || !bytes.Contains(b, []byte(want)) {
				// The step's name may carry a prefix ("in the child: ").
				if err != nil || !bytes.Contains(b, []byte("SetupError=true")) || !bytes.Contains(b, []byte(c.step)) || !bytes.Contains(b, []byte("errno=true")) {
					t.Errorf("Setup: %v\n%s\nwant %s", err, b, want)
				}
			}

			for _, init := range []string{"", "WithMinimalInit", "WithMinimalInit+proc", "WithKillDescendants", "WithPrivateTime"} {
				opts := c.opts
				label := ""
				if init != "" {
					if c.name == "caps" {
						continue // a user namespace, where dropping them works
					}
					label = " " + init
					switch init {
					case "WithKillDescendants":
						opts = append([]Option{WithKillDescendants()}, opts...)
					case "WithPrivateTime":
						opts = append([]Option{WithPrivateTime(time.Hour, 0), WithPrivatePID()}, opts...)
					default:
						opts = append([]Option{WithPrivatePID(), WithMinimalInit()}, opts...)
					}
					if init == "WithMinimalInit+proc" {
						opts = append(opts, WithPrivateMount()) // and the fresh /proc that PID 1 mounts
					}
					if !asRoot() && init != "WithKillDescendants" {
						opts = append([]Option{WithPrivateUser()}, opts...)
					}
				}
				if init == "WithKillDescendants" || init == "WithPrivateTime" {
					_, err := privProbe.Run(context.Background(), New(opts...), dir)
					checkErr("Run"+label, err)
				}
				n := New(opts...)
				cmd := n.Command(context.Background(), "/bin/touch", marker)
				out, err := cmd.CombinedOutput()
				if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), c.step) {
					t.Errorf("Command%s: %v, %s; want status 125 naming step %q", label, err, out, c.step)
				}
				ran("Command" + label)

				var p *os.Process
				if p, err = n.StartProcess("/bin/touch", []string{"touch", marker}, &os.ProcAttr{}); err == nil {
					p.Wait()
				}
				checkErr("StartProcess"+label, err)
				ran("StartProcess" + label)

				pr, err := n.Prepare("/bin/touch", []string{"touch", marker}, &os.ProcAttr{})
				if err == nil {
					if p, err = pr.Start(); err == nil {
						p.Wait()
					}
				}
				checkErr("Prepare"+label, err)
				ran("Prepare" + label)
			}
		})
	}
}

// PrivStageSetupEnv makes the test binary call Setup with
// privStageOptions (of the directory in the variable), then print
// privDescribe and exit.
const PrivStageSetupEnv = "LINUXNS_TEST_PRIV_STAGE_SETUP"

// privStageOptions are per-thread steps (Landlock, capabilities,
// no_new_privs) with a filter: in a program that links cgo, a Go child
// applies them through the privilege stage.
func privStageOptions(t testing.TB, dir string) []Option {
	return []Option{
		WithLandlock(landlockSystem(t), LandlockReadWrite(dir)),
		WithCapabilities(CapNetBindService),
		WithNoNewPrivs(),
		WithSeccomp(SeccompDenyErrno(syscall.ENOTTY, "keyctl")),
		WithRlimit(unix.RLIMIT_NOFILE, 64, 128), // a soft limit below the hard one
	}
}

// privStageSetupHelper is the helper of PrivStageSetupEnv.
func privStageSetupHelper(dir string) {
	if err := testNS(privStageOptions(nil, dir)...).Setup(); err != nil {
		fmt.Fprintf(os.Stderr, "Setup: %v\n", err)
		os.Exit(3)
	}
	fmt.Print(privDescribe(dir))
	os.Exit(0)
}

// TestPrivStageGoChildren: the per-thread steps reach every thread of a
// child that keeps running Go (Run, a Pool, Setup), read from inside,
// whether or not the program links cgo (a -race test binary does, and
// then the privilege stage executes the program again).
func TestPrivStageGoChildren(t *testing.T) {
	needLandlock(t)
	needSeccomp(t)
	t.Logf("the program links cgo: %v", !allThreadsWork())
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	n := testNS(privStageOptions(t, dir)...)
	check := func(verb, out string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v\n%s", verb, err, out)
			return
		}
		for _, want := range []string{
			"NoNewPrivs: 1", "Seccomp: 2", "CapBnd: 0000000000000400", "CapEff: 0000000000000400",
			"keyctl: ENOTTY", "write allowed dir: ok", "write /dev/shm: EACCES", "nofile: 64 128",
		} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("%s: no %q in\n%s", verb, want, out)
			}
		}
	}
	out, err := privProbe.Run(context.Background(), n, dir)
	check("Run", out, err)
	// Rules that do not cover the program, its loader or libraries: the
	// privilege stage lets it execute them, and nothing else (not /proc).
	out, err = privProbe.Run(context.Background(), New(WithLandlock(LandlockReadWrite(dir))), dir)
	if err != nil || !strings.Contains(out, "write allowed dir: ok\n") || !strings.Contains(out, "write /dev/shm: EACCES\n") ||
		!strings.Contains(out, "open /proc/self/status: permission denied") {
		t.Errorf("Run with a rule on the directory alone: %v\n%s", err, out)
	}
	pool, err := n.Pool(1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the pool's next child too
		out, err = privProbe.Run(context.Background(), pool, dir)
		check(fmt.Sprintf("Pool job %d", i), out, err)
	}
	pool.Close()
	cmd := exec.Command(selfExe)
	cmd.Env = append(os.Environ(), PrivStageSetupEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.Bytes())
	}
	check("Setup", string(b), err)
}

// TestPrivStageAfterOtherStages: the privilege stage after a join stage,
// a time namespace's stage and under WithKillDescendants' subreaper, where
// the socket's maker is not the parent.
func TestPrivStageAfterOtherStages(t *testing.T) {
	needLandlock(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	target := joinTarget(t)
	kinds := joinKinds(syscalls.UTS) // (its /tmp, where the program may be, is private)
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"join", []Option{WithJoinProcess(target, kinds...)}},
		{"time", []Option{WithPrivateTime(time.Hour, 0)}},
		{"kill descendants", []Option{WithKillDescendants()}},
	} {
		opts := append(c.opts, WithLandlock(landlockSystem(t), LandlockReadWrite(dir)), WithNoNewPrivs())
		n := New(opts...)
		if c.name == "time" {
			n = testNS(opts...)
		}
		out, err := privProbe.Run(context.Background(), n, dir)
		if err != nil || !strings.Contains(out, "NoNewPrivs: 1\n") || !strings.Contains(out, "write /dev/shm: EACCES\n") {
			t.Errorf("%s: %v\n%s", c.name, err, out)
		}
	}
}
