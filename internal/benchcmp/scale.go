//go:build linux

package main

// The figures of start-up cost, throughput under concurrency, network
// namespace churn and growth, each printed beside its target.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/benchkit"
)

// execContender is a contender that runs argv as a process and records its
// CPU time and page faults.
func execContender(name string, argv []string, okCodes ...int) benchkit.Contender {
	u := &benchkit.Usage{}
	return benchkit.Contender{Name: name, Op: benchkit.ExecOpUsage(argv, u, okCodes...), Usage: u}
}

// envContender is execContender with env added to argv's environment.
func envContender(name string, env, argv []string) benchkit.Contender {
	u := &benchkit.Usage{}
	return benchkit.Contender{Name: name, Op: benchkit.ExecOpEnv(env, argv, u), Usage: u}
}

// usageCells formats a contender's CPU time and page faults per run, or
// dashes for one that runs in this process.
func usageCells(u *benchkit.Usage) string {
	if u == nil {
		return "-\t-"
	}
	cpu, faults, runs := u.PerRun()
	if runs == 0 {
		return "-\t-"
	}
	return fmt.Sprintf("%.2f\t%.0f", benchkit.Ms(cpu), faults)
}

// target formats got/base beside its target: "1.05× (≤1.10×)", with
// "MISSED" when the target is not met. higher says that a higher ratio is
// better (rates).
func target(got, base, limit float64, higher bool) string {
	if got == 0 || base == 0 {
		return "-"
	}
	r := got / base
	ok := r <= limit
	op := "≤"
	if higher {
		ok, op = r >= limit, "≥"
	}
	s := fmt.Sprintf("%.2f× (%s%.2f×)", r, op, limit)
	if !ok {
		s += " MISSED"
	}
	return s
}

// compareScale prints the start-up, throughput, churn and growth figures.
func compareScale(rounds int, nsrun string, tput time.Duration) error {
	if err := compareStartup(rounds, nsrun); err != nil {
		return fmt.Errorf("start-up: %w", err)
	}
	if err := compareFloor(rounds, nsrun); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	if tput > 0 {
		for _, s := range []benchkit.Set{benchkit.MntPIDTmp, benchkit.NetLo} {
			if err := compareConcurrency(effective(s), tput, nsrun); err != nil {
				return fmt.Errorf("throughput %s: %w", s.Name, err)
			}
		}
	}
	// Growth is measured over the churn, after the throughput measurements
	// have taken the process to its peak concurrency (the Go runtime keeps
	// the threads and stacks of its busiest moment).
	before := settle()
	if err := compareNetChurn(1000, nsrun); err != nil {
		return fmt.Errorf("net churn: %w", err)
	}
	reportGrowth(before, settle())
	return nil
}

