//go:build linux

package namespace

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/benchkit"
	"github.com/linuxns/namespace/syscalls"
)

// benchHeapEnv lists the caller's heap sizes, in MiB, for
// BenchmarkStartProcessCallerHeap (comma-separated; the first is the small
// caller the others are compared with). make bench sets it to 0,4096
// (BENCHHEAP); the default is safe for any CI machine.
const benchHeapEnv = "NAMESPACE_BENCH_HEAP_MB"

func benchHeapSizes(b *testing.B) []int {
	v := os.Getenv(benchHeapEnv)
	if v == "" {
		v = "0,256"
	}
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		mb, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || mb < 0 {
			b.Fatalf("%s=%q: want sizes in MiB, comma-separated", benchHeapEnv, v)
		}
		sizes = append(sizes, mb)
	}
	return sizes
}

// benchBallast is the caller's heap: mb MiB, every page touched, so that
// the page tables a fork would copy are there.
var benchBallast []byte

func touchHeap(mb int) {
	benchBallast = nil
	runtime.GC()
	debug.FreeOSMemory()
	if mb == 0 {
		return
	}
	benchBallast = make([]byte, mb<<20)
	for i := 0; i < len(benchBallast); i += 4096 {
		benchBallast[i] = 1
	}
	// The collection that the allocation started, done before measuring.
	runtime.GC()
}

