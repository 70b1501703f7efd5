//go:build linux

package syscalls

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Helper processes. The test binary re-executes itself with helperEnv set to
// the name of a function in helpers; TestMain runs that function instead of
// the tests. Exit status 0 is success, skipCode a skip (reason on stderr),
// anything else a failure (details on stderr).
const (
	helperEnv = "SYSCALLS_TEST_HELPER"
	argEnv    = "SYSCALLS_TEST_ARG"
	skipCode  = 77

	// parentNSEnv lists the ID strings of the parent's namespaces, for
	// requireOwnNS: a child in a new user namespace may not look at its
	// parent's /proc/PID/ns.
	parentNSEnv = "SYSCALLS_TEST_PARENT_NS"
)

var helpers map[string]func(arg string) error

func init() {
	helpers = map[string]func(arg string) error{
		"block":        helperBlock,
		"unshare-each": func(string) error { return unshareEachProof() },
		"setns-uts":    func(string) error { return setnsUTSProof() },
		"setns-mnt":    func(string) error { return setnsMountProof() },
		"pivot-root":   pivotRootProof,
		"loopback":     func(string) error { return onThread(loopbackProof) },
		"owner-uid": func(string) error {
			uid, err := ownerUIDProof()
			if err == nil {
				fmt.Println(uid)
			}
			return err
		},
		"inside-userns": func(string) error { return insideUsernsProof() },
	}
}

// skipError makes a helper exit with skipCode.
type skipError string

func (e skipError) Error() string { return string(e) }

// The main goroutine keeps the main thread (the thread group leader, whose
// namespaces /proc/PID/ns shows) for itself. Otherwise a goroutine of
// onThread could run, lock and change the namespaces of the main thread
// while the main goroutine is blocked, and the process as a whole would
// appear to have moved.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	if name, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(helperMain(name, os.Getenv(argEnv)))
	}
	host, _ := os.Hostname()
	code := m.Run()
	if h, _ := os.Hostname(); h != host {
		fmt.Fprintf(os.Stderr, "FAIL: the tests changed the hostname from %q to %q\n", host, h)
		code = 1
	}
	os.Exit(code)
}

func helperMain(name, arg string) int {
	fn, ok := helpers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	err := fn(arg)
	var skip skipError
	switch {
	case errors.As(err, &skip):
		fmt.Fprintln(os.Stderr, skip)
		return skipCode
	case err != nil:
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
		return 1
	}
	return 0
}

// helperCmd returns a command that runs helper name of this test binary
// (exe, or the running executable if exe is "").
func helperCmd(ctx context.Context, exe, name, arg string, attr *syscall.SysProcAttr) (*exec.Cmd, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	var ids []string
	for _, typ := range Types() {
		if id, err := IDOf(0, 0, typ); err == nil {
			ids = append(ids, id.String())
		}
	}
	// Under -race, each exiting child would otherwise sleep for a second.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, argEnv+"="+arg,
		parentNSEnv+"="+strings.Join(ids, " "), "GORACE="+gorace)
	cmd.SysProcAttr = attr
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// runHelperExe runs helper name to completion and returns its stdout. A
// helper that skips skips t; one that fails fails t.
func runHelperExe(t *testing.T, exe, name, arg string, attr *syscall.SysProcAttr) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, err := helperCmd(ctx, exe, name, arg, attr)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == skipCode {
		t.Skipf("helper %s: %s", name, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		t.Fatalf("helper %s: %v\nstderr:\n%s", name, err, stderr.String())
	}
	return stdout.String()
}

func runHelper(t *testing.T, name, arg string, attr *syscall.SysProcAttr) string {
	t.Helper()
	return runHelperExe(t, "", name, arg, attr)
}

// userNSAttr starts a child in a new user namespace, in which the caller's
// uid and gid are root, plus the namespaces in flags. The kernel gives the
// child every capability over the namespaces it owns, whether the caller is
// root or uid 65534.
func userNSAttr(flags uintptr) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags:                 CLONE_NEWUSER | flags,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
}

// blocker is a helper child that does its set-up (see helperBlock), reports
// "ready PID" (its pid in its own PID namespace) and waits for stdin to
// close. No Pdeathsig is used: it would fire when the creating thread exits,
// and threads of this program are thrown away on purpose. Stdin reaching EOF
// ends the child if this process dies.
type blocker struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	innerPID string // the pid it sees for itself
	stderr   bytes.Buffer
}