// compareStartup compares `nsrun -- /bin/true` (no namespace: nsrun's own
// start-up, then /bin/true in its place) with an empty Go program and with
// a Go program that only executes /bin/true, and nsrun -m -p with
// unshare(1), in CPU time and page faults per run.
func compareStartup(rounds int, nsrun string) error {
	if nsrun == "" {
		return nil
	}
	dir := filepath.Dir(nsrun)
	cs := []benchkit.Contender{execContender("/bin/true", []string{"/bin/true"})}
	for _, p := range []struct{ name, bin string }{{"Go: empty program", "goempty"}, {"Go: exec /bin/true", "goexec"}} {
		path := filepath.Join(dir, p.bin)
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(os.Stderr, "benchcmp: %s is not built (make bench builds it); left out\n", path)
			continue
		}
		argv := []string{path}
		if p.bin == "goexec" {
			argv = append(argv, "/bin/true")
		}
		cs = append(cs, execContender(p.name, argv))
	}
	cs = append(cs, execContender("nsrun -- /bin/true", []string{nsrun, "--", "/bin/true"}))
	mp := effective(benchkit.MntPIDProc)
	cs = append(cs, execContender("nsrun -m -p", mp.NsrunArgv(nsrun, "/bin/true")))
	if benchkit.Tool("unshare") != "" {
		argv, _ := mp.UnshareArgv("/bin/true")
		cs = append(cs, execContender("unshare -m -p -f", argv))
	}
	if _, err := benchkit.Alternate(5, cs, reapOrphans); err != nil {
		return err
	}
	for _, c := range cs {
		c.Usage.Reset()
	}
	lat, err := benchkit.Alternate(rounds, cs, reapOrphans)
	if err != nil {
		return err
	}
	fmt.Printf("## start-up: wall, CPU time and page faults per run (wait4 rusage), %d alternating rounds\n\n", rounds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\tp50 ms\tCPU ms/run\tfaults/run\t")
	cpu := map[string]float64{}
	faults := map[string]float64{}
	for i, c := range cs {
		cd, f, _ := c.Usage.PerRun()
		cpu[c.Name], faults[c.Name] = benchkit.Ms(cd), f
		fmt.Fprintf(w, "%s\t%.2f\t%s\t\n", c.Name, benchkit.Ms(lat[i].Percentile(50)), usageCells(c.Usage))
	}
	w.Flush()
	ns, empty, floor := "nsrun -- /bin/true", "Go: empty program", "Go: exec /bin/true"
	fmt.Printf("\nnsrun -- /bin/true / empty Go program: CPU %s, page faults %s\n",
		target(cpu[ns], cpu[empty], 1.2, false), target(faults[ns], faults[empty], 1.2, false))
	fmt.Printf("nsrun -- /bin/true / Go exec of /bin/true (the floor of the same work): CPU %s, page faults %s\n",
		target(cpu[ns], cpu[floor], 1.2, false), target(faults[ns], faults[floor], 1.2, false))
	fmt.Printf("nsrun's own start-up (minus /bin/true) / empty Go program: CPU %s, page faults %s\n\n",
		target(cpu[ns]-cpu["/bin/true"], cpu[empty], 1.2, false), target(faults[ns]-faults["/bin/true"], faults[empty], 1.2, false))
	return nil
}