// execOf returns os/exec's equivalent of StartProcess with n: /bin/true
// cloned with the same namespaces through SysProcAttr.Cloneflags (and the
// same one-line id maps for a user namespace), without the set-up steps.
func execOf(n *Namespace) func() error {
	return func() error {
		cmd := exec.Command("/bin/true")
		sys := &syscall.SysProcAttr{Cloneflags: uintptr(n.Flags() &^ (syscalls.CLONE_NEWTIME | syscalls.CLONE_SYSVSEM))}
		if n.user {
			sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
		cmd.SysProcAttr = sys
		return cmd.Run()
	}
}

// BenchmarkStartProcessCallerHeap measures StartProcess of /bin/true from
// callers that hold a touched heap of each size of benchHeapEnv, in each
// compared set and in each with a user namespace (the default map), and in
// an IPC namespace (no set-up step: the same work for both); then Run; then
// os/exec with the same Cloneflags.
//
// Each caller is a process of its own, this test binary started again
// (benchCallerHelper), which touches its heap and then does what it is
// asked, one operation at a time, timing each. The small caller (the first
// size) and a large one are asked in turn, callerBlock operations at a
// time, so that the load of the hour falls on both alike (before, one
// process measured every set before and after touching its heap, minutes
// apart, and the ratio moved by a third with the hour's load between runs
// of the same code: docs/benchmarks.md). The sub-benchmark of a large
// caller reports its latency, the small caller's beside it (small-p50-ms),
// and their ratio (startprocess/small-caller, run/small-caller; the target
// is ≤ 1.2). The os-exec sub-benchmarks, run in every caller after all the
// others (a fork of gigabytes leaves the kernel busy for a while after it),
// ask that caller for os/exec and StartProcess in turn and report
// StartProcess/os-exec (the target ≤ 1.0). StartProcess shares the
// caller's memory until execve (CLONE_VM), where os/exec forks for a user
// namespace.
func BenchmarkStartProcessCallerHeap(b *testing.B) {
	sizes := benchHeapSizes(b)
	if len(sizes) < 2 {
		b.Fatalf("%s=%q: want at least two sizes, the small caller first (0,4096, say)", benchHeapEnv, os.Getenv(benchHeapEnv))
	}
	callers := make([]*benchCaller, len(sizes))
	for k, mb := range sizes {
		callers[k] = startBenchCaller(b, mb)
	}
	small := callers[0]
	var spOps, runOps []string
	for _, s := range callerHeapSets() {
		spOps = append(spOps, s.Name)
	}
	// A child born in a cgroup (clone3 with CLONE_INTO_CGROUP) shares the
	// caller's memory too, where a cgroup v2 parent is available (the
	// kernel matrix, a cgroup v2 host).
	if parent, err := defaultCgroupParent(); err == nil && unix.Access(parent, unix.W_OK) == nil {
		spOps = append(spOps, callerHeapCgroupSet)
	}
	// Run, without and with a user namespace (unprivileged, every set has
	// one).
	runOps = []string{"mnt", "user+mnt"}
	if !asRoot() {
		runOps = runOps[1:]
	}
	for _, large := range callers[1:] {
		for _, name := range spOps {
			b.Run(fmt.Sprintf("heap=%dMB/%s/startprocess", large.mb, name), func(b *testing.B) {
				alternateCallers(b, small, large, "startprocess", name, "startprocess/small-caller")
			})
		}
		for _, name := range runOps {
			b.Run(fmt.Sprintf("heap=%dMB/%s/run", large.mb, name), func(b *testing.B) {
				alternateCallers(b, small, large, "run", name, "run/small-caller")
			})
		}
	}
	for _, c := range callers {
		for _, s := range callerHeapSets() {
			b.Run(fmt.Sprintf("heap=%dMB/%s/os-exec", c.mb, s.Name), func(b *testing.B) {
				noLeftovers(b)
				var ours, theirs benchkit.Latencies
				t1 := time.Now()
				for b.Loop() {
					if len(theirs) >= 10 && time.Since(t1) > 5*time.Second {
						continue // enough of a slow one
					}
					theirs = append(theirs, c.do(b, "os-exec", s.Name))
					ours = append(ours, c.do(b, "startprocess", s.Name))
				}
				reportLatency(b, "", theirs)
				b.ReportMetric(benchkit.Ms(ours.Percentile(50)), "startprocess-p50-ms")
				b.ReportMetric(benchkit.Ms(ours.Percentile(50))/benchkit.Ms(theirs.Percentile(50)), "startprocess/os-exec")
			})
		}
	}
}

// alternateCallers asks small and large in turn to do op on the set name,
// one iteration of b each, callerBlock iterations at a time, and reports
// large's latency, small's p50 and the ratio of the p50s as unit. Asked
// one at a time in turn, each caller would come to every operation from
// idle (its threads asleep while the other works), which costs both about
// a millisecond more and would dilute the ratio; in blocks, only the first
// operation of each block does, and the load of the hour still falls on
// both alike.
func alternateCallers(b *testing.B, small, large *benchCaller, op, name, unit string) {
	b.Helper()
	noLeftovers(b)
	var ls, ll benchkit.Latencies
	i := 0
	for b.Loop() {
		if i/callerBlock%2 == 0 {
			ls = append(ls, small.do(b, op, name))
		} else {
			ll = append(ll, large.do(b, op, name))
		}
		i++
	}
	if len(ll) == 0 { // fewer iterations than a block (-benchtime 1x)
		ll = append(ll, large.do(b, op, name))
	}
	reportLatency(b, "", ll)
	b.ReportMetric(benchkit.Ms(ls.Percentile(50)), "small-p50-ms")
	b.ReportMetric(benchkit.Ms(ll.Percentile(50))/benchkit.Ms(ls.Percentile(50)), unit)
}

// callerBlock is how many operations in a row alternateCallers asks of one
// caller.
const callerBlock = 10

// callerHeapSets returns the sets of BenchmarkStartProcessCallerHeap: the
// compared ones and ipc, each also with a user namespace (unprivileged,
// each has one already).
func callerHeapSets() []benchkit.Set {
	var sets []benchkit.Set
	for _, s := range append(benchkit.ComparedSets(), benchkit.Set{Name: "ipc", IPC: true}) {
		s = effective(s)
		sets = append(sets, s)
		if !s.User {
			u := s
			u.Name, u.User = "user+"+s.Name, true
			sets = append(sets, u)
		}
	}
	return sets
}

// callerHeapCgroupSet names the set of a mount namespace whose child is
// born in a cgroup (WithCgroupParent).
const callerHeapCgroupSet = "mnt+cgroup"

// benchCallerEnv makes this test binary a caller of
// BenchmarkStartProcessCallerHeap (benchCallerHelper); its value is the
// heap to touch, in MiB.
const benchCallerEnv = "NAMESPACE_BENCH_CALLER_MB"

// benchCaller is a caller started by startBenchCaller.
type benchCaller struct {
	mb  int
	in  io.WriteCloser // requests
	out *bufio.Reader  // answers
}

// startBenchCaller starts this test binary again as a caller that holds a
// touched heap of mb MiB, and waits until it has touched it. It ends at
// b's cleanup.
func startBenchCaller(b *testing.B, mb int) *benchCaller {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	ar, aw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), benchCallerEnv+"="+strconv.Itoa(mb))
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{aw} // descriptor 3: the answers
	// It ends at the end of its requests, and with this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		ar.Close()
		aw.Close()
		b.Fatal(err)
	}
	err = cmd.Start()
	aw.Close()
	if err != nil {
		ar.Close()
		b.Fatalf("start the caller of %d MiB: %v", mb, err)
	}
	c := &benchCaller{mb: mb, in: in, out: bufio.NewReader(ar)}
	b.Cleanup(func() {
		in.Close() // it exits at the end of its requests
		if err := cmd.Wait(); err != nil {
			b.Errorf("the caller of %d MiB: %v (it checks that its children are all reaped: its standard error says)", mb, err)
		}
		ar.Close()
	})
	if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("the caller of %d MiB did not start: %q, %v", mb, line, err)
	}
	return c
}