func startBlocker(attr *syscall.SysProcAttr, arg string) (*blocker, error) {
	cmd, err := helperCmd(context.Background(), "", "block", arg, attr)
	if err != nil {
		return nil, err
	}
	b := &blocker{cmd: cmd}
	cmd.Stderr = &b.stderr
	if b.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	pid, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		werr := b.stop()
		return nil, fmt.Errorf("blocker did not get ready (%q, %v, %v): %s", line, err, werr, b.stderr.String())
	}
	b.innerPID = pid
	return b, nil
}

func (b *blocker) pid() int { return b.cmd.Process.Pid }

// stop ends the blocker and reaps it; it is killed if it does not exit
// within 10 seconds of stdin closing.
func (b *blocker) stop() error {
	b.stdin.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
		}
	}()
	if err := b.cmd.Wait(); err != nil {
		return fmt.Errorf("blocker: %v: %s", err, b.stderr.String())
	}
	return nil
}

// startBlockerT is startBlocker for a test: it fails t on error and stops
// the child at the end of the test.
func startBlockerT(t *testing.T, attr *syscall.SysProcAttr, arg string) *blocker {
	t.Helper()
	b, err := startBlocker(attr, arg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// helperBlock is the blocker's body. arg is a comma-separated list of
// set-up steps: "hostname=NAME" sets the hostname (refused unless the
// process is in a UTS namespace of its own) and "ioprio" gives the main
// thread an I/O context, so that KCMP_IO has something to compare.
func helperBlock(arg string) error {
	for opt := range strings.SplitSeq(arg, ",") {
		switch {
		case opt == "":
		case strings.HasPrefix(opt, "hostname="):
			if err := requireOwnNS(UTS); err != nil {
				return err
			}
			if err := unix.Sethostname([]byte(strings.TrimPrefix(opt, "hostname="))); err != nil {
				return err
			}
		case opt == "ioprio":
			const whoProcess, classBE, classShift = 1, 2, 13
			if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, whoProcess, uintptr(os.Getpid()), classBE<<classShift|4); e != 0 {
				return os.NewSyscallError("ioprio_set", e)
			}
		default:
			return fmt.Errorf("unknown blocker option %q", opt)
		}
	}
	fmt.Printf("ready %d\n", os.Getpid())
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}

// requireOwnNS fails unless this helper process is in a namespace of kind
// typ other than its parent's: the guard before anything that would change
// the host if the namespace were missing.
func requireOwnNS(typ Type) error {
	mine, err := IDOf(0, 0, typ)
	if err != nil {
		return err
	}
	parents, ok := os.LookupEnv(parentNSEnv)
	if !ok {
		return fmt.Errorf("refusing: %s not set", parentNSEnv)
	}
	if slices.Contains(strings.Fields(parents), mine.String()) {
		return fmt.Errorf("refusing: in the parent's %s namespace %v", typ, mine)
	}
	return nil
}

// onThread runs fn on a fresh OS thread that is thrown away afterwards: the
// goroutine locks itself to its thread and never unlocks, so the runtime
// ends the thread when the goroutine returns and whatever fn did to the
// thread's namespaces dies with it.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, on purpose
		errc <- fn()
	}()
	return <-errc
}

func isRoot() bool { return os.Getuid() == 0 }

// requireRoot skips tests that do privileged work in the test process
// itself; each has a counterpart that does the same in a user-namespaced
// child and runs as any user.
func requireRoot(t *testing.T) {
	t.Helper()
	if !isRoot() {
		t.Skip("needs CAP_SYS_ADMIN in the test process's own user namespace (uid 0); the user-namespaced variant covers this user")
	}
}

func mountTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkMountsUnchanged fails t if the host's mount table differs at the end
// of the test from what it is now.
func checkMountsUnchanged(t *testing.T) {
	t.Helper()
	before := mountTable(t)
	t.Cleanup(func() {
		if after := mountTable(t); after != before {
			t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

func wantErrno(t *testing.T, err error, want unix.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want one wrapping %v (%s)", err, want, unix.ErrnoName(want))
	}
}
