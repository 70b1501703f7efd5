//go:build linux

package namespace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/linuxns/namespace/internal/benchkit"
)

// Benchmarks. Each reports ns/op and allocs/op (of this process) and, from
// the duration of every iteration, p50-ms and p99-ms. `make bench` runs
// them and the side-by-side comparison with unshare(1), bwrap and nsrun
// (internal/benchcmp); docs/benchmarks.md has the method and results.
//
// Unprivileged, every set gets a user namespace as well (WithPrivateUser;
// unshare --map-root-user), as nothing else can create namespaces.

// benchNop is the function the Run benchmarks run: nothing, so that what is
// measured is the child and its namespaces.
var benchNop = Register("bench-nop", func(ctx context.Context, args []string) error { return nil })

type benchIn struct {
	Words []string `json:"words"`
}

type benchOut struct {
	Joined string `json:"joined"`
	N      int    `json:"n"`
}

// benchTask is the Task round trip: JSON in, JSON out.
var benchTask = NewTask("bench-task", func(ctx context.Context, in benchIn) (benchOut, error) {
	return benchOut{Joined: strings.Join(in.Words, " "), N: len(in.Words)}, nil
})

// effective returns s as it can run here: with a user namespace when not
// root.
func effective(s benchkit.Set) benchkit.Set {
	if !asRoot() {
		s.User = true
	}
	return s
}

// setOptions returns the options that make the namespaces and set-up of s.
func setOptions(s benchkit.Set) []Option {
	s = effective(s)
	var o []Option
	if s.User {
		o = append(o, WithPrivateUser())
	}
	if s.Mount {
		o = append(o, WithPrivateMount())
	}
	if s.PID {
		o = append(o, WithPrivatePID())
	}
	if s.Tmp {
		o = append(o, WithPrivateTmp())
	}
	if s.Net {
		o = append(o, WithPrivateNet())
	}
	if s.IPC {
		o = append(o, WithPrivateIPC())
	}
	if s.UTS {
		o = append(o, WithHostname(benchkit.Hostname))
	}
	if s.Cgroup {
		o = append(o, WithPrivateCgroup())
	}
	if s.Time {
		o = append(o, WithPrivateTime(0, 0))
	}
	return o
}

// reportLatency reports the p50 and p99 of lat in milliseconds, each
// metric name prefixed with prefix.
func reportLatency(b *testing.B, prefix string, lat benchkit.Latencies) {
	b.ReportMetric(benchkit.Ms(lat.Percentile(50)), prefix+"p50-ms")
	b.ReportMetric(benchkit.Ms(lat.Percentile(99)), prefix+"p99-ms")
}

// measure runs op once per iteration, timing each, and reports allocations
// and p50/p99 besides ns/op. It checks that nothing was left behind.
func measure(b *testing.B, op func() error) benchkit.Latencies {
	b.Helper()
	return measureThen(b, op, nil)
}

// measureThen is measure with after (if not nil) called, untimed, after
// each iteration.
func measureThen(b *testing.B, op func() error, after func()) benchkit.Latencies {
	b.Helper()
	noLeftovers(b)
	b.ReportAllocs()
	var lat benchkit.Latencies
	for b.Loop() {
		t0 := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		if after != nil {
			b.StopTimer()
			after()
			b.StartTimer()
		}
	}
	reportLatency(b, "", lat)
	return lat
}

// adoptOrphans makes this process a child subreaper for the rest of the
// benchmark, and returns the function that reaps the orphans that have
// exited: bwrap --unshare-pid leaves its PID 1 to exit after bwrap, and
// an init that reaps late would keep it a zombie (see benchkit.Subreaper).
// Call it only between operations.
func adoptOrphans(b *testing.B) func() {
	b.Helper()
	reap, restore, err := benchkit.Subreaper()
	if err != nil {
		b.Logf("orphans of the tools are left to init: %v", err)
		return func() {}
	}
	b.Cleanup(restore)
	return func() { reap() }
}

