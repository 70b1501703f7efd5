//go:build stress

package stress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/proctest"
)

// marker returns a unique sleep duration that marks a grandchild process.
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
		time.Sleep(5 * time.Millisecond)
	}
}

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

func TestParentKilledMidRun(t *testing.T) {
	before := mounts(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	arg := marker()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envHelper+"=parent", "STRESS_MARKER="+arg)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer killAll(arg)
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" || len(withArg(arg)) == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper not ready: %q", line)
	}
	// SIGKILL from another process: no handler of the parent runs.
	if err := exec.Command("kill", "-KILL", strconv.Itoa(cmd.Process.Pid)).Run(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	start := time.Now()
	if !goneWithin(arg, time.Second) {
		t.Errorf("the child's PID namespace outlived its SIGKILLed parent by more than 1s: %v", withArg(arg))
	}
	t.Logf("namespace gone %v after the parent's death", time.Since(start).Round(time.Millisecond))
	if after := mounts(t); after != before {
		t.Errorf("host mount table changed:\n%s\n---\n%s", before, after)
	}
}

func TestChildFaultsAreReported(t *testing.T) {
	ctx := context.Background()
	ns := rootless(namespace.WithPrivatePID(), namespace.WithKillGrace(100*time.Millisecond))
	var ee *namespace.ExitError

	err := ns.Run(ctx, fault, "panic")
	if !errors.As(err, &ee) || !strings.Contains(ee.Msg, "index out of range") || !strings.Contains(ee.Stack, "funcs_test.go") {
		t.Errorf("runtime panic: %v", err)
	}
	err = ns.Run(ctx, fault, "exit")
	if !errors.As(err, &ee) || ee.Code != 42 {
		t.Errorf("os.Exit(42): %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = ns.Run(tctx, fault, "ignore-term")
	cancel()
	if !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a loop ignoring SIGTERM: %v; want killed after the grace", err)
	}
	err = ns.Run(ctx, fault, "close-socket")
	if !errors.As(err, &ee) || ee.Code != 125 {
		t.Errorf("closed job socket: %v; want exit status 125 reported", err)
	}
	arg := marker()
	err = ns.Run(ctx, fault, "daemon", arg)
	if err != nil {
		t.Errorf("daemon: %v", err)
	}
	if !goneWithin(arg, time.Second) {
		t.Errorf("a double-forked daemon outlived its PID namespace")
		killAll(arg)
	}
}

func TestFillTmpfsStaysInside(t *testing.T) {
	hostBefore, _ := os.ReadDir("/tmp")
	err := rootless(namespace.WithPrivateTmp(namespace.TmpfsSize(1<<20))).Run(context.Background(), fault, "fill-tmp")
	var ee *namespace.ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.Msg, "no space left on device") {
		t.Fatalf("filling a 1 MiB tmpfs: %v; want ENOSPC reported", err)
	}
	var n int
	fmt.Sscanf(ee.Msg, "after %d bytes", &n)
	if n > 1<<20 || n < 512<<10 {
		t.Errorf("wrote %d bytes into a 1 MiB tmpfs", n)
	}
	if _, err := os.Stat("/tmp/fill"); err == nil {
		t.Error("the fill file is on the host")
	}
	hostAfter, _ := os.ReadDir("/tmp")
	if len(hostAfter) > len(hostBefore)+5 {
		t.Errorf("host /tmp grew from %d to %d entries", len(hostBefore), len(hostAfter))
	}
}

func TestExhaustPids(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/pid_max"); err != nil {
		t.Skip("no pid_max")
	}
	err := rootless(namespace.WithPrivatePID()).Run(context.Background(), fault, "exhaust-pids")
	var ee *namespace.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(ee.Msg, "lower pid_max") {
		t.Skipf("this kernel does not namespace pid_max: %s", ee.Msg)
	}
	if !strings.Contains(ee.Msg, "refused") || !strings.Contains(ee.Msg, "resource temporarily unavailable") {
		t.Errorf("pid exhaustion reported as %q", ee.Msg)
	}
	if kids := children(); len(kids) > 0 {
		t.Errorf("children left: %v", kids)
	}
}