// compareConcurrency prints creations per second of Run, Command and
// unshare(1) from 1, 2, 8 and 32 workers, beside StartProcess of /bin/true
// (the package's clone and set-up with no Go in the child) and two floors:
// StartProcess of an empty Go program (the Go runtime's start-up) and of
// this program exiting at once (what Run and Command pay by design, as
// their child is the program executed again).
func compareConcurrency(s benchkit.Set, d time.Duration, nsrun string) error {
	ctx := context.Background()
	n := namespace.New(options(s)...)
	cs := []benchkit.Contender{
		{Name: "Run", Op: func() error { return n.Run(ctx, nop) }},
		{Name: "Command", Op: func() error { return n.Command(ctx, "/bin/true").Run() }},
		{Name: "StartProcess /bin/true", Op: startOp(n, "/bin/true")},
	}
	cs = append(cs, goFloors(n, s, nsrun, true)...)
	if benchkit.Tool("unshare") != "" {
		argv, _ := s.UnshareArgv("/bin/true")
		cs = append(cs, benchkit.Contender{Name: "unshare", Op: benchkit.ExecOp(argv)})
	}
	workers := []int{1, 2, 8, 32}
	rates := make(map[string][]float64)
	// Each concurrency in turn, every contender at it in three slices of
	// d/3 in rotating order, so that a change of load falls on all of them
	// alike.
	const slices = 3
	for _, wk := range workers {
		sum := make([]float64, len(cs))
		for r := range slices {
			for k := range cs {
				i := (r + k) % len(cs)
				v, err := benchkit.Throughput(wk, d/slices, cs[i].Op)
				reapOrphans()
				if err != nil {
					return fmt.Errorf("%s, %d workers: %w", cs[i].Name, wk, err)
				}
				sum[i] += v / slices
			}
		}
		for i, c := range cs {
			rates[c.Name] = append(rates[c.Name], sum[i])
		}
	}
	fmt.Printf("## %s: creations per second, %v per measurement (target: ≥ unshare at every concurrency)\n\n", s.Name, d)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "contender\t")
	for _, wk := range workers {
		fmt.Fprintf(w, "%d /s\t/unshare\t", wk)
	}
	fmt.Fprintln(w)
	u := rates["unshare"]
	for _, c := range cs {
		fmt.Fprintf(w, "%s\t", c.Name)
		for i := range workers {
			r := rates[c.Name][i]
			cell := "-"
			if u != nil && (c.Name == "Run" || c.Name == "Command") {
				cell = target(r, u[i], 1.0, true)
			} else if u != nil && c.Name != "unshare" {
				cell = ratio(r, u[i])
			}
			fmt.Fprintf(w, "%.0f\t%s\t", r, cell)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	fmt.Println()
	return nil
}

// compareNetChurn creates and destroys count network namespaces in
// sequence with each contender, in two alternating halves, and prints the
// total time for count.
func compareNetChurn(count int, nsrun string) error {
	ctx := context.Background()
	s := effective(benchkit.NetLo)
	n := namespace.New(options(s)...)
	var cs []benchkit.Contender
	if benchkit.Tool("unshare") != "" {
		// The anchor: no lo, /bin/false in unshare's place.
		argv := []string{"unshare", "--net", "/bin/false"}
		if s.User {
			argv = []string{"unshare", "--user", "--map-root-user", "--net", "/bin/false"}
		}
		cs = append(cs, execContender("unshare -n /bin/false", argv, 1))
	}
	if nsrun != "" {
		cs = append(cs, execContender("nsrun -n /bin/false", s.NsrunArgv(nsrun, "/bin/false"), 1))
	}
	cs = append(cs, benchkit.Contender{Name: "Run", Op: func() error { return n.Run(ctx, nop) }})
	if os.Geteuid() == 0 {
		cs = append(cs, benchkit.Contender{Name: "Do", Op: func() error { return n.Do(func() error { return nil }) }})
	}
	// The floors: a Go program that creates the network namespace and
	// executes /bin/false (nsrun's in the least code; as root, since a
	// threaded program cannot create a user namespace for itself), and
	// StartProcess of an empty Go program and of this program exiting at
	// once (Run's child is this program).
	if nsrun != "" && !s.User {
		if p := filepath.Join(filepath.Dir(nsrun), "goexec"); fileExists(p) {
			cs = append(cs, execContender("floor: Go program, unshare -n and exec /bin/false", []string{p, "-net", "/bin/false"}, 1))
		}
	}
	cs = append(cs, goFloors(n, s, nsrun, false)...)
	total := make([]time.Duration, len(cs))
	for half := range 2 {
		for k := range cs {
			i := (half + k) % len(cs)
			t0 := time.Now()
			for range count / 2 {
				if err := cs[i].Op(); err != nil {
					return fmt.Errorf("%s: %w", cs[i].Name, err)
				}
			}
			total[i] += time.Since(t0)
			reapOrphans()
		}
	}
	fmt.Printf("## net: %d network namespaces created and destroyed in sequence (target: ≤1.00× unshare)\n\n", count)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\ttotal s\t/unshare\tCPU ms/run\tfaults/run\t")
	for i, c := range cs {
		cell := target(total[i].Seconds(), total[0].Seconds(), 1.0, false)
		if strings.HasPrefix(c.Name, "floor:") {
			cell = ratio(total[i].Seconds(), total[0].Seconds())
		}
		fmt.Fprintf(w, "%s\t%.2f\t%s\t%s\t\n", c.Name, total[i].Seconds(), cell, usageCells(c.Usage))
	}
	w.Flush()
	fmt.Println()
	return nil
}

// settle collects garbage, returns memory to the system, and returns this
// process's counts.
func settle() benchkit.SelfCounts {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(100 * time.Millisecond) // threads that end, end
	c, err := benchkit.Self()
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %v\n", err)
	}
	return c
}

