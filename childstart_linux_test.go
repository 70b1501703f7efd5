package namespace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/internal/rawproc"
)

// startState describes what a function's child was started with: its id
// maps, its signal dispositions and mask, its capabilities, its
// descriptors, and the RLIMIT_NOFILE that a command it starts with os/exec
// gets (the Go runtime raised its own as it started).
var startState = NewTask("test-start-state", func(ctx context.Context, _ struct{}) (string, error) {
	var b strings.Builder
	for _, f := range []string{"uid_map", "gid_map", "setgroups"} {
		data, err := os.ReadFile("/proc/self/" + f)
		fmt.Fprintf(&b, "%s %q %v\n", f, strings.Join(strings.Fields(string(data)), " "), err)
	}
	// This thread's status: the main thread's mask is full for a moment
	// whenever it starts a thread.
	runtime.LockOSThread()
	status, err := os.ReadFile("/proc/thread-self/status")
	runtime.UnlockOSThread()
	if err != nil {
		return "", err
	}
	for _, k := range []string{"SigIgn:", "SigBlk:", "CapInh:", "CapPrm:", "CapEff:", "CapAmb:", "NoNewPrivs:"} {
		v, _ := statusField(status, k)
		fmt.Fprintf(&b, "%s %s\n", k, v)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory's own descriptor, closed by now
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			return "", err
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // the runtime's own
		}
		kind, _, _ := strings.Cut(target, ":")
		fmt.Fprintf(&b, "fd %s %s\n", e.Name(), kind)
	}
	out, err := exec.Command("/bin/sh", "-c", "ulimit -Sn; ulimit -Hn").CombinedOutput()
	fmt.Fprintf(&b, "children's nofile %q %v\n", out, err)
	return b.String(), nil
})

// nofileProbe reports what origNofile finds in the function's process
// and whether a child with a new user namespace would be started by the
// raw clone there.
var nofileProbe = NewTask("test-nofile-probe", func(ctx context.Context, _ struct{}) (string, error) {
	o := origNofile()
	raw := New(WithPrivateUser()).childCmd("x", os.Stdin).rawStartable()
	return fmt.Sprintf("known %v restore %v soft %d raw %v", o.known, o.restore, o.lim[0], raw), nil
})

// TestRawChildStartsAsOSExec: a child with a new user namespace, which
// os/exec would fork, is started by the raw clone sharing the caller's
// memory (childstart_linux.go); the function's process must not tell the
// difference: the same id maps, signal dispositions and mask,
// capabilities, inherited descriptors, and the RLIMIT_NOFILE that os/exec
// restores for its children, here in a process whose soft limit is below
// the hard one (the Go runtime raised it) and in this one.
func TestRawChildStartsAsOSExec(t *testing.T) {
	if !rawproc.VMClone {
		t.Skip("the raw clone forks on this architecture: every child is started by os/exec")
	}
	// The process of its own gets "512", or "512+signals" when env(1)
	// started it with the signals below.
	const caseEnv, signalsCase = "LINUXNS_TEST_RAWSTART_SOFT", "+signals"
	soft := os.Getenv(caseEnv)
	if soft == "" {
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Max < 600 {
			t.Skipf("RLIMIT_NOFILE hard limit %d: no room for a lower soft one (%v)", lim.Max, err)
		}
		// A process of its own, started with a soft limit of 512 (by a
		// shell: prlimit here would tell os/exec to restore nothing),
		// which its runtime raises; os/exec knows the 512.
		// With SIGUSR1 blocked, SIGHUP and SIGTTOU ignored (which the
		// runtime leaves ignored, and os/signal knows of SIGHUP's only),
		// where env(1) can do so (coreutils 8.31).
		script, value := `ulimit -S -n 512 && exec "$@"`, "512"
		if exec.Command("env", "--block-signal=USR1", "--ignore-signal=TTOU", "true").Run() == nil {
			script = `ulimit -S -n 512 && exec env --block-signal=USR1 --ignore-signal=HUP --ignore-signal=TTOU "$@"`
			value += signalsCase
		} else {
			t.Log("env(1) cannot block or ignore signals: the dispositions and the mask are compared as they are")
		}
		sh := exec.Command("/bin/sh", "-c", script, "sh",
			os.Args[0], "-test.run=^TestRawChildStartsAsOSExec$", "-test.v", "-test.count=1")
		sh.Env = append(os.Environ(), caseEnv+"="+value)
		out, err := sh.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestRawChildStartsAsOSExec") && !strings.Contains(string(out), noProbe) {
			t.Errorf("with a soft RLIMIT_NOFILE of 512: %v\n%s", err, out)
		}
	}
	skipWithoutProbe(t)
	ns := New(WithPrivateUser(), WithPrivateMount())
	if !ns.childCmd("x", os.Stdin).rawStartable() {
		t.Fatal("a child with a new user namespace is not started by the raw clone")
	}
	raw, err := startState.Run(context.Background(), ns, struct{}{})
	if err != nil {
		t.Fatalf("raw start: %v", err)
	}
	forceExecStart.Store(true)
	viaExec, err := startState.Run(context.Background(), ns, struct{}{})
	forceExecStart.Store(false)
	if err != nil {
		t.Fatalf("os/exec start: %v", err)
	}
	if raw != viaExec {
		t.Errorf("the function's process differs:\nraw clone:\n%s\nos/exec:\n%s", raw, viaExec)
	}
	// (This process's own mask cannot tell: the main thread blocks every
	// signal for a moment whenever it starts a thread.)
	soft, signals := strings.CutSuffix(soft, signalsCase)
	if signals {
		// Started by env(1) as asked: the child keeps what it gave (and
		// whatever this process inherited besides).
		for _, want := range []struct {
			field string
			bits  uint64
		}{
			{"SigIgn:", 1<<(unix.SIGHUP-1) | 1<<(unix.SIGTTOU-1)},
			{"SigBlk:", 1 << (unix.SIGUSR1 - 1)},
		} {
			v, _ := statusField([]byte(raw), want.field)
			if got, err := strconv.ParseUint(v, 16, 64); err != nil || got&want.bits != want.bits {
				t.Errorf("the function's process has %s %s, without %#x (SIGHUP and SIGTTOU ignored, SIGUSR1 blocked):\n%s", want.field, v, want.bits, raw)
			}
		}
	}
	if soft != "" && !strings.Contains(raw, `children's nofile "`+soft+`\n`) {
		t.Errorf("a command started by the function has not the soft RLIMIT_NOFILE %s that this process started with:\n%s", soft, raw)
	}
	if o := origNofile(); soft != "" && (!o.known || !o.restore || o.lim[0] != 512) {
		t.Errorf("origNofile = %+v; want the soft limit 512 found", o)
	}
	if soft != "" {
		// Under a seccomp filter (which might kill the probe for calling
		// ptrace) the limit is not looked for: children with a user
		// namespace are started by os/exec. The function's process
		// started with 512 and raised it, as this one did.
		got, err := nofileProbe.Run(context.Background(), New(WithPrivateUser(), WithSeccomp()), struct{}{})
		if want := "known false restore false soft 0 raw false"; err != nil || got != want {
			t.Errorf("under WithSeccomp(): %q, %v; want %q", got, err, want)
		}
		got, err = nofileProbe.Run(context.Background(), ns, struct{}{})
		if want := "known true restore true soft 512 raw true"; err != nil || got != want {
			t.Errorf("in a function's process: %q, %v; want %q", got, err, want)
		}
	}
	t.Logf("%s", raw)
}