func TestSignalStormDuringConcurrentRuns(t *testing.T) {
	// The test keeps its own handler, so that a signal arriving after the
	// last Run has ended does not kill the test binary.
	guard := make(chan os.Signal, 64)
	signal.Notify(guard, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(guard)

	ns := rootless(namespace.WithPrivatePID(), namespace.WithKillGrace(200*time.Millisecond))
	const runs = 20
	var wg sync.WaitGroup
	errs := make(chan error, runs)
	for range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ns.Run(context.Background(), waitCtx)
		}()
	}
	time.Sleep(500 * time.Millisecond) // most children are running; the rest get the later signals
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	sent := 0
storm:
	for i := 0; i < 200; i++ {
		select {
		case <-done:
			break storm
		default:
		}
		sig := syscall.SIGINT
		if i%2 == 1 {
			sig = syscall.SIGTERM
		}
		syscall.Kill(os.Getpid(), sig)
		sent++
		time.Sleep(2 * time.Millisecond)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Runs hung under a signal storm")
	}
	close(errs)
	interrupted := 0
	for err := range errs {
		if errors.Is(err, namespace.ErrInterrupted) {
			interrupted++
		} else {
			t.Errorf("Run during the storm: %v", err)
		}
	}
	t.Logf("%d signals sent; %d of %d Runs interrupted", sent, interrupted, runs)
	if kids := children(); len(kids) > 0 {
		t.Errorf("children left: %v", kids)
	}
}

func TestCancelAtRandomPoints(t *testing.T) {
	ns := rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithKillGrace(50*time.Millisecond))
	fds := countFds()
	outcomes := map[string]int{}
	for i := range 60 {
		delay := time.Duration(rand.IntN(15000)) * time.Microsecond
		if i%10 == 0 {
			delay = 0
		}
		ctx, cancel := context.WithTimeout(context.Background(), delay)
		err := ns.Run(ctx, waitCtx)
		cancel()
		var ee *namespace.ExitError
		switch {
		case err == nil:
			t.Errorf("Run with a cancelled context returned nil")
		case !errors.Is(err, context.DeadlineExceeded):
			t.Errorf("cancel after %v: %v; want DeadlineExceeded", delay, err)
		case errors.As(err, &ee) && ee.Msg != "":
			outcomes["during the job"]++
		case errors.As(err, &ee):
			outcomes["during start-up"]++
		default:
			outcomes["before the child"]++
		}
	}
	t.Logf("cancellation points: %v", outcomes)
	if kids := children(); len(kids) > 0 {
		t.Errorf("children left: %v", kids)
	}
	if got := countFds(); got > fds {
		t.Errorf("fds grew from %d to %d", fds, got)
	}
}

func countFds() int {
	fds, _ := os.ReadDir("/proc/self/fd")
	return len(fds)
}

func TestResourceLimits(t *testing.T) {
	ns := namespace.New(namespace.WithPrivateUser()) // a user namespace of the test's own
	for _, c := range []struct{ limit, want string }{
		{"max_user_namespaces", "ErrLimit"},
		{"max_net_namespaces", "ErrLimit"},
		{"nofile", "EMFILE"},
		{"nproc", "EAGAIN"},
	} {
		t.Run(c.limit, func(t *testing.T) {
			if c.limit == "nproc" && os.Geteuid() == 0 {
				t.Skip("the host's root is exempt from RLIMIT_NPROC; the limit applies to uid 65534")
			}
			got, err := nested.Run(context.Background(), ns, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, c.want+": ") || strings.Contains(got, "children left") {
				t.Errorf("with %s lowered: %q; want %s and no partial state", c.limit, got, c.want)
			}
			t.Logf("%s: %s", c.limit, got)
		})
	}
}
