//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linuxns/namespace/internal/proctest"
)

// SubIDsEnv makes the test binary the helper of TestSubIDs: as uid 65534,
// it starts a shell in a new user namespace with WithPrivateUser(SubIDs())
// and prints its id maps and what chown made of a file, or the error.
const SubIDsEnv = "LINUXNS_TEST_SUBIDS"

func subIDsHelper() {
	mode := os.Getenv(SubIDsEnv)
	if !strings.HasPrefix(mode, "setup") { // Setup's child runs this again, inside
		os.Unsetenv(SubIDsEnv)
	}
	if dir, ok := strings.CutPrefix(mode, "hang:"); ok {
		// dir holds a newuidmap that never finishes.
		os.Setenv("PATH", dir+":"+os.Getenv("PATH"))
		subIDToolTimeout = 300 * time.Millisecond
	}
	// A suffix adds a PID namespace with the minimal init ("+init") or a
	// time namespace ("+time") to the mapped user namespace.
	opts := []Option{WithPrivateUser(SubIDs()), WithPrivateTmp()}
	script := subIDsScript
	mode, extras, _ := strings.Cut(mode, "+")
	for _, extra := range strings.Split(extras, "+") {
		switch extra {
		case "init":
			opts = append(opts, WithPrivatePID(), WithMinimalInit())
			script += "; echo pid $$"
		case "pid": // a Go child is PID 1
			opts = append(opts, WithPrivatePID())
			script += "; echo ppid $PPID"
		case "time":
			opts = append(opts, WithPrivateTime(time.Hour, 2*time.Hour))
			script += "; tr -s ' ' </proc/self/timens_offsets"
		}
	}
	n := New(opts...)
	fail := func(err error) {
		fmt.Printf("error: %v (ErrPermission %v, ErrUnsupported %v, DeadlineExceeded %v)\n", err, errors.Is(err, ErrPermission), errors.Is(err, ErrUnsupported), errors.Is(err, os.ErrDeadlineExceeded))
		os.Exit(0)
	}
	switch mode {
	case "command":
		cmd := n.Command(context.Background(), "/bin/sh", "-c", script)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			fail(err)
		}
		fmt.Printf("status %d\n", cmd.ProcessState.ExitCode())
	case "run":
		out, err := subIDsTask.Run(context.Background(), n, script)
		if err != nil {
			fail(err)
		}
		fmt.Print(out)
		fmt.Printf("status 0\n")
	case "setup":
		if err := n.Setup(); err != nil {
			fail(err)
		}
		out, err := exec.Command("/bin/sh", "-c", script).Output()
		if err != nil {
			fail(err)
		}
		fmt.Print(string(out))
		fmt.Printf("status 0\n")
	case "pool":
		pool, err := n.Pool(1)
		if err != nil {
			fail(err)
		}
		out, err := subIDsTask.Run(context.Background(), pool, script)
		pool.Close()
		if err != nil {
			fail(err)
		}
		fmt.Print(out)
		fmt.Printf("status 0\n")
	default:
		p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
		if err != nil {
			fail(err)
		}
		st, _ := p.Wait()
		fmt.Printf("status %d\n", st.ExitCode())
	}
	os.Exit(0)
}

// subIDsScript prints the id maps and what chown made of a file.
const subIDsScript = "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'; touch /tmp/f && chown 1000:1000 /tmp/f && stat -c %u:%g /tmp/f"

// subIDsTask runs the helper's script in a Go child.
var subIDsTask = NewTask("test-subids", func(ctx context.Context, script string) (string, error) {
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	return string(out), err
})

// runAsNobodyWithSubIDs runs the helper as uid 65534 in a mount namespace
// of its own where /etc/subuid and /etc/subgid are the given contents.
func runAsNobodyWithSubIDs(t *testing.T, mode, subuid, subgid string) string {
	t.Helper()
	dir := proctest.SharedDir(t, "", 0o755)
	for name, content := range map[string]string{"subuid": subuid, "subgid": subgid} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := proctest.NobodyCopy(t, os.Args[0])
	script := `mount --bind "$1/subuid" /etc/subuid && mount --bind "$1/subgid" /etc/subgid && cd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups env ` + SubIDsEnv + `="$3" "$2" -test.run=^$`
	cmd := New(WithPrivateMount()).Command(context.Background(), "/bin/sh", "-c", script, "sh", dir, bin, mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

// needSubIDsHelper skips or fails a test that runs the helper through
// runAsNobodyWithSubIDs where it cannot: it needs root, newuidmap,
// newgidmap and setpriv, and files to bind-mount over.
func needSubIDsHelper(t *testing.T) {
	t.Helper()
	if !asRoot() {
		t.Skip("needs root to bind-mount subuid and subgid files in a mount namespace of its own; the root run tests uid 65534")
	}
	for _, tool := range []string{"newuidmap", "newgidmap", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (packages uidmap, util-linux: see .ci/run)", tool)
		}
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s does not exist to bind-mount over (%v); the host's /etc is not changed", f, err)
		}
	}
}