// reportGrowth prints the change in descriptors, threads and resident set
// over the start-up, throughput and churn measurements (thousands of
// Runs), and this process's peak RSS.
func reportGrowth(before, after benchkit.SelfCounts) {
	fmt.Println("## growth of benchcmp (the parent) over the churn (2,000 Runs and Do's, 2,000 processes), after the throughput measurements")
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tbefore\tafter\ttarget\t")
	mark := func(ok bool) string {
		if ok {
			return ""
		}
		return " MISSED"
	}
	fmt.Fprintf(w, "open descriptors\t%d\t%d\tno growth%s\t\n", before.Fds, after.Fds, mark(after.Fds <= before.Fds))
	fmt.Fprintf(w, "threads\t%d\t%d\tno growth%s\t\n", before.Threads, after.Threads, mark(after.Threads <= before.Threads))
	fmt.Fprintf(w, "RSS KiB (after GC)\t%d\t%d\twithin 10%%%s\t\n", before.RSSKiB, after.RSSKiB, mark(float64(after.RSSKiB) <= 1.1*float64(before.RSSKiB)))
	fmt.Fprintf(w, "peak RSS KiB (VmHWM)\t%d\t%d\t\t\n", before.HWMKiB, after.HWMKiB)
	w.Flush()
	fmt.Println()
}

// compareFloor takes apart the floor of nsrun as COMMAND's parent in
// mnt+pid+proc: floorstart (testdata/floorstart) with one piece more or
// less per mode, beside nsrun -m -p, unshare(1), bwrap and the C floor.
func compareFloor(rounds int, nsrun string) error {
	if nsrun == "" || benchkit.Tool("unshare") == "" {
		return nil
	}
	s := effective(benchkit.MntPIDProc)
	if s.User {
		return nil // floorstart makes no user namespace
	}
	dir := filepath.Dir(nsrun)
	floor := filepath.Join(dir, "floorstart")
	if _, err := os.Stat(floor); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %s is not built (make bench builds it); the floor is left out\n", floor)
		return nil
	}
	unshareArgv, _ := s.UnshareArgv("/bin/true")
	cs := []benchkit.Contender{execContender("unshare", unshareArgv)}
	if argv, ok := s.BwrapArgv("/bin/true"); ok && benchkit.Tool("bwrap") != "" {
		cs = append(cs, execContender("bwrap", argv))
	}
	if cFloor != "" {
		cs = append(cs, execContender("C floor", []string{cFloor, s.Name, "/bin/true"}))
	}
	if p := filepath.Join(dir, "goempty"); fileExists(p) {
		cs = append(cs, execContender("Go: empty program", []string{p}))
	}
	cs = append(cs,
		execContender("floor: Go start-up and package init only", []string{floor, "init", "--", "/bin/true"}),
		execContender("floor: StartProcess + Wait (pidfd)", []string{floor, "start", "--", "/bin/true"}),
		execContender("floor: StartProcess + wait4", []string{floor, "wait4", "--", "/bin/true"}),
		envContender("floor: StartProcess + Wait, GOMAXPROCS=1", []string{"GOMAXPROCS=1"}, []string{floor, "start", "--", "/bin/true"}),
		execContender("floor: Prepare + Start + Wait", []string{floor, "prepare", "--", "/bin/true"}),
		execContender("floor: + os/signal, nine signals", []string{floor, "signals", "--", "/bin/true"}),
		execContender("nsrun -m -p", s.NsrunArgv(nsrun, "/bin/true")),
	)
	if _, err := benchkit.Alternate(5, cs, reapOrphans); err != nil {
		return err
	}
	for _, c := range cs {
		c.Usage.Reset()
	}
	lat, err := benchkit.Alternate(rounds, cs, reapOrphans)
	if err != nil {
		return err
	}
	fmt.Printf("## %s: the floor of nsrun as a waiting parent, taken apart, %d alternating rounds (target for nsrun: ≤1.10× unshare, ≤1.00× bwrap)\n\n", s.Name, rounds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\tp50 ms\t/unshare\t/bwrap\tCPU ms/run\tfaults/run\t")
	p50 := map[string]float64{}
	for i, c := range cs {
		p50[c.Name] = benchkit.Ms(lat[i].Percentile(50))
	}
	for _, c := range cs {
		fmt.Fprintf(w, "%s\t%.2f\t%s\t%s\t%s\t\n", c.Name, p50[c.Name], ratio(p50[c.Name], p50["unshare"]), ratio(p50[c.Name], p50["bwrap"]), usageCells(c.Usage))
	}
	w.Flush()
	fmt.Println()
	return nil
}