// do asks c to do op on the set name once, and returns how long it took
// there.
func (c *benchCaller) do(b *testing.B, op, name string) time.Duration {
	b.Helper()
	if _, err := fmt.Fprintf(c.in, "%s %s\n", op, name); err != nil {
		b.Fatalf("the caller of %d MiB: %v", c.mb, err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		b.Fatalf("the caller of %d MiB: %v", c.mb, err)
	}
	line = strings.TrimSuffix(line, "\n")
	ns, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		b.Fatalf("the caller of %d MiB, %s %s: %s", c.mb, op, name, line)
	}
	return time.Duration(ns)
}

// benchCallerHelper is this test binary as a caller of
// BenchmarkStartProcessCallerHeap: it touches mb MiB of heap, says ready on
// descriptor 3, then reads requests a line at a time from its standard
// input ("startprocess SET", "os-exec SET" or "run SET"), does each once and
// answers on descriptor 3 with its duration in nanoseconds, or a line that
// says what failed. It exits at the end of its input.
func benchCallerHelper(v string) {
	os.Unsetenv(benchCallerEnv)
	mb, err := strconv.Atoi(v)
	if err != nil || mb < 0 {
		fmt.Fprintf(os.Stderr, "%s=%q: want MiB\n", benchCallerEnv, v)
		os.Exit(2)
	}
	syscall.CloseOnExec(3) // not for the children it starts
	answers := os.NewFile(3, "answers")
	touchHeap(mb)
	fmt.Fprintln(answers, "ready")
	ops := map[string]func() error{}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		req := in.Text()
		op, ok := ops[req]
		if !ok {
			op, err = callerHeapOp(req)
			if err != nil {
				fmt.Fprintln(answers, oneLine(err))
				continue
			}
			ops[req] = op
		}
		t0 := time.Now()
		err := op()
		d := time.Since(t0)
		if err != nil {
			fmt.Fprintf(answers, "%s: %s\n", req, oneLine(err))
			continue
		}
		fmt.Fprintln(answers, int64(d))
	}
	runtime.KeepAlive(benchBallast)
	// The check of noLeftovers, for the children this process started
	// (the benchmark's own process starts none).
	if z := zombieChildren(); len(z) > 0 {
		fmt.Fprintf(os.Stderr, "the caller of %d MiB: zombie children left: %v\n", mb, z)
		os.Exit(3)
	}
	os.Exit(0)
}

// oneLine returns err's text on one line (an answer is a line).
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " | ")
}

// callerHeapOp returns the operation a request names (benchCallerHelper).
func callerHeapOp(req string) (func() error, error) {
	op, name, _ := strings.Cut(req, " ")
	var n *Namespace
	switch {
	case op == "run" && name == "mnt":
		n = New(WithPrivateMount())
	case op == "run" && name == "user+mnt":
		n = New(WithPrivateMount(), WithPrivateUser())
	case op == "startprocess" && name == callerHeapCgroupSet:
		parent, err := defaultCgroupParent()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", req, err)
		}
		n = New(WithPrivateMount(), WithCgroupParent(parent))
	default:
		for _, s := range callerHeapSets() {
			if s.Name == name {
				n = New(setOptions(s)...)
			}
		}
	}
	if n == nil {
		return nil, fmt.Errorf("%s: no such set", req)
	}
	switch op {
	case "run":
		return func() error { return n.Run(context.Background(), benchNop) }, nil
	case "os-exec":
		return execOf(n), nil
	case "startprocess":
		return func() error { return waitSuccess(n.StartProcess("/bin/true", nil, nil)) }, nil
	}
	return nil, fmt.Errorf("%s: no such operation", req)
}
