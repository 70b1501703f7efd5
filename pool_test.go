//go:build linux

package namespace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/syscalls"
)

// testPool returns a pool of size children in a testNS of opts.
func testPool(t testing.TB, size int, opts ...Option) *Pool {
	t.Helper()
	p, err := testNS(opts...).Pool(size)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// poolIdle returns the pool's idle children once there are at least want of
// them (the pool fills in the background).
func poolIdle(t testing.TB, n *Pool, want int) []*pooledChild {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n.p.mu.Lock()
		idle := slices.Clone(n.p.idle)
		n.p.mu.Unlock()
		if len(idle) >= want {
			return idle
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool has %d idle children after a minute; want %d", len(idle), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pidfdsOf opens a pidfd for each child, so that their end can be checked
// without mistaking a reused pid for them.
func pidfdsOf(t *testing.T, pcs []*pooledChild) map[int]int {
	t.Helper()
	fds := map[int]int{}
	for _, pc := range pcs {
		fd, err := unix.PidfdOpen(pc.cmd.Process.Pid, 0)
		if err != nil {
			t.Fatalf("pidfd_open %d: %v", pc.cmd.Process.Pid, err)
		}
		fds[pc.cmd.Process.Pid] = fd
	}
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	return fds
}

// alive reports whether the process behind pidfd still exists (a zombie
// counts as gone: it runs nothing).
func alive(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 0
}

// mntID returns the mount namespace of a process as a string.
func mntID(t *testing.T, pid int) string {
	t.Helper()
	id, err := syscalls.IDOf(pid, 0, syscalls.Mount)
	if err != nil {
		t.Fatalf("mount namespace of %d: %v", pid, err)
	}
	return id.String()
}

// A pooled Run is served by a child that was ready before it was asked, and
// returns the function's result like a cold one.
func TestPoolRunUsesReadyChild(t *testing.T) {
	n := testPool(t, 2, WithPrivatePID(), WithPrivateTmp())
	defer n.Close()
	before := hostMounts(t)

	first := runProbe(t, n, probeReq{}) // cold, or on a child that is ready already
	if first.PID != 1 || len(first.Tmp) != 0 {
		t.Fatalf("first run: pid %d, /tmp %v", first.PID, first.Tmp)
	}
	idle := poolIdle(t, n, 2)
	ready := map[string]bool{}
	for _, pc := range idle {
		ready[mntID(t, pc.cmd.Process.Pid)] = true
	}

	p := runProbe(t, n, probeReq{WriteTmp: "pooled"})
	if !ready[p.NS["mnt"]] {
		t.Errorf("the run's mount namespace %s is none of the ready children's %v", p.NS["mnt"], ready)
	}
	if p.PID != 1 {
		t.Errorf("pooled child is pid %d in its namespace; want 1", p.PID)
	}
	if len(p.Tmp) != 0 || p.TmpFile != "/tmp/pooled" {
		t.Errorf("pooled child's /tmp: %v, wrote %q", p.Tmp, p.TmpFile)
	}
	if _, err := os.Stat("/tmp/pooled"); err == nil {
		t.Error("a file written in the pooled child's /tmp reached the host")
	}
	if p.Env != nil && slices.ContainsFunc(p.Env, func(kv string) bool { return strings.HasPrefix(kv, envChild+"=") }) {
		t.Errorf("pooled child sees the marker in its environment: %v", p.Env)
	}

	// Results, errors and panics come back as from a cold child.
	ctx := context.Background()
	poolIdle(t, n, 1)
	var ee *ExitError
	if err := n.Run(ctx, failing, "error"); !errors.As(err, &ee) || ee.Msg != "it went wrong" || ee.Code != 1 {
		t.Errorf("pooled error: got %v", err)
	}
	poolIdle(t, n, 1)
	if err := n.Run(ctx, failing, "panic"); !errors.As(err, &ee) || ee.Msg != "panic: boom" {
		t.Errorf("pooled panic: got %v", err)
	}
	poolIdle(t, n, 1)
	if err := n.Run(ctx, failing, "exit"); !errors.As(err, &ee) || ee.Code != 7 {
		t.Errorf("pooled os.Exit(7): got %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	checkMountsUnchanged(t, before)
}

// Every child serves one Run: no namespace is used twice. The test holds a
// descriptor of every pool child's namespaces, so that the kernel cannot
// reuse their inode numbers meanwhile.
func TestPoolEachChildUsedOnce(t *testing.T) {
	n := testPool(t, 2, WithPrivateMount(), WithPrivateNet())
	defer n.Close()
	runProbe(t, n, probeReq{})
	held := map[string]bool{} // namespaces of pool children, "mnt net"
	used := map[string]bool{}
	pids := map[int]bool{}
	for i := range 6 {
		for _, pc := range poolIdle(t, n, 1) {
			var key []string
			for _, typ := range []syscalls.Type{syscalls.Mount, syscalls.Net} {
				f, err := syscalls.OpenNS(pc.cmd.Process.Pid, 0, typ)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				id, err := syscalls.IDOfFile(f)
				if err != nil {
					t.Fatal(err)
				}
				key = append(key, id.String())
			}
			held[strings.Join(key, " ")] = true
		}
		p := runProbe(t, n, probeReq{Echo: i == 0})
		key := p.NS["mnt"] + " " + p.NS["net"]
		if !held[key] {
			t.Errorf("run %d ran in %s, none of the pool children's namespaces", i, key)
		}
		if used[key] || pids[p.PID] {
			t.Errorf("run %d reused a child: pid %d, namespaces %s", i, p.PID, key)
		}
		used[key] = true
		pids[p.PID] = true
		if !p.LoUp {
			t.Errorf("run %d: lo is down in the pooled child", i)
		}
		if i == 0 && p.Echo != "hello over lo" {
			t.Errorf("echo over lo in the pooled child: %q", p.Echo)
		}
	}
}

// Close kills and reaps the children waiting for a job.
func TestPoolCloseLeavesNoProcess(t *testing.T) {
	n := testPool(t, 3, WithPrivateMount())
	if err := n.Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	pidfds := pidfdsOf(t, poolIdle(t, n, 3))
	for pid, fd := range pidfds {
		if !alive(fd) {
			t.Fatalf("pool child %d is not running before Close", pid)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for pid, fd := range pidfds {
		if alive(fd) {
			t.Errorf("pool child %d still runs after Close", pid)
		}
	}
	if z := zombieChildren(); len(z) > 0 {
		t.Errorf("zombies after Close: %v", z)
	}
	n.p.mu.Lock()
	live, idle := len(n.p.live), len(n.p.idle)
	n.p.mu.Unlock()
	if live != 0 || idle != 0 {
		t.Errorf("after Close the pool holds %d live and %d idle children", live, idle)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Run after Close fails with ErrClosed, runs nothing and does not refill
// the pool.
func TestPoolRunAfterCloseFails(t *testing.T) {
	n := testPool(t, 1, WithPrivateMount())
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Run(context.Background(), failing, "ok"); !errors.Is(err, ErrClosed) {
		t.Errorf("Pool.Run after Close: %v, want ErrClosed", err)
	}
	if _, err := sumTask.Run(context.Background(), n, sumIn{Numbers: []int{1}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Task.Run on a closed Pool: %v, want ErrClosed", err)
	}
	n.p.mu.Lock()
	live, starting := len(n.p.live), n.p.starting
	n.p.mu.Unlock()
	if live != 0 || starting != 0 {
		t.Errorf("Run after Close started pool children: %d live, %d starting", live, starting)
	}
}

// Concurrent Runs share the pool (some run cold when it is empty) and get
// their own results; Close then leaves nothing.
func TestPoolConcurrentRuns(t *testing.T) {
	n := testPool(t, 2, WithPrivateMount(), WithPrivateTmp())
	if _, err := sumTask.Run(context.Background(), n, sumIn{Numbers: []int{1, 2}}); err != nil {
		t.Fatal(err)
	}
	poolIdle(t, n, 2)
	fds := countFds(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := sumTask.Run(context.Background(), n, sumIn{Numbers: []int{i, 100}})
			if err != nil || out.Sum != i+100 {
				errs <- fmt.Errorf("run %d: %v, %+v", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if z := zombieChildren(); len(z) > 0 {
		t.Errorf("zombies left: %v", z)
	}
	if got := countFds(t); got > fds {
		t.Errorf("fd count %d after Close, %d before the runs (with a full pool)", got, fds)
	}
}

// A pooled child honours ctx: SIGTERM cancels the function's context, and
// one that ignores SIGTERM is killed after the grace.
func TestPoolContextCancelled(t *testing.T) {
	n := testPool(t, 1, WithPrivateMount(), WithKillGrace(200*time.Millisecond))
	defer n.Close()
	if err := n.Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	poolIdle(t, n, 1)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ready := cancelWhenReady(t, func() { cancel(context.DeadlineExceeded) })
	var ee *ExitError
	err := n.Run(ctx, failing, "wait-ctx-ready", ready)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ee) || ee.Msg != "context canceled" {
		t.Errorf("got %v; want the child's ctx error and DeadlineExceeded", err)
	}

	poolIdle(t, n, 1)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	err = n.Run(ctx2, failing, "ignore-term")
	if !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a child killed by SIGKILL after the grace", err)
	}
}

// A pool child killed from outside while it waits is not handed a job; the
// Run goes to another child or a cold one.
func TestPoolChildKilledWhileIdle(t *testing.T) {
	n := testPool(t, 1, WithPrivateMount())
	defer n.Close()
	if err := n.Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	idle := poolIdle(t, n, 1)
	if err := idle[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-idle[0].waited
	if err := n.Run(context.Background(), failing, "ok"); err != nil {
		t.Errorf("Run after a pool child was killed: %v", err)
	}
}

func TestPoolValidation(t *testing.T) {
	for _, size := range []int{-1, 0} {
		if p, err := New(WithPrivateMount()).Pool(size); !errors.Is(err, ErrInvalid) || p != nil {
			t.Errorf("Pool(%d) = %v, %v; want ErrInvalid", size, p, err)
		}
	}
	if p, err := New(WithHostname("-bad")).Pool(1); !errors.Is(err, ErrInvalid) || p != nil {
		t.Errorf("Pool with an invalid hostname = %v, %v; want ErrInvalid", p, err)
	}
}

// envPoolParent makes TestPoolParentHelper act as a parent with a pool.
const envPoolParent = "LINUXNS_TEST_POOL_PARENT"

// TestPoolParentHelper is the parent process of TestPoolDiesWithParent: it
// fills a pool, prints the children's pids and waits to be killed.
func TestPoolParentHelper(t *testing.T) {
	if os.Getenv(envPoolParent) == "" {
		t.Skip("helper process of TestPoolDiesWithParent")
	}
	n := testPool(t, 2, WithPrivatePID())
	if err := n.Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, pc := range poolIdle(t, n, 2) {
		pids = append(pids, strconv.Itoa(pc.cmd.Process.Pid))
	}
	fmt.Printf("pids %s\n", strings.Join(pids, " "))
	time.Sleep(time.Minute)
}

// Pool children die with their parent process.
func TestPoolDiesWithParent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolParentHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), envPoolParent+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var line string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "pids ") {
			line = sc.Text()
			break
		}
	}
	fields := strings.Fields(strings.TrimPrefix(line, "pids "))
	if len(fields) != 2 {
		t.Fatalf("helper printed %q; want two pids", line)
	}
	var fds []int
	for _, f := range fields {
		pid, _ := strconv.Atoi(f)
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd_open %d: %v", pid, err)
		}
		defer unix.Close(fd)
		fds = append(fds, fd)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for i, fd := range fds {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int((30 * time.Second).Milliseconds()))
		if err != nil || n != 1 {
			t.Errorf("pool child %s still runs after its parent was killed (poll %d, %v)", fields[i], n, err)
		}
	}
}

// A Pool that becomes unreachable without Close ends its children.
func TestPoolEndsWhenUnreachable(t *testing.T) {
	pidfds := func() map[int]int {
		n := testPool(t, 2, WithPrivateMount())
		if err := n.Run(context.Background(), failing, "ok"); err != nil {
			t.Fatal(err)
		}
		return pidfdsOf(t, poolIdle(t, n, 2))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		left := 0
		for _, fd := range pidfds {
			if alive(fd) {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pool children still run 30s after their Namespace became unreachable", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A pool child that must re-execute itself into a time namespace, and one
// in a user namespace, serve pooled Runs like any other.
func TestPoolTimeAndUserNamespaces(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("kernel has no time namespaces")
	}
	off := 1000 * time.Hour
	n, err := New(WithPrivateUser(), WithPrivatePID(), WithPrivateTime(off, off)).Pool(1)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for i := range 2 {
		if i == 1 {
			poolIdle(t, n, 1)
		}
		var hostTS unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &hostTS); err != nil {
			t.Fatal(err)
		}
		got, err := monotonicTask.Run(context.Background(), n, 0)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		host := time.Duration(hostTS.Nano())
		if got < host+off || got > host+off+10*time.Minute {
			t.Errorf("run %d: CLOCK_MONOTONIC inside = %v, host %v; want it shifted by %v", i, got, host, off)
		}
	}
}

// A pooled Run whose function returned nil returns at its result, before
// the child has exited; Close then waits for the child and its PID
// namespace to end: a process the function left behind is gone, and no
// child or zombie remains.
func TestPoolCloseWaitsForReturnedChildren(t *testing.T) {
	n := testPool(t, 1, WithPrivatePID())
	if err := n.Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	var args []string
	for i := range 3 {
		poolIdle(t, n, 1)
		arg := fmt.Sprintf("%d.%d%d", 1000+os.Getpid()%1000, time.Now().UnixNano()%1000000, i)
		args = append(args, arg)
		if err := n.Run(context.Background(), spawnAndReturn, arg); err != nil {
			t.Fatalf("pooled run %d: %v", i, err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, arg := range args {
		if pids := processesWithArg(arg); len(pids) > 0 {
			t.Errorf("a process left by a pooled function outlived Close: %v", pids)
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if c := proctest.Children(); len(c) > 0 {
		t.Errorf("children left after Close: %v", c)
	}
}