// exitAtOnce is the argument with which benchcmp exits as soon as it has
// started: the floor of Run and Command, whose child is this program.
const exitAtOnce = "-exit-at-once"

// execAtOnce, followed by a command, makes benchcmp execute the command as
// soon as it has started: the floor of Command, whose child is this
// program executing the command once set up.
const execAtOnce = "-exec-at-once"

// startOp returns an operation that starts argv with n.StartProcess and
// waits for it to succeed.
func startOp(n *namespace.Namespace, argv ...string) func() error {
	attr := &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr}}
	prog := argv[0]
	return func() error {
		p, err := n.StartProcess(prog, argv, attr)
		if err != nil {
			return err
		}
		st, err := p.Wait()
		if err != nil {
			return err
		}
		if !st.Success() {
			return fmt.Errorf("%s: %v", prog, st)
		}
		return nil
	}
}

// goFloors returns the floors of a Go child in set s: StartProcess of the
// empty Go program that make bench builds beside nsrun, of this program
// exiting at once (the child of Run and Command is this program), of this
// program taking a job on a socket as Run's child does, without its checks
// (jobfloor.go), with command of this program executing /bin/true
// (Command's child without its protocol and checks), and of its copy built
// with cgo when make bench built one.
// A floor whose program is not built, or lies under the /tmp that the
// set's private /tmp hides, is left out with a note.
func goFloors(n *namespace.Namespace, s benchkit.Set, nsrun string, command bool) []benchkit.Contender {
	var cs []benchkit.Contender
	if nsrun != "" {
		p := filepath.Join(filepath.Dir(nsrun), "goempty")
		if !fileExists(p) {
			fmt.Fprintf(os.Stderr, "benchcmp: %s is not built (make bench builds it); its floor is left out\n", p)
		} else if visibleIn(s, p) {
			cs = append(cs, benchkit.Contender{Name: "floor: StartProcess of an empty Go program", Op: startOp(n, p)})
		}
	}
	if p, err := os.Executable(); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %v; the floor of this program is left out\n", err)
	} else if visibleIn(s, p) {
		cs = append(cs, benchkit.Contender{Name: "floor: StartProcess of this program, exiting at once", Op: startOp(n, p, exitAtOnce)})
		cs = append(cs, benchkit.Contender{Name: "floor: the same, taking a job on a socket (Run's protocol, no checks)", Op: jobFloorOp(n, p)})
		if command {
			cs = append(cs, benchkit.Contender{Name: "floor: the same, executing /bin/true (Command's, no protocol)", Op: startOp(n, p, execAtOnce, "/bin/true")})
		}
		// make bench builds this program static, as nsrun, and a copy
		// with cgo: a Run child of a cgo program pays the dynamic loader
		// and the C library's start-up as well.
		if c := p + "-cgo"; fileExists(c) {
			cs = append(cs, benchkit.Contender{Name: "floor: the same, built with cgo", Op: startOp(n, c, exitAtOnce)})
		}
	}
	return cs
}

// visibleIn reports whether the program p is visible in set s's mount
// namespace, and says so when the set's private /tmp hides it.
func visibleIn(s benchkit.Set, p string) bool {
	if s.Tmp && (p == "/tmp" || strings.HasPrefix(p, "/tmp/")) {
		fmt.Fprintf(os.Stderr, "benchcmp: %s is under /tmp, which %s hides; its floor is left out\n", p, s.Name)
		return false
	}
	return true
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