// TestSubIDs: uid 65534 with subordinate ranges (files bind-mounted over
// /etc/subuid and /etc/subgid in the test's own mount namespace) gets 0 →
// itself and 1.. → its ranges, through newuidmap and newgidmap, and a
// program inside can chown to another user; without a range, the error
// names the file.
func TestSubIDs(t *testing.T) {
	needSubIDsHelper(t)
	before := hostMounts(t)
	// StartProcess, Run, Command, a Pool's Task.Run, Setup.
	for _, mode := range []string{"start", "run", "command", "pool", "setup"} {
		out := runAsNobodyWithSubIDs(t, mode, "nobody:200000:65536\n", "65534:300000:1000\n")
		want := "0 65534 1\n1 200000 65536\n0 65534 1\n1 300000 1000\n1000:1000\nstatus 0\n"
		if out != want {
			t.Errorf("%s with ranges:\n%s\nwant:\n%s", mode, out, want)
		}
		out = runAsNobodyWithSubIDs(t, mode, "someoneelse:200000:65536\n", "nobody:300000:1000\n")
		if !strings.Contains(out, "/etc/subuid has no subordinate range for user nobody") || !strings.Contains(out, "ErrPermission true") {
			t.Errorf("%s without a uid range: %s", mode, out)
		}
	}
	checkMountsUnchanged(t, before)
}

// TestSubIDsWithInitAndTime: the subordinate ranges with the minimal init
// in front of a command (the command is PID 2 and sees the maps), and with
// a time namespace, whose offsets must be written before any process
// enters it while newuidmap writes the maps from outside (every verb that
// takes each option).
func TestSubIDsWithInitAndTime(t *testing.T) {
	needSubIDsHelper(t)
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("kernel has no time namespaces")
	}
	before := hostMounts(t)
	// A command is PID 1 (its parent outside: 0), but before Linux 6.3 the
	// raw child that forks it into the time namespace is PID 1 in front of
	// it (docs/kernels.md); a Go child is PID 1 on every kernel.
	commandPPID := "ppid 0"
	if !execEntersTimeNS() {
		commandPPID = "ppid 1"
	}
	const maps = "0 65534 1\n1 200000 65536\n0 65534 1\n1 300000 1000\n1000:1000\n"
	cases := []struct{ mode, want string }{
		{"start+init", maps + "pid 2\nstatus 0\n"},
		{"command+init", maps + "pid 2\nstatus 0\n"},
		{"start+time", maps + "monotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
		{"command+time", maps + "monotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
		{"run+time", maps + "monotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
		{"pool+time", maps + "monotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
		{"setup+time", maps + "monotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
		{"run+pid+time", maps + "ppid 1\nmonotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
		{"pool+pid+time", maps + "ppid 1\nmonotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
		{"setup+pid+time", maps + "ppid 1\nmonotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
		{"command+pid+time", maps + commandPPID + "\nmonotonic 3600 0\nboottime 7200 0\nstatus 0\n"},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			out := runAsNobodyWithSubIDs(t, c.mode, "nobody:200000:65536\n", "65534:300000:1000\n")
			if out != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", out, c.want)
			}
		})
	}
	checkMountsUnchanged(t, before)
}

// TestSubIDToolTimeout: a newuidmap that never finishes fails the start
// once subIDToolTimeout (lowered to 300 ms) has passed, with an error that
// says so, instead of holding StartProcess and the waiting child for good;
// what the helper started is killed with it.
func TestSubIDToolTimeout(t *testing.T) {
	if !asRoot() {
		t.Skip("needs root to bind-mount subuid and subgid files in a mount namespace of its own; the root run tests uid 65534")
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s does not exist to bind-mount over (%v); the host's /etc is not changed", f, err)
		}
	}
	dir := proctest.SharedDir(t, "", 0o755)
	if err := os.WriteFile(filepath.Join(dir, "newuidmap"), []byte("#!/bin/sh\nsleep 61.25 &\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out := runAsNobodyWithSubIDs(t, "hang:"+dir, "nobody:200000:65536\n", "65534:300000:1000\n")
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the start failed after %v", took)
	}
	if !strings.Contains(out, "newuidmap") || !strings.Contains(out, "did not finish within 300ms") || !strings.Contains(out, "DeadlineExceeded true") {
		t.Errorf("output:\n%s\nwant the start to fail as newuidmap did not finish (os.ErrDeadlineExceeded)", out)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, _ := os.ReadFile(p); strings.Contains(string(b), "61.25") {
			t.Errorf("the helper's child is still running: %s", p)
		}
	}
}

// TestSubIDsValidation: SubIDs is the only map, and a user without a
// range (or the helpers) is told before anything starts, by Command's
// Start as by the other verbs.
func TestSubIDsValidation(t *testing.T) {
	if _, _, err := subIDMaps(); err != nil {
		err2 := New(WithPrivateUser(SubIDs())).Command(context.Background(), "/bin/true").Run()
		if !errors.Is(err2, ErrUnsupported) && !errors.Is(err2, ErrPermission) {
			t.Errorf("Command with SubIDs and %v: %v", err, err2)
		}
	}
	// A Go child's raw stage does not combine with WithKillDescendants.
	err := New(WithPrivateUser(SubIDs()), WithKillDescendants()).Run(context.Background(), joinedFunc, "")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "WithKillDescendants") {
		t.Errorf("Run with SubIDs and WithKillDescendants: %v, want ErrUnsupported naming WithKillDescendants", err)
	}
	if err := New(WithPrivateUser(SubIDs(), IDMap{Kind: UIDs, Size: 1})).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("SubIDs with another map: %v", err)
	}
}