// benchMounts returns the host's mount table as comparable lines.
func benchMounts(tb testing.TB) string {
	tb.Helper()
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		tb.Fatal(err)
	}
	lines := make([]string, 0, len(infos))
	for _, m := range infos {
		lines = append(lines, strings.Join([]string{m.Mountpoint, m.FSType, m.Source, m.Options, m.Optional}, " "))
	}
	return strings.Join(lines, "\n")
}

// noLeftovers fails the benchmark at its end if the host's mount table
// changed or a child of this process is left as a zombie.
func noLeftovers(b *testing.B) {
	b.Helper()
	before := benchMounts(b)
	b.Cleanup(func() {
		if after := benchMounts(b); after != before {
			b.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if z := zombieChildren(); len(z) > 0 {
			b.Errorf("zombie children left: %v", z)
		}
	})
}

// benchFixture returns a fixture program built from testdata/<name>, like
// testBinary.
func benchFixture(b *testing.B, name string) string {
	b.Helper()
	if dir := os.Getenv("LINUXNS_BIN"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if !asRoot() {
		b.Skipf("fixture %s is not built and an unprivileged user cannot build it here: run `make build` (sets LINUXNS_BIN)", name)
	}
	out := filepath.Join(b.TempDir(), name)
	if o, err := exec.Command("go", "build", "-o", out, "./testdata/"+name).CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", name, err, o)
	}
	return out
}

// nsrunPath returns the built nsrun, or skips.
func nsrunPath(b *testing.B) string {
	b.Helper()
	for _, dir := range []string{os.Getenv("LINUXNS_BIN"), ".bin"} {
		if dir == "" {
			continue
		}
		if p, err := filepath.Abs(filepath.Join(dir, "nsrun")); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	b.Skip("nsrun is not built: run `make build` (it writes .bin/nsrun)")
	return ""
}

// BenchmarkRun runs a registered function that does nothing, in a cold
// child, for each set of namespaces and set-up. user+all uses a user
// namespace whoever runs it (as root: root mapped to root); run the
// benchmarks through scripts/as-nobody for uid 65534 (make bench does).
func BenchmarkRun(b *testing.B) {
	ctx := context.Background()
	for _, s := range benchkit.RunSets() {
		b.Run(s.Name, func(b *testing.B) {
			n := New(setOptions(s)...)
			measure(b, func() error { return n.Run(ctx, benchNop) })
		})
	}
}

// BenchmarkRunPool runs the same function on a Pool of 2 in
// mnt+pid+tmpfs. "ready": each Run finds the pool full (the wait for the
// refill is not timed): the latency of a hand-off. "ready-no-signals": the
// same with WithTermChild(false), so that Run does not catch the
// terminating signals while it waits (ctx still kills the child): what
// catching them costs (os/signal makes a round trip to a thread of its own
// per signal, to start and to stop). "back-to-back": Runs follow each
// other at once, so a Run may find the pool empty and run cold.
func BenchmarkRunPool(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []string{"ready", "ready-no-signals", "back-to-back"} {
		b.Run(mode, func(b *testing.B) {
			opts := setOptions(benchkit.MntPIDTmp)
			if mode == "ready-no-signals" {
				opts = append(opts, WithTermChild(false))
			}
			n, err := New(opts...).Pool(2)
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			if err := n.Run(ctx, benchNop); err != nil {
				b.Fatal(err)
			}
			noLeftovers(b)
			b.ReportAllocs()
			var lat benchkit.Latencies
			for b.Loop() {
				if mode != "back-to-back" {
					b.StopTimer()
					poolIdle(b, n, 2) // full: no child starting meanwhile
					b.StartTimer()
				}
				t0 := time.Now()
				if err := n.Run(ctx, benchNop); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			reportLatency(b, "", lat)
		})
	}
}

// BenchmarkRunCold is the cold Run of the set that BenchmarkRunPool uses,
// for the ratio.
func BenchmarkRunCold(b *testing.B) {
	n := New(setOptions(benchkit.MntPIDTmp)...)
	measure(b, func() error { return n.Run(context.Background(), benchNop) })
}

// BenchmarkTask is a Task round trip (JSON input and output) in mnt+tmpfs.
func BenchmarkTask(b *testing.B) {
	n := New(setOptions(benchkit.MntTmpfs)...)
	in := benchIn{Words: []string{"a", "task", "round", "trip"}}
	measure(b, func() error {
		out, err := benchTask.Run(context.Background(), n, in)
		if err == nil && out.N != 4 {
			b.Fatalf("task returned %+v", out)
		}
		return err
	})
}

// BenchmarkCommand runs Command in mnt+pid+proc with a static `true` (no
// dynamic loader: the cost is the namespaces and the re-executed child)
// and with /bin/true.
func BenchmarkCommand(b *testing.B) {
	staticTrue, err := benchkit.StaticTrue(b.TempDir())
	if err != nil {
		b.Log(err)
	}
	for _, prog := range []struct{ name, path string }{{"static-true", staticTrue}, {"bin-true", "/bin/true"}} {
		b.Run(prog.name, func(b *testing.B) {
			if prog.path == "" {
				b.Skip("no static true on this architecture")
			}
			n := New(setOptions(benchkit.MntPIDProc)...)
			measure(b, func() error { return n.Command(context.Background(), prog.path).Run() })
		})
	}
}

// BenchmarkSetup is the round trip of a program that calls Setup
// (mnt+pid+tmpfs) and exits 0 inside: start, re-execution, exit.
func BenchmarkSetup(b *testing.B) {
	prog := benchFixture(b, "bench-setup")
	measure(b, func() error { return benchkit.ExecOp([]string{prog})() })
}

// BenchmarkDo runs a function that does nothing with Do. It needs
// CAP_SYS_ADMIN.
func BenchmarkDo(b *testing.B) {
	if !asRoot() {
		b.Skip("Do needs CAP_SYS_ADMIN in the caller's user namespace: run as root")
	}
	for _, s := range []benchkit.Set{benchkit.MntTmpfs, benchkit.NetLo} {
		b.Run(s.Name, func(b *testing.B) {
			n := New(setOptions(s)...)
			measure(b, func() error { return n.Do(func() error { return nil }) })
		})
	}
}

// BenchmarkStartProcess starts /bin/true with StartProcess (one process
// cloned into the namespaces, no re-executed child) and waits for it, in
// every compared set.
func BenchmarkStartProcess(b *testing.B) {
	for _, s := range benchkit.ComparedSets() {
		b.Run(s.Name, func(b *testing.B) {
			n := New(setOptions(effective(s))...)
			measure(b, func() error { return waitSuccess(n.StartProcess("/bin/true", nil, nil)) })
		})
	}
}

// BenchmarkNsrun runs nsrun end to end (a process of its own, as from a
// shell) with /bin/true.
func BenchmarkNsrun(b *testing.B) {
	nsrun := nsrunPath(b)
	for _, s := range benchkit.ComparedSets() {
		b.Run(s.Name, func(b *testing.B) {
			measure(b, benchkit.ExecOp(effective(s).NsrunArgv(nsrun, "/bin/true")))
		})
	}
}

// BenchmarkBaseline runs unshare(1) and bwrap with the same namespaces and
// set-up (see benchkit.Set.UnshareArgv for how unshare does the set-up),
// and /bin/true and this test binary without namespaces, for reference.
func BenchmarkBaseline(b *testing.B) {
	b.Run("bin-true", func(b *testing.B) { measure(b, benchkit.ExecOp([]string{"/bin/true"})) })
	b.Run("self-exec", func(b *testing.B) {
		// The test binary, started and exiting without running anything:
		// the floor of a Run child that has no namespaces and no job.
		measure(b, benchkit.ExecOp([]string{os.Args[0], "-test.run=^$"}))
	})
	for _, s := range benchkit.ComparedSets() {
		s := effective(s)
		b.Run(s.Name+"/unshare", func(b *testing.B) {
			if benchkit.Tool("unshare") == "" {
				b.Skip("unshare(1) is not installed (util-linux)")
			}
			argv, _ := s.UnshareArgv("/bin/true")
			measure(b, benchkit.ExecOp(argv))
		})
		b.Run(s.Name+"/bwrap", func(b *testing.B) {
			if benchkit.Tool("bwrap") == "" {
				b.Skip("bwrap is not installed (Debian: bubblewrap)")
			}
			argv, _ := s.BwrapArgv("/bin/true")
			measureThen(b, benchkit.ExecOp(argv), adoptOrphans(b))
		})
	}
}

// BenchmarkVersus alternates, iteration by iteration, Run of a function,
// Command of /bin/true, nsrun, unshare and bwrap on the same set, and
// reports each one's p50 and p99 and the ratios of ours to theirs. An
// iteration is one round of all of them.
func BenchmarkVersus(b *testing.B) {
	ctx := context.Background()
	for _, s := range benchkit.ComparedSets() {
		b.Run(s.Name, func(b *testing.B) {
			s := effective(s)
			n := New(setOptions(s)...)
			cs := []benchkit.Contender{
				{Name: "run", Op: func() error { return n.Run(ctx, benchNop) }},
				{Name: "command", Op: func() error { return n.Command(ctx, "/bin/true").Run() }},
			}
			if nsrun := filepath.Join(os.Getenv("LINUXNS_BIN"), "nsrun"); os.Getenv("LINUXNS_BIN") != "" && fileExists(nsrun) {
				cs = append(cs, benchkit.Contender{Name: "nsrun", Op: benchkit.ExecOp(s.NsrunArgv(nsrun, "/bin/true"))})
			} else if fileExists(".bin/nsrun") {
				p, _ := filepath.Abs(".bin/nsrun")
				cs = append(cs, benchkit.Contender{Name: "nsrun", Op: benchkit.ExecOp(s.NsrunArgv(p, "/bin/true"))})
			}
			if benchkit.Tool("unshare") != "" {
				argv, _ := s.UnshareArgv("/bin/true")
				cs = append(cs, benchkit.Contender{Name: "unshare", Op: benchkit.ExecOp(argv)})
			}
			if argv, ok := s.BwrapArgv("/bin/true"); ok && benchkit.Tool("bwrap") != "" {
				cs = append(cs, benchkit.Contender{Name: "bwrap", Op: benchkit.ExecOp(argv)})
			}
			reap := adoptOrphans(b)
			noLeftovers(b)
			lat := make([]benchkit.Latencies, len(cs))
			round := 0
			for b.Loop() {
				// Each round starts with the next contender, so that
				// noise and warm caches fall on all of them alike.
				for k := range cs {
					i := (round + k) % len(cs)
					t0 := time.Now()
					if err := cs[i].Op(); err != nil {
						b.Fatalf("%s: %v", cs[i].Name, err)
					}
					lat[i] = append(lat[i], time.Since(t0))
				}
				b.StopTimer()
				reap()
				b.StartTimer()
				round++
			}
			p50 := map[string]float64{}
			for i, c := range cs {
				reportLatency(b, c.Name+"-", lat[i])
				p50[c.Name] = benchkit.Ms(lat[i].Percentile(50))
			}
			for _, ours := range []string{"run", "command", "nsrun"} {
				for _, theirs := range []string{"unshare", "bwrap"} {
					if p50[ours] > 0 && p50[theirs] > 0 {
						b.ReportMetric(p50[ours]/p50[theirs], ours+"/"+theirs)
					}
				}
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// BenchmarkThroughput runs cold Runs (mnt+pid+tmpfs) from 1 and 2 workers
// and reports runs per second; an iteration is one Run.
func BenchmarkThroughput(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			n := New(setOptions(benchkit.MntPIDTmp)...)
			noLeftovers(b)
			var remaining atomic.Int64
			remaining.Store(int64(b.N))
			errs := make(chan error, workers)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for remaining.Add(-1) >= 0 {
						if err := n.Run(context.Background(), benchNop); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
		})
	}
}