// noProbe is the reason skipWithoutProbe gives.
const noProbe = "cannot learn the RLIMIT_NOFILE os/exec gives its children"

// skipWithoutProbe skips a test of the raw start in a process that cannot
// learn the RLIMIT_NOFILE os/exec gives its children (under a seccomp
// filter, or where ptrace is denied, with a soft limit the runtime
// raised): there every child is started by os/exec.
func skipWithoutProbe(t *testing.T) {
	t.Helper()
	if !origNofile().known {
		t.Skip("this process " + noProbe + " (a seccomp filter, or ptrace denied): its children with a user namespace are started by os/exec")
	}
}

// TestRawChildConcurrent starts children with a new user namespace from
// many goroutines at once: each child reads its arguments in the
// caller's memory until its execve, while the callers' goroutines grow and
// move their stacks (a SpawnArgs left on a goroutine's stack was read
// there after it moved: children executed with another's environment).
func TestRawChildConcurrent(t *testing.T) {
	ns := New(WithPrivateUser(), WithPrivateMount())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 12 {
				if err := ns.Run(context.Background(), noopFunc); err != nil {
					errs <- fmt.Errorf("goroutine %d, run %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRawChildStart starts programs with childProc directly, as Run
// starts its children, with a new user namespace: a program that runs and
// exits with a status, one that cannot be executed, and id maps the
// kernel refuses; each failure is Start's error, with no process.
func TestRawChildStart(t *testing.T) {
	if !rawproc.VMClone {
		t.Skip("the raw clone forks on this architecture: every child is started by os/exec")
	}
	uid, gid := os.Geteuid(), os.Getegid()
	cmd := func(path string, args ...string) *childProc {
		return newChildProc(&exec.Cmd{
			Path: path, Args: append([]string{path}, args...), Env: []string{"A=1"},
			Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
			SysProcAttr: &syscall.SysProcAttr{
				Cloneflags:  unix.CLONE_NEWUSER,
				Pdeathsig:   syscall.SIGKILL,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
			},
		})
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	skipWithoutProbe(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	c := cmd(sh, "-c", `[ "$(id -u)" = 0 ] && [ "$A" = 1 ] && exit 3`)
	if !c.rawStartable() {
		t.Fatal("not started by the raw clone")
	}
	if err := c.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	var ee *exec.ExitError
	if err := c.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("Wait = %v; want exit status 3 (root inside, its environment)", err)
	}
	if c.ProcessState == nil || c.ProcessState.ExitCode() != 3 {
		t.Errorf("ProcessState = %v", c.ProcessState)
	}
	if err := c.Wait(); err == nil {
		t.Error("a second Wait succeeded")
	}

	// The failures below leave no descriptor, process or mapping behind.
	fdsBefore, kidsBefore, mapsBefore := countFds(t), proctest.Children(), mappingCount(t)
	defer func() {
		if n := countFds(t); n != fdsBefore {
			t.Errorf("%d descriptors open after the failed starts; %d before", n, fdsBefore)
		}
		for _, pid := range proctest.Children() {
			if !slices.Contains(kidsBefore, pid) {
				t.Errorf("a failed start left a child: %d", pid)
			}
		}
		if n := mappingCount(t); n > mapsBefore {
			t.Errorf("%d mappings after the failed starts; %d before (a child's stack left?)", n, mapsBefore)
		}
	}()

	c = cmd("/nonexistent/program")
	err = c.Start()
	var pe *os.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) || c.Process != nil {
		t.Errorf("Start of a missing program = %v (process %v); want an *os.PathError of ENOENT", err, c.Process)
	}

	c = cmd(sh, "-c", "exit 0")
	c.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid + 1, Size: 1}}
	if uid == 0 {
		// Root may map any id: one the kernel refuses to anyone.
		c.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 0}}
	}
	if err := c.Start(); err == nil || c.Process != nil {
		t.Errorf("Start with a refused uid map = %v; want an error and no process", err)
	}
}

// mappingCount counts this process's memory mappings.
func mappingCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}
