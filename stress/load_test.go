//go:build stress

package stress

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/proctest"
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

type snapshot struct {
	fds, goroutines, rss, zombies int
	mounts                        string
}

func snap(t *testing.T) snapshot {
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	return snapshot{fds: countFds(), goroutines: runtime.NumGoroutine(), rss: rssKiB(), zombies: len(zombies()), mounts: mounts(t)}
}

func zombies() []int { return proctest.Zombies() }

func checkStable(t *testing.T, name string, before, after snapshot, elapsed time.Duration, n int) {
	t.Helper()
	report("%-26s %5d Runs in %8v (%6.2f ms/Run): zombies %d, fds %d→%d, goroutines %d→%d, RSS %d→%d KiB, mount table unchanged: %v",
		name, n, elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/1000/float64(n),
		after.zombies, before.fds, after.fds, before.goroutines, after.goroutines, before.rss, after.rss, after.mounts == before.mounts)
	if after.zombies != 0 {
		t.Errorf("%d zombies", after.zombies)
	}
	if after.fds > before.fds {
		t.Errorf("fds grew from %d to %d", before.fds, after.fds)
	}
	if after.goroutines > before.goroutines {
		t.Errorf("goroutines grew from %d to %d", before.goroutines, after.goroutines)
	}
	// RSS: a leak of a few KiB per Run shows over 1,000 Runs; allow the
	// heap's own slack.
	if after.rss > before.rss+32*1024 {
		t.Errorf("RSS grew from %d KiB to %d KiB", before.rss, after.rss)
	}
	if after.mounts != before.mounts {
		t.Errorf("host mount table changed")
	}
}

func TestLoadSequential(t *testing.T) {
	const n = 1000
	ns := rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp())
	if err := ns.Run(context.Background(), nop); err != nil { // warm up
		t.Fatal(err)
	}
	before := snap(t)
	var half snapshot
	start := time.Now()
	for i := range n {
		if err := ns.Run(context.Background(), nop); err != nil {
			t.Fatalf("Run %d: %v", i, err)
		}
		if i == n/2-1 {
			half = snap(t)
		}
	}
	elapsed := time.Since(start)
	after := snap(t)
	checkStable(t, "sequential", before, after, elapsed, n)
	// A leak grows with the count; the heap's warm-up does not.
	report("%-26s RSS after %d Runs %d KiB, after %d Runs %d KiB", "sequential, second half", n/2, half.rss, n, after.rss)
	if after.rss > half.rss+8*1024 {
		t.Errorf("RSS grew by %d KiB over the second %d Runs", after.rss-half.rss, n/2)
	}
}

func TestLoadConcurrent(t *testing.T) {
	const n, workers = 200, 8
	ns := rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithPrivateNet())
	if err := ns.Run(context.Background(), nop); err != nil {
		t.Fatal(err)
	}
	before := snap(t)
	start := time.Now()
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
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	for _, f := range failures {
		t.Error(f)
	}
	checkStable(t, fmt.Sprintf("concurrent (%d workers)", workers), before, snap(t), elapsed, n)
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
	fmt.Printf("\n== stress figures (%s, GOMAXPROCS %d) ==\n", mode, runtime.GOMAXPROCS(0))
	for _, l := range figures.lines {
		fmt.Println(l)
	}
}
