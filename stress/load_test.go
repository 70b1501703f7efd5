//go:build stress && linux

package stress

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/nstest"
)

// figures collects the numbers the suite reports at the end.
var figures struct {
	sync.Mutex
	lines []string
}

func report(format string, args ...any) {
	figures.Lock()
	defer figures.Unlock()
	figures.lines = append(figures.lines, fmt.Sprintf(format, args...))
}

// printFigures prints the figures of the run; TestMain calls it at the end.
func printFigures() {
	figures.Lock()
	defer figures.Unlock()
	if len(figures.lines) == 0 {
		return
	}
	mode := "root"
	if os.Geteuid() != 0 {
		mode = fmt.Sprintf("uid %d", os.Geteuid())
	}
	if raceEnabled {
		mode += ", -race"
	}
	fmt.Printf("\n== stress figures (%s, %s, GOMAXPROCS %d) ==\n", mode, runtime.Version(), runtime.GOMAXPROCS(0))
	for _, l := range figures.lines {
		fmt.Println(l)
	}
}

func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

// snapshot is the state of the parent that must not drift under load.
type snapshot struct {
	fds, goroutines, rss, heap, zombies, children int
	mounts                                        string
}

// snap measures the parent after a garbage collection. Goroutines that
// Run's last child left are given a moment to finish exiting (they have
// delivered their results already).
func snap(t *testing.T, goroutinesBefore int) snapshot {
	t.Helper()
	for deadline := time.Now().Add(time.Second); runtime.NumGoroutine() > goroutinesBefore && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	debug.FreeOSMemory() // a GC, and the freed memory back to the system
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return snapshot{
		fds: countFds(), goroutines: runtime.NumGoroutine(), rss: rssKiB(), heap: int(ms.HeapAlloc >> 10),
		zombies: len(proctest.Zombies()), children: len(proctest.Children()), mounts: mounts(t),
	}
}

// rssSlack is how much the parent's RSS may grow over the second half of
// a load run. The race detector's own memory grows with every goroutine
// ever started (not a leak of this package; the Go heap check is the same
// in both modes), so it gets more.
func rssSlack() int {
	if raceEnabled {
		return 24 << 10
	}
	return 8 << 10
}

// heapSlack is how much the Go heap (live objects after a collection) may
// grow over the second half of a load run: a leak of 512 bytes per Run
// exceeds it.
const heapSlack = 256

func checkStable(t *testing.T, name string, first, half, last snapshot, elapsed time.Duration, n int) {
	t.Helper()
	report("%-26s %5d Runs in %8v (%5.2f ms/Run): zombies %d, children left %d, fds %d→%d, goroutines %d→%d, parent RSS %d→%d→%d KiB, Go heap %d→%d→%d KiB, host mount table unchanged: %v",
		name, n, elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/1000/float64(n),
		last.zombies, last.children, first.fds, last.fds, first.goroutines, last.goroutines,
		first.rss, half.rss, last.rss, first.heap, half.heap, last.heap, last.mounts == first.mounts)
	if last.zombies != 0 || last.children != 0 {
		t.Errorf("%d zombies, %d children left", last.zombies, last.children)
	}
	if last.fds > first.fds {
		t.Errorf("fds grew from %d to %d", first.fds, last.fds)
	}
	if last.goroutines > first.goroutines {
		t.Errorf("goroutines grew from %d to %d", first.goroutines, last.goroutines)
	}
	// A leak grows with the count; warming up does not: compare the two
	// halves.
	if last.rss > half.rss+rssSlack() {
		t.Errorf("RSS grew by %d KiB over the second half of the Runs (allowed %d KiB)", last.rss-half.rss, rssSlack())
	}
	if last.heap > half.heap+heapSlack {
		t.Errorf("the Go heap grew by %d KiB over the second half of the Runs (allowed %d KiB)", last.heap-half.heap, heapSlack)
	}
	if last.mounts != first.mounts {
		t.Errorf("host mount table changed")
	}
}

// TestLoadSequential: 1,000 Runs one after the other leave no zombie, no
// descriptor, no goroutine, no memory and no mount behind.
func TestLoadSequential(t *testing.T) {
	const n = 1000
	ns := rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp())
	if err := ns.Run(context.Background(), nop); err != nil { // warm up
		t.Fatal(err)
	}
	g := runtime.NumGoroutine()
	first := snap(t, g)
	var half snapshot
	start := time.Now()
	for i := range n {
		if err := ns.Run(context.Background(), nop); err != nil {
			t.Fatalf("Run %d: %v", i, err)
		}
		if i == n/2-1 {
			half = snap(t, g)
		}
	}
	elapsed := time.Since(start)
	checkStable(t, "sequential", first, half, snap(t, g), elapsed, n)
}

