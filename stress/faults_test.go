//go:build stress && linux

package stress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/proctest"
)

// hangLimit is how long any single Run of the suite may take before the
// suite calls it hung: far beyond any Run's normal duration, so that it
// never fires on a slow machine, yet it names the culprit long before the
// go test timeout does.
const hangLimit = 2 * time.Minute

// noHang runs fn and fails the test if it does not return within hangLimit.
func noHang(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(hangLimit):
		t.Fatalf("%s: Run hung for %v", what, hangLimit)
	}
}

// marker returns a unique, valid sleep duration that marks the processes
// of one test in every process's command line.
func marker() string {
	return fmt.Sprintf("%d.%06d", 1000+os.Getpid()%1000, rand.IntN(1000000))
}

func withArg(arg string) []int { return proctest.WithArg(arg) }

// goneWithin waits until no process has arg, for at most d.
func goneWithin(arg string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if len(withArg(arg)) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// killAll kills the processes that carry arg: the clean-up of a failed
// test, so that nothing outlives it.
func killAll(arg string) {
	for _, pid := range withArg(arg) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func mounts(t *testing.T) string {
	t.Helper()
	m, err := proctest.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestParentKilledMidRun SIGKILLs, from another process, a "parent" process
// blocked in Run. The parent's command line carries a marker, and so do the
// Run child (it re-executes the parent's argv) and the child's grandchild
// `sleep MARKER`: within 1 s none of them may be left, and the host mount
// table must be as before.
func TestParentKilledMidRun(t *testing.T) {
	for _, c := range []struct {
		name string
		opts string
	}{
		{"pid+tmp", "pid"},
		{"pid+tmp+net+uts", "all"},
		{"no PID namespace", "nopid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := mounts(t)
			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			arg := marker()
			cmd := exec.Command(self, "-test.run=^$", arg)
			cmd.Env = append(os.Environ(), envHelper+"=parent", envHelperOpts+"="+c.opts)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer killAll(arg)
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			procs := withArg(arg)
			want := 3 // the helper, the Run child, its sleep
			if c.opts == "nopid" {
				want = 2 // no sleep: it would not die with the child
			}
			if strings.TrimSpace(line) != "ready" || len(procs) < want {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper not ready: %q, processes with the marker: %v", line, procs)
			}
			// SIGKILL from another process: no code of the parent runs.
			if err := exec.Command("kill", "-KILL", strconv.Itoa(cmd.Process.Pid)).Run(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			start := time.Now()
			if !goneWithin(arg, time.Second) {
				t.Errorf("processes outlived their SIGKILLed parent by more than 1 s: %v", withArg(arg))
			}
			report("%-26s %s: the child and %d descendants gone %v after the parent's SIGKILL", "parent SIGKILLed", c.name, len(procs)-2, time.Since(start).Round(time.Millisecond))
			if after := mounts(t); after != before {
				t.Errorf("host mount table changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}

// TestParentKilledMidStartProcess SIGKILLs a process while it starts
// programs with StartProcess one after the other: every program already
// started, and one caught between its clone and its parent-death signal,
// must be gone within 1 s (with WithMinimalInit, the inits and their programs).
func TestParentKilledMidStartProcess(t *testing.T) {
	for _, opts := range []string{"pid", "nopid", "init"} {
		t.Run(opts, func(t *testing.T) {
			before := mounts(t)
			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			for round := range 5 {
				arg := marker()
				cmd := exec.Command(self, "-test.run=^$", arg)
				cmd.Env = append(os.Environ(), envHelper+"=spawner", envHelperOpts+"="+opts)
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				line, _ := bufio.NewReader(stdout).ReadString('\n')
				if strings.TrimSpace(line) != "started" {
					cmd.Process.Kill()
					cmd.Wait()
					killAll(arg)
					t.Fatalf("helper: %q", line)
				}
				// At a different point of the loop each round.
				time.Sleep(time.Duration(round) * 2 * time.Millisecond)
				started := len(withArg(arg)) - 1 // less the helper
				if err := exec.Command("kill", "-KILL", strconv.Itoa(cmd.Process.Pid)).Run(); err != nil {
					t.Fatal(err)
				}
				cmd.Wait()
				if started < 1 {
					t.Errorf("round %d: no started program found before the kill", round)
				}
				if !goneWithin(arg, time.Second) {
					t.Errorf("round %d: processes outlived their SIGKILLed parent by more than 1 s: %v", round, withArg(arg))
					killAll(arg)
				}
				t.Logf("round %d: %d programs running at the kill, all gone after it", round, started)
			}
			if after := mounts(t); after != before {
				t.Errorf("host mount table changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}

// helperNamespace returns the Namespace the "parent" helper runs, by name.
func helperNamespace(opts string) *namespace.Namespace {
	switch opts {
	case "all":
		return rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithPrivateNet(), namespace.WithHostname("stress"))
	case "nopid":
		return rootless(namespace.WithPrivateTmp())
	case "init":
		return rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithMinimalInit())
	}
	return rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp())
}

// TestChildFaults: every way a child can misbehave is reported precisely,
// and none hangs Run.
func TestChildFaults(t *testing.T) {
	ns := rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithKillGrace(100*time.Millisecond))
	run := func(t *testing.T, ctx context.Context, args ...string) (err error) {
		noHang(t, strings.Join(args, " "), func() { err = ns.Run(ctx, fault, args...) })
		return err
	}
	t.Run("runtime panic", func(t *testing.T) {
		err := run(t, context.Background(), "panic")
		var ee *namespace.ExitError
		if !errors.As(err, &ee) || ee.Code != 2 || !strings.Contains(ee.Msg, "index out of range") || !strings.Contains(ee.Stack, "funcs_test.go") {
			t.Errorf("got %v; want exit status 2, the panic value and a stack into funcs_test.go", err)
		}
	})
	t.Run("os.Exit(42)", func(t *testing.T) {
		err := run(t, context.Background(), "exit")
		var ee *namespace.ExitError
		if !errors.As(err, &ee) || ee.Code != 42 || ee.Signal != 0 {
			t.Errorf("got %v; want exit status 42", err)
		}
	})
	t.Run("loop ignoring SIGTERM", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := run(t, ctx, "ignore-term")
		var ee *namespace.ExitError
		if !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v; want killed by SIGKILL after the grace, wrapping the deadline", err)
		}
	})
	// Repeated: the child's watch for its parent's death once took the
	// closed socket for that death (exit 137) when it looked late.
	t.Run("closes the job socket", func(t *testing.T) {
		for range 10 {
			err := run(t, context.Background(), "close-socket")
			var ee *namespace.ExitError
			if !errors.As(err, &ee) || ee.Code != 125 {
				t.Fatalf("got %v; want exit status 125 (result could not be sent)", err)
			}
		}
	})
	t.Run("closes the job socket and exits 7", func(t *testing.T) {
		for range 10 {
			err := run(t, context.Background(), "close-socket-exit")
			var ee *namespace.ExitError
			if !errors.As(err, &ee) || ee.Code != 7 {
				t.Fatalf("got %v; want exit status 7", err)
			}
		}
	})
	for _, kind := range []string{"garbage-socket", "flood-socket"} {
		t.Run(kind, func(t *testing.T) {
			err := run(t, context.Background(), kind)
			if err == nil || !errors.Is(err, namespace.ErrProtocol) {
				t.Errorf("got %v; want an error wrapping ErrProtocol", err)
			}
			t.Log(err)
		})
	}
	t.Run("double-forked daemon", func(t *testing.T) {
		arg := marker()
		defer killAll(arg)
		if err := run(t, context.Background(), "daemon", arg); err != nil {
			t.Fatal(err)
		}
		// PID 1 has exited when Run returns, and the kernel has killed its
		// namespace with it.
		if pids := withArg(arg); len(pids) > 0 {
			t.Errorf("the daemon outlived its PID namespace: %v", pids)
		}
	})
}

// TestSetupFailureInChild: a set-up step that fails inside the child (a
// fresh /proc refused because part of /proc is masked) is reported with
// its step, errno, sentinel and what to do, the step named once, and leaves
// nothing. As uid 65534 it is also the regression test of a nested user
// namespace inside an unprivileged one (setgroups must stay denied).
func TestSetupFailureInChild(t *testing.T) {
	// A user namespace of the test's own, so that the masking mount is
	// allowed, and a mount namespace, so that it stays inside.
	r, err := maskedProc.Run(context.Background(), namespace.New(namespace.WithPrivateUser(), namespace.WithPrivateMount()), 0)
	if err != nil {
		t.Fatal(err)
	}
	const step = "mount proc on /proc"
	if r.Kind != "in the child: "+step || !stepOnce(r.Err, step) || !strings.Contains(r.Err, "operation not permitted") || !strings.Contains(r.Err, "WithoutProc()") {
		t.Errorf("got %q (step %q); want ErrPermission at step %q, named once", r.Err, r.Kind, step)
	}
	if len(r.Left) > 0 || r.Mounts {
		t.Errorf("partial state: children %v, mount table changed %v", r.Left, r.Mounts)
	}
	t.Log(r.Err)
}

// TestFillTmpfsStaysInside: a child that fills its 1 MiB /tmp gets ENOSPC
// there; the host's /tmp never sees the file.
func TestFillTmpfsStaysInside(t *testing.T) {
	name := "stress-fill-" + marker()
	var err error
	noHang(t, "fill-tmp", func() {
		err = rootless(namespace.WithPrivateTmp(namespace.TmpfsSize(1<<20))).Run(context.Background(), fault, "fill-tmp", name)
	})
	var ee *namespace.ExitError
	if !errors.As(err, &ee) || ee.Code != 1 || !strings.Contains(ee.Msg, "no space left on device") {
		t.Fatalf("filling a 1 MiB tmpfs: %v; want ENOSPC reported", err)
	}
	var n int
	fmt.Sscanf(ee.Msg, "after %d bytes", &n)
	if n > 1<<20 || n < 512<<10 {
		t.Errorf("wrote %d bytes into a 1 MiB tmpfs", n)
	}
	if _, err := os.Stat("/tmp/" + name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the fill file is on the host: %v", err)
	}
}

// TestExhaustPids: a child that forks until its PID namespace refuses
// (pid_max lowered in that namespace only) gets EAGAIN reported, and all its
// processes die with it.
func TestExhaustPids(t *testing.T) {
	arg := marker()
	defer killAll(arg)
	var err error
	noHang(t, "exhaust-pids", func() {
		err = rootless(namespace.WithPrivatePID()).Run(context.Background(), fault, "exhaust-pids", arg)
	})
	var ee *namespace.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(ee.Msg, "lower pid_max") {
		t.Skipf("this kernel does not have a pid_max per PID namespace (Linux 6.14): %s", ee.Msg)
	}
	if !strings.Contains(ee.Msg, "refused") || !strings.Contains(ee.Msg, "resource temporarily unavailable") {
		t.Errorf("pid exhaustion reported as %q", ee.Msg)
	}
	if pids := withArg(arg); len(pids) > 0 {
		t.Errorf("%d processes outlived their PID namespace", len(pids))
	}
	if kids := children(); len(kids) > 0 {
		t.Errorf("children left: %v", kids)
	}
	t.Log(ee.Msg)
}

// TestSignalStormDuringConcurrentRuns sends SIGINT and SIGTERM to the test
// process without pause while 20 Runs start at staggered times: signals land
// before the handshake, during set-up and during the job. Every Run must end
// (interrupted, or done if its function had finished), none may hang, and
// no child may be left.
func TestSignalStormDuringConcurrentRuns(t *testing.T) {
	// The test keeps its own handler, so that a signal arriving while no
	// Run waits does not kill the test binary.
	guard := make(chan os.Signal, 64)
	signal.Notify(guard, syscall.SIGINT, syscall.SIGTERM)
	defer func() {
		signal.Stop(guard)
		close(guard)
	}()
	go func() {
		for range guard {
		}
	}()

	ns := rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithKillGrace(200*time.Millisecond))
	const runs = 20
	var wg sync.WaitGroup
	errs := make([]error, runs)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			f := waitCtx // waits until stopped
			if i%4 == 3 {
				f = nop // may finish before a signal reaches it
			}
			errs[i] = ns.Run(context.Background(), f)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	sent := 0
	deadline := time.After(hangLimit)
storm:
	for {
		select {
		case <-done:
			break storm
		case <-deadline:
			t.Fatalf("Runs hung under a signal storm (%d signals sent)", sent)
		default:
		}
		sig := syscall.SIGINT
		if sent%2 == 1 {
			sig = syscall.SIGTERM
		}
		syscall.Kill(os.Getpid(), sig)
		sent++
		time.Sleep(time.Millisecond)
	}
	interrupted, finished := 0, 0
	for i, err := range errs {
		switch {
		case errors.Is(err, namespace.ErrInterrupted):
			interrupted++
		case err == nil && i%4 == 3:
			finished++
		default:
			t.Errorf("Run %d during the storm: %v", i, err)
		}
	}
	report("%-26s %d signals to the parent; %d of %d Runs interrupted, %d finished first", "signal storm", sent, interrupted, runs, finished)
	if kids := children(); len(kids) > 0 {
		t.Errorf("children left: %v", kids)
	}
}

// cancelOn is a slog.Handler that cancels a context when the parent logs a
// given message: a hook into a precise moment of Run. It declines the first
// question whether debug is on, which Run asks to decide whether the child
// logs too, so that the children stay quiet.
type cancelOn struct {
	msg    string
	cancel context.CancelFunc
	asked  *atomic.Bool
}

func (h cancelOn) Enabled(context.Context, slog.Level) bool { return h.asked.Swap(true) }
func (h cancelOn) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.cancel()
	}
	return nil
}
func (h cancelOn) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cancelOn) WithGroup(string) slog.Handler      { return h }

// TestCancelAtRandomPoints cancels the context of Run at random moments of
// the child's life, drawn over the measured duration of a start-up, and at
// the precise moment the child has started but has not got its job. Every
// Run reports the cancellation; no child, descriptor or mount is left.
func TestCancelAtRandomPoints(t *testing.T) {
	opts := []namespace.Option{namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithPrivateNet(), namespace.WithKillGrace(50 * time.Millisecond)}
	ns := rootless(opts...)
	// How long does a child take to reach its function? Run a quick
	// function a few times.
	var durs []time.Duration
	for range 5 {
		start := time.Now()
		if err := ns.Run(context.Background(), nop); err != nil {
			t.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	slices.Sort(durs)
	span := durs[len(durs)/2] * 3 / 2

	before := mounts(t)
	fds := countFds()
	outcomes := map[string]int{}
	classify := func(t *testing.T, what string, err error, want error) {
		var ee *namespace.ExitError
		switch {
		case err == nil:
			t.Errorf("%s: Run with a cancelled context returned nil", what)
		case !errors.Is(err, want):
			t.Errorf("%s: %v; want %v", what, err, want)
		case errors.As(err, &ee) && ee.Msg != "":
			outcomes["during the job"]++
		case errors.As(err, &ee):
			outcomes["during start-up"]++
		default:
			outcomes["before the child"]++
		}
	}
	for i := range 60 {
		delay := time.Duration(rand.Int64N(int64(span)))
		if i%10 == 0 {
			delay = 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), delay)
		var err error
		noHang(t, "cancel", func() { err = ns.Run(ctx, waitCtx) })
		cancel()
		classify(t, fmt.Sprintf("cancel after %v", delay), err, context.DeadlineExceeded)
	}
	// The child has started, its job is not yet sent.
	for range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		hooked := rootless(append(opts, namespace.WithLogger(slog.New(cancelOn{"started child", cancel, new(atomic.Bool)})))...)
		var err error
		noHang(t, "cancel before the handshake", func() { err = hooked.Run(ctx, waitCtx) })
		cancel()
		classify(t, "cancel before the handshake", err, context.Canceled)
	}
	var keys []string
	for k := range outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, outcomes[k]))
	}
	report("%-26s 70 Runs cancelled over 0–%v: %s", "cancellation", span.Round(time.Millisecond), strings.Join(parts, ", "))
	if kids := children(); len(kids) > 0 {
		t.Errorf("children left: %v", kids)
	}
	if got := countFds(); got > fds {
		t.Errorf("fds grew from %d to %d", fds, got)
	}
	if after := mounts(t); after != before {
		t.Errorf("host mount table changed")
	}
}

func countFds() int {
	fds, _ := os.ReadDir("/proc/self/fd")
	return len(fds)
}

// TestResourceLimits lowers limits inside a user namespace of the test's
// own (never the host's sysctls) and tries a nested Run there: each gives a
// clear error that wraps ErrLimit and the errno and says what to raise, and
// leaves no child and no mount.
func TestResourceLimits(t *testing.T) {
	for _, c := range []struct{ limit, kind, hint string }{
		{"max_user_namespaces", "ENOSPC", "max_user_namespaces"},
		{"max_net_namespaces", "ENOSPC", "/proc/sys/user/max_*_namespaces"},
		{"nofile", "EMFILE", "RLIMIT_NOFILE"},
		{"nproc", "EAGAIN", "RLIMIT_NPROC"},
	} {
		t.Run(c.limit, func(t *testing.T) {
			ns := namespace.New(namespace.WithPrivateUser(), namespace.WithPrivateMount())
			if c.limit == "nproc" && os.Geteuid() == 0 {
				// The host's root is exempt from RLIMIT_NPROC: map an
				// ordinary uid as well, and switch to it in the child.
				ns = namespace.New(namespace.WithPrivateMount(), namespace.WithPrivateUser(
					namespace.IDMap{Inside: 0, Outside: 0, Size: 1},
					namespace.IDMap{Inside: 1000, Outside: 2_000_000_000 + os.Getpid(), Size: 1})) // within int32: 32-bit systems too
				t.Setenv("STRESS_NPROC_UID", "1000")
			}
			var r limitReport
			var err error
			noHang(t, c.limit, func() { r, err = nested.Run(context.Background(), ns, c.limit) })
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != c.kind || !strings.Contains(r.Err, c.hint) || !strings.HasPrefix(r.Err, "namespace: ") {
				t.Errorf("with %s lowered: %q; want ErrLimit with %s, a hint naming %s", c.limit, r.Err, c.kind, c.hint)
			}
			if len(r.Left) > 0 || r.Mounts {
				t.Errorf("partial state: children %v, mount table changed %v", r.Left, r.Mounts)
			}
			report("%-26s %s", "limit "+c.limit, r.Err)
		})
	}
}