// TestLoadConcurrent: 200 Runs, 8 at a time on 2 cores, with a network
// namespace each, leave nothing behind either.
func TestLoadConcurrent(t *testing.T) {
	const n, workers = 200, 8
	ns := rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithPrivateNet())
	if err := ns.Run(context.Background(), nop); err != nil {
		t.Fatal(err)
	}
	g := runtime.NumGoroutine()
	first := snap(t, g)
	var half snapshot
	start := time.Now()
	runBatch := func(count int) []string {
		jobs := make(chan int)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					if err := ns.Run(context.Background(), nop); err != nil {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("Run %d: %v", i, err))
						mu.Unlock()
					}
				}
			}()
		}
		for i := range count {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		return failures
	}
	failures := runBatch(n / 2)
	half = snap(t, g)
	failures = append(failures, runBatch(n-n/2)...)
	elapsed := time.Since(start)
	for _, f := range failures {
		t.Error(f)
	}
	checkStable(t, fmt.Sprintf("concurrent (%d at a time)", workers), first, half, snap(t, g), elapsed, n)
}

// TestLoadStartProcess: 1,000 programs started with StartProcess, 4 at a
// time, leave no zombie, descriptor, goroutine, memory or mount behind; and
// as many under an init (WithMinimalInit).
func TestLoadStartProcess(t *testing.T) {
	t.Run("pid", func(t *testing.T) {
		loadStartProcess(t, "StartProcess", rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp()))
	})
	t.Run("pid+init", func(t *testing.T) {
		loadStartProcess(t, "StartProcess WithMinimalInit", rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithMinimalInit()))
	})
}

func loadStartProcess(t *testing.T, name string, ns *namespace.Namespace) {
	const n, workers = 1000, 4
	start1 := func() error {
		p, err := ns.StartProcess("/bin/true", nil, nil)
		if err != nil {
			return err
		}
		st, err := p.Wait()
		if err == nil && !st.Success() {
			err = fmt.Errorf("/bin/true: %v", st)
		}
		return err
	}
	if err := start1(); err != nil { // warm up
		t.Fatal(err)
	}
	g := runtime.NumGoroutine()
	first := snap(t, g)
	batch := func(count int) {
		var wg sync.WaitGroup
		errs := make(chan error, count)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < count; i += workers {
					if err := start1(); err != nil {
						errs <- fmt.Errorf("StartProcess %d: %w", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	start := time.Now()
	batch(n / 2)
	half := snap(t, g)
	batch(n - n/2)
	elapsed := time.Since(start)
	checkStable(t, fmt.Sprintf("%s (%d at a time)", name, workers), first, half, snap(t, g), elapsed, n)
}

// TestLoadFailedExec: 1,000 Execs whose program cannot be executed, 4 at a
// time, each in fresh mount and network namespaces with a tmpfs on /tmp:
// every one returns the error, and the throw-away threads leave no
// descriptor, goroutine, memory, mount or thread behind. Exec needs
// CAP_SYS_ADMIN where it runs: as uid 65534 the test runs inside a user
// namespace of its own (nstest).
func TestLoadFailedExec(t *testing.T) {
	if os.Geteuid() == 0 && !nstest.Inside() {
		loadFailedExec(t)
		return
	}
	nstest.Run(t, namespace.New(namespace.WithPrivateUser()), loadFailedExec)
}

func loadFailedExec(t *testing.T) {
	const n, workers = 1000, 4
	ns := namespace.New(namespace.WithPrivateTmp(), namespace.WithPrivateNet())
	exec1 := func() error {
		err := ns.Exec("/nonexistent/program", nil, nil)
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("Exec = %v, want an error wrapping fs.ErrNotExist", err)
		}
		return nil
	}
	if err := exec1(); err != nil { // warm up
		t.Fatal(err)
	}
	g := runtime.NumGoroutine()
	first, threads0 := snap(t, g), proctest.Threads()
	batch := func(count int) {
		var wg sync.WaitGroup
		errs := make(chan error, count)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < count; i += workers {
					if err := exec1(); err != nil {
						errs <- fmt.Errorf("Exec %d: %w", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	start := time.Now()
	batch(n / 2)
	half, threads1 := snap(t, g), proctest.Threads()
	batch(n - n/2)
	elapsed := time.Since(start)
	threads2 := proctest.Threads()
	checkStable(t, fmt.Sprintf("failed Exec (%d at a time)", workers), first, half, snap(t, g), elapsed, n)
	report("failed Exec: threads %d→%d→%d", threads0, threads1, threads2)
	// The runtime keeps idle threads and starts new ones as it needs them;
	// a thread left behind per Exec would grow with the count.
	if threads2 > threads1+workers {
		t.Errorf("threads grew from %d to %d over the second half", threads1, threads2)
	}
}
