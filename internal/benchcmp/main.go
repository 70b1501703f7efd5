//go:build linux

// Command benchcmp measures the namespace package side by side with
// unshare(1) (util-linux), bwrap (bubblewrap) and nsrun, in one run, and
// prints ratios (ours / theirs), not absolute claims. `make bench` runs it.
//
//	benchcmp [-rounds N] [-nsrun PATH] [-throughput D]
//
// For each set of namespaces and set-up it alternates the contenders round
// by round (each round starts with the next one, so that noise and warm
// caches fall on all alike): Run of a registered function in this small
// program, Command and StartProcess of /bin/true, nsrun (in its own place
// and, as "nsrun -f", as the parent, where the set allows both; with a PID
// namespace also as "nsrun --init", whose PID 1 is an init), minimal
// programs that do nsrun's work, a static C program that does it (as root,
// if built: testdata/cfloor.c), unshare, bwrap, and (as root, where it applies) the Perl original's run() in core Perl
// (perl-run.pl), all running /bin/true or nothing. It then compares a cold
// Run with a Run on a prepared pool (Namespace.Pool), times the Perl run()
// with its default term_child, prints the peak RSS of each contender's
// process tree (/usr/bin/time -v; for Run, the child's, from getrusage),
// and the throughput of 1 and 2 workers.
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/benchkit"
)

var nop = namespace.Register("benchcmp-nop", func(ctx context.Context, args []string) error { return nil })

func main() {
	namespace.Init()
	if len(os.Args) == 2 && os.Args[1] == exitAtOnce {
		// The floor of Run and Command in this program: it started (the
		// runtime and every package's initialisation) and does nothing.
		return
	}
	if len(os.Args) > 2 && os.Args[1] == execAtOnce {
		// The floor of Command in this program: it started, and executes
		// the command in its place, as Command's child does once set up.
		err := syscall.Exec(os.Args[2], os.Args[2:], os.Environ())
		fmt.Fprintf(os.Stderr, "benchcmp: exec %s: %v\n", os.Args[2], err)
		os.Exit(126)
	}
	if len(os.Args) == 2 && os.Args[1] == jobFloorArg {
		os.Exit(jobFloorChild()) // jobfloor.go
	}
	// The modes in which benchcmp is a contender itself, started as a
	// process: the work of nsrun done by a minimal program.
	if len(os.Args) > 3 && os.Args[3] == "--" {
		switch os.Args[1] {
		case "-cmd-in":
			os.Exit(miniCommand(os.Args[2], os.Args[4:]))
		case "-start-in":
			os.Exit(miniStart(os.Args[2], os.Args[4:]))
		case "-exec-in":
			os.Exit(miniExec(os.Args[2], os.Args[4:]))
		}
	}
	rounds := flag.Int("rounds", 300, "rounds of the side-by-side latency comparison")
	nsrun := flag.String("nsrun", defaultNsrun(), "path of nsrun (empty: leave it out)")
	tput := flag.Duration("throughput", 3*time.Second, "duration of each throughput measurement (0: skip)")
	rssRun := flag.String("rss-run", "", "internal: run one Run in the named set and print the child's peak RSS in KiB")
	flag.StringVar(&cFloor, "cfloor", defaultCFloor(), "path of the C floor program built from testdata/cfloor.c (empty: leave it out)")
	only := flag.String("only", "", "comma-separated sections to run (latency, root, sandbox, pool, perl, rss, scale); empty: all")
	sandboxOnly := flag.Bool("sandbox-only", false, "only the comparison of nsrun --sandbox with bwrap (as -only sandbox)")
	flag.Parse()
	want := func(section string) bool { return *only == "" || slices.Contains(strings.Split(*only, ","), section) }

	if *rssRun != "" {
		os.Exit(printRunRSS(*rssRun))
	}
	if *nsrun != "" {
		if _, err := os.Stat(*nsrun); err != nil {
			fmt.Fprintf(os.Stderr, "benchcmp: nsrun not found at %s (run `make build`); leaving it out\n", *nsrun)
			*nsrun = ""
		}
	}
	if cFloor != "" {
		if _, err := os.Stat(cFloor); err != nil {
			fmt.Fprintf(os.Stderr, "benchcmp: the C floor is not built at %s (make bench builds it when a C compiler is installed); leaving it out\n", cFloor)
			cFloor = ""
		}
	}
	printMachine()
	// bwrap leaves orphans (its PID 1 exits after it); adopt and reap them.
	if reap, restore, err := benchkit.Subreaper(); err == nil {
		reapOrphans = func() { reap(keptChildren...) }
		defer restore()
	} else {
		fmt.Fprintf(os.Stderr, "benchcmp: %v; orphans of the tools are left to init\n", err)
	}
	failed := false
	if *sandboxOnly {
		*only = "sandbox"
	}
	for _, s := range benchkit.ComparedSets() {
		if !want("latency") {
			break
		}
		if err := compareLatency(effective(s), *rounds, *nsrun); err != nil {
			fmt.Fprintf(os.Stderr, "benchcmp: %s: %v\n", s.Name, err)
			failed = true
		}
	}
	if !want("root") {
	} else if err := compareRoot(*rounds, *nsrun); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %s: %v\n", benchkit.RootSetName, err)
		failed = true
	}
	if !want("sandbox") {
	} else if err := compareSandbox(*rounds, *nsrun); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: sandbox: %v\n", err)
		failed = true
	}
	if !want("pool") {
	} else if err := comparePool(*rounds); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: pool: %v\n", err)
		failed = true
	}
	if !want("perl") {
	} else if err := comparePerlTermChild(20); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: perl: %v\n", err)
		failed = true
	}
	if !want("rss") {
	} else if err := compareRSS(effective(benchkit.MntPIDProc), *nsrun); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: rss: %v\n", err)
		failed = true
	}
	if !want("scale") {
	} else if err := compareScale(*rounds, *nsrun, *tput); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %v\n", err)
		failed = true
	}
	reapOrphans()
	if failed {
		os.Exit(1)
	}
}

// reapOrphans reaps the orphans that the tools left to this process (see
// benchkit.Subreaper), but not the children in keptChildren (the Perl
// baseline's processes, which live through a comparison). Call it only
// between measurements.
var (
	reapOrphans  = func() {}
	keptChildren []int
)

// cFloor is the path of the C floor program (testdata/cfloor.c), or empty.
var cFloor string

func defaultCFloor() string {
	if dir := os.Getenv("LINUXNS_BIN"); dir != "" {
		return filepath.Join(dir, "cfloor")
	}
	p, _ := filepath.Abs(".bin/cfloor")
	return p
}

func defaultNsrun() string {
	if dir := os.Getenv("LINUXNS_BIN"); dir != "" {
		return filepath.Join(dir, "nsrun")
	}
	p, _ := filepath.Abs(".bin/nsrun")
	return p
}

// effective adds a user namespace when not root: nothing else can create
// namespaces.
func effective(s benchkit.Set) benchkit.Set {
	if os.Geteuid() != 0 {
		s.User = true
	}
	return s
}

func options(s benchkit.Set) []namespace.Option {
	var o []namespace.Option
	if s.User {
		o = append(o, namespace.WithPrivateUser())
	}
	if s.Mount {
		o = append(o, namespace.WithPrivateMount())
	}
	if s.PID {
		o = append(o, namespace.WithPrivatePID())
	}
	if s.Tmp {
		o = append(o, namespace.WithPrivateTmp())
	}
	if s.Net {
		o = append(o, namespace.WithPrivateNet())
	}
	if s.IPC {
		o = append(o, namespace.WithPrivateIPC())
	}
	if s.UTS {
		o = append(o, namespace.WithHostname(benchkit.Hostname))
	}
	if s.Cgroup {
		o = append(o, namespace.WithPrivateCgroup())
	}
	if s.Time {
		o = append(o, namespace.WithPrivateTime(0, 0))
	}
	return o
}

func printMachine() {
	model := "?"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	// unix.Utsname has byte arrays on every architecture (syscall's are
	// int8 on some, uint8 on others).
	var u unix.Utsname
	_ = unix.Uname(&u)
	kernel := unix.ByteSliceToString(u.Release[:])
	who := "root"
	if os.Geteuid() != 0 {
		who = fmt.Sprintf("uid %d (every set adds a user namespace)", os.Geteuid())
	}
	fmt.Printf("# benchcmp %s\n", time.Now().Format("2006-01-02 15:04"))
	fmt.Printf("machine: %d CPUs, %s; kernel %s; %s; as %s\n", runtime.NumCPU(), model, kernel, runtime.Version(), who)
	for _, t := range []string{"unshare", "bwrap"} {
		v := "not installed"
		if p := benchkit.Tool(t); p != "" {
			out, _ := exec.Command(p, "--version").Output()
			v = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
		fmt.Printf("%s: %s\n", t, v)
	}
	fmt.Println()
}

// contenders returns the ways of doing the work of s.
func contenders(s benchkit.Set, nsrun string) []benchkit.Contender {
	ctx := context.Background()
	n := namespace.New(options(s)...)
	cs := []benchkit.Contender{
		{Name: "Run", Op: func() error { return n.Run(ctx, nop) }},
		{Name: "Command", Op: func() error { return n.Command(ctx, "/bin/true").Run() }},
		{Name: "StartProcess", Op: func() error {
			p, err := n.StartProcess("/bin/true", nil, nil)
			if err != nil {
				return err
			}
			st, err := p.Wait()
			if err == nil && !st.Success() {
				err = fmt.Errorf("/bin/true: %v", st)
			}
			return err
		}},
	}
	// Where no new process is needed, nsrun executes /bin/true in its own
	// place; "nsrun -f" is nsrun as its parent, as with -p.
	inPlace := !s.PID && !s.User && !s.Time
	if nsrun != "" {
		cs = append(cs, execContender("nsrun", s.NsrunArgv(nsrun, "/bin/true")))
		if inPlace {
			argv := s.NsrunArgv(nsrun, "/bin/true")
			argv = append([]string{argv[0], "--fork"}, argv[1:]...)
			cs = append(cs, execContender("nsrun -f", argv))
		}
		if s.PID {
			// With an init as PID 1, as bwrap keeps one of its own.
			argv := s.NsrunArgv(nsrun, "/bin/true")
			argv = append([]string{argv[0], "--init"}, argv[1:]...)
			cs = append(cs, execContender("nsrun --init", argv))
		}
	}
	if self, err := os.Executable(); err == nil {
		cs = append(cs, execContender("mini-cmd", []string{self, "-cmd-in", s.Name, "--", "/bin/true"}))
		cs = append(cs, execContender("mini-start", []string{self, "-start-in", s.Name, "--", "/bin/true"}))
		if inPlace {
			cs = append(cs, execContender("mini-exec", []string{self, "-exec-in", s.Name, "--", "/bin/true"}))
		}
	}
	if cFloor != "" && !s.User {
		// The least a static C program does for the same work: a floor
		// that the Go runtime's start-up alone exceeds.
		cs = append(cs, execContender("C floor", []string{cFloor, s.Name, "/bin/true"}))
	}
	if benchkit.Tool("unshare") != "" {
		argv, _ := s.UnshareArgv("/bin/true")
		cs = append(cs, execContender("unshare", argv))
	}
	if argv, ok := s.BwrapArgv("/bin/true"); ok && benchkit.Tool("bwrap") != "" {
		cs = append(cs, execContender("bwrap", argv))
	}
	return cs
}

func compareLatency(s benchkit.Set, rounds int, nsrun string) error {
	cs := contenders(s, nsrun)
	// The Perl original's method, without term_child (with it, every run
	// takes 200 ms more: comparePerlTermChild).
	if perl, err := startPerlRun(s, false); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: the Perl baseline is left out: %v\n", err)
	} else if perl != nil {
		defer perl.close()
		cs = append(cs, benchkit.Contender{Name: "perl run()*", Op: perl.op})
	}
	// A few rounds to warm caches, not counted.
	if _, err := benchkit.Alternate(5, cs, reapOrphans); err != nil {
		return err
	}
	for _, c := range cs {
		if c.Usage != nil {
			c.Usage.Reset()
		}
	}
	lat, err := benchkit.Alternate(rounds, cs, reapOrphans)
	if err != nil {
		return err
	}
	unshareArgv, _ := s.UnshareArgv("/bin/true")
	fmt.Printf("## %s: latency, %d alternating rounds\n", s.Name, rounds)
	fmt.Printf("unshare: %s\n\n", strings.Join(unshareArgv, " "))
	p50 := map[string]float64{}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\tp50 ms\tp99 ms\t/unshare\t/bwrap\tCPU ms/run\tfaults/run\t")
	for i, c := range cs {
		p50[c.Name] = benchkit.Ms(lat[i].Percentile(50))
	}
	for i, c := range cs {
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%s\t%s\t%s\t\n", c.Name, p50[c.Name], benchkit.Ms(lat[i].Percentile(99)),
			ratio(p50[c.Name], p50["unshare"]), ratio(p50[c.Name], p50["bwrap"]), usageCells(c.Usage))
	}
	w.Flush()
	if _, ok := p50["nsrun"]; ok {
		fmt.Printf("\nnsrun: %s unshare, %s bwrap\n", target(p50["nsrun"], p50["unshare"], 1.10, false), target(p50["nsrun"], p50["bwrap"], 1.00, false))
	}
	fmt.Println()
	return nil
}

// comparePerlTermChild times the Perl original's run() with its default
// term_child, whose handler for every signal (SIGCHLD too) sleeps 0.2 s
// when the child exits, against Run, in a few alternating rounds.
func comparePerlTermChild(rounds int) error {
	s := effective(benchkit.MntPIDTmp)
	perl, err := startPerlRun(s, true)
	if err != nil || perl == nil {
		return err
	}
	defer perl.close()
	n := namespace.New(options(s)...)
	cs := []benchkit.Contender{
		{Name: "Run", Op: func() error { return n.Run(context.Background(), nop) }},
		{Name: "perl run(), term_child", Op: perl.op},
	}
	lat, err := benchkit.Alternate(rounds, cs, nil)
	if err != nil {
		return err
	}
	fmt.Printf("## %s: the Perl original's run() with term_child (its default), %d alternating rounds\n\n", s.Name, rounds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\tp50 ms\tp99 ms\t/perl\t")
	perl50 := benchkit.Ms(lat[1].Percentile(50))
	for i, c := range cs {
		p50 := benchkit.Ms(lat[i].Percentile(50))
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%s\t\n", c.Name, p50, benchkit.Ms(lat[i].Percentile(99)), ratio(p50, perl50))
	}
	w.Flush()
	fmt.Println()
	return nil
}

//go:embed perl-run.pl
var perlRunScript string

// perlRun is a perl process that does the work of Sys::Linux::Namespace's
// run() once per request (see perl-run.pl): the Perl original's method,
// timed from here including a pipe round trip (tens of µs).
type perlRun struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startPerlRun starts the Perl baseline for s, or returns nil if it does
// not apply: not root (the module needs CAP_SYS_ADMIN and maps no ids), a
// set the module cannot make (network), or no perl, or not x86_64 (the
// script's system call numbers).
func startPerlRun(s benchkit.Set, termChild bool) (*perlRun, error) {
	if os.Geteuid() != 0 || s.Net || s.User || s.IPC || s.UTS || s.Cgroup || s.Time || !s.Mount || runtime.GOARCH != "amd64" {
		return nil, nil
	}
	perl, err := exec.LookPath("perl")
	if err != nil {
		return nil, nil
	}
	tc := "0"
	if termChild {
		tc = "1"
	}
	cmd := exec.Command(perl, "-e", perlRunScript, s.Name, tc)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	keptChildren = append(keptChildren, cmd.Process.Pid)
	return &perlRun{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

func (p *perlRun) op() error {
	if _, err := io.WriteString(p.in, "\n"); err != nil {
		return err
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("perl: %w", err)
	}
	if line != "ok\n" {
		return fmt.Errorf("perl: %s", strings.TrimSpace(line))
	}
	return nil
}

func (p *perlRun) close() {
	p.in.Close()
	_ = p.cmd.Wait()
	keptChildren = slices.DeleteFunc(keptChildren, func(pid int) bool { return pid == p.cmd.Process.Pid })
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// comparePool alternates a cold Run with a Run on a pool of one prepared
// child in mnt+pid+tmpfs, and with a Run on such a pool that does not catch
// the terminating signals while it waits (WithTermChild(false)). Before
// each pooled Run the pool is given time to refill (not timed), so that
// the pooled Run finds its child ready; the cold Run gets the same pause.
// The floor of the default's exact signals is given twice: os/signal's
// catch and release measured alone and added to the Run without them, and
// the three done in sequence by one goroutine, where os/signal's thread
// and the Run's wake each other as they do in a pooled Run.
func comparePool(rounds int) error {
	ctx := context.Background()
	s := effective(benchkit.MntPIDTmp)
	cold := namespace.New(options(s)...)
	pooled, err := namespace.New(options(s)...).Pool(1)
	if err != nil {
		return err
	}
	defer pooled.Close()
	quiet, err := namespace.New(append(options(s), namespace.WithTermChild(false))...).Pool(1)
	if err != nil {
		return err
	}
	defer quiet.Close()
	for _, p := range []*namespace.Pool{pooled, quiet} {
		if err := p.Run(ctx, nop); err != nil {
			return err
		}
	}
	cs := []benchkit.Contender{
		{Name: "Run cold", Op: func() error { return cold.Run(ctx, nop) }},
		{Name: "Run pooled", Op: func() error { return pooled.Run(ctx, nop) }},
		{Name: "Run pooled, WithTermChild(false)", Op: func() error { return quiet.Run(ctx, nop) }},
		// The floor of what the default adds: catching the terminating
		// signals for one Run and letting them go (os/signal's round
		// trips to the runtime's signal thread, here alone).
		{Name: "floor: os/signal catch and release of the 4 terminating signals", Op: func() error {
			c := make(chan os.Signal, 4)
			signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
			signal.Stop(c)
			return nil
		}},
		// The same catch and release around a Run without signals, in
		// its place in time: os/signal's thread and the Run's goroutines
		// wake each other, as in the pooled Run, but without the
		// package's hub.
		{Name: "floor: the catch, Run pooled WithTermChild(false), the release", Op: func() error {
			c := make(chan os.Signal, 4)
			signal.Notify(c, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
			err := quiet.Run(ctx, nop)
			signal.Stop(c)
			return err
		}},
	}
	lat := make([]benchkit.Latencies, len(cs))
	for r := 0; r < rounds; r++ {
		for k := range cs {
			i := (r + k) % len(cs)
			time.Sleep(15 * time.Millisecond) // the refill
			t0 := time.Now()
			if err := cs[i].Op(); err != nil {
				return fmt.Errorf("%s: %w", cs[i].Name, err)
			}
			lat[i] = append(lat[i], time.Since(t0))
		}
	}
	fmt.Printf("## %s: Run on a prepared pool (Pool(1)), %d alternating rounds\n\n", s.Name, rounds)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\tp50 ms\tp99 ms\t/cold (target for pooled: ≤0.10×)\t")
	c50 := benchkit.Ms(lat[0].Percentile(50))
	for i, c := range cs {
		p50 := benchkit.Ms(lat[i].Percentile(50))
		cell := ratio(p50, c50)
		if i == 1 || i == 2 {
			cell = target(p50, c50, 0.10, false)
		}
		fmt.Fprintf(w, "%s\t%.3f\t%.3f\t%s\t\n", c.Name, p50, benchkit.Ms(lat[i].Percentile(99)), cell)
	}
	w.Flush()
	floor := benchkit.Ms(lat[2].Percentile(50)) + benchkit.Ms(lat[3].Percentile(50))
	fmt.Printf("\nfloor of the pooled Run with exact signals (WithTermChild(false) + the catch and release, measured apart): %.3f ms = %s of cold\n", floor, ratio(floor, c50))
	together := benchkit.Ms(lat[4].Percentile(50))
	fmt.Printf("the same measured together (the catch, the Run, the release): %.3f ms = %s of cold\n\n", together, ratio(together, c50))
	return nil
}

// compareRSS prints the peak resident set of each contender's process
// tree, as /usr/bin/time -v reports it (ru_maxrss of the waited process,
// which the kernel makes the largest of the tree). For Run, a fresh
// benchcmp runs one Run and reports its children's ru_maxrss: the child
// alone, not the parent.
func compareRSS(s benchkit.Set, nsrun string) error {
	timeBin := "/usr/bin/time"
	if _, err := os.Stat(timeBin); err != nil {
		return fmt.Errorf("%s is not installed (Debian: time)", timeBin)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	type row struct {
		name  string
		argv  []string
		field int // of -rss-run's output, for argv nil
	}
	rows := []row{{"Run (child only)", nil, 0}, {"Run (parent: a program doing one Run)", nil, 1}}
	if nsrun != "" {
		rows = append(rows, row{"nsrun", s.NsrunArgv(nsrun, "/bin/true"), 0})
	}
	if benchkit.Tool("unshare") != "" {
		argv, _ := s.UnshareArgv("/bin/true")
		rows = append(rows, row{"unshare", argv, 0})
	}
	if argv, ok := s.BwrapArgv("/bin/true"); ok && benchkit.Tool("bwrap") != "" {
		rows = append(rows, row{"bwrap", argv, 0})
	}
	fmt.Printf("## %s: peak RSS of the process tree (median of 5)\n\n", s.Name)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\tpeak RSS KiB\t")
	for _, r := range rows {
		var kib []float64
		for range 5 {
			var v float64
			if r.argv == nil {
				out, err := exec.Command(self, "-rss-run", s.Name).Output()
				if err != nil {
					return fmt.Errorf("rss of Run: %w", err)
				}
				fields := strings.Fields(string(out))
				if len(fields) != 2 {
					return fmt.Errorf("rss of Run: output %q", out)
				}
				v, err = strconv.ParseFloat(fields[r.field], 64)
				if err != nil {
					return err
				}
			} else {
				out, err := exec.Command(timeBin, append([]string{"-v"}, r.argv...)...).CombinedOutput()
				if err != nil {
					return fmt.Errorf("%s: %w: %s", r.name, err, out)
				}
				v = maxRSS(out)
			}
			kib = append(kib, v)
			reapOrphans()
		}
		fmt.Fprintf(w, "%s\t%.0f\t\n", r.name, median(kib))
	}
	w.Flush()
	fmt.Println()
	return nil
}

func maxRSS(timeOutput []byte) float64 {
	sc := bufio.NewScanner(bytes.NewReader(timeOutput))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.Contains(k, "Maximum resident set size") {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

func median(v []float64) float64 {
	l := make(benchkit.Latencies, len(v))
	for i, x := range v {
		l[i] = time.Duration(x)
	}
	return float64(l.Percentile(50))
}

// findSet returns the set named name as it runs here (effective).
func findSet(name string) (benchkit.Set, bool) {
	for _, s := range append(benchkit.RunSets(), benchkit.ComparedSets()...) {
		if s.Name == name {
			return effective(s), true
		}
	}
	return benchkit.Set{}, false
}

// miniCommand is the contender "mini-cmd": what nsrun does, in the least
// code, with Command (a re-executed child that does the set-up and
// executes argv). It returns the exit status.
func miniCommand(name string, argv []string) int {
	set, ok := findSet(name)
	if !ok {
		fmt.Fprintf(os.Stderr, "benchcmp: unknown set %q\n", name)
		return 2
	}
	cmd := namespace.New(options(set)...).Command(context.Background(), argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %v\n", err)
		return 1
	}
	return 0
}

// miniStart is the contender "mini-start": what nsrun does, in the least
// code, with StartProcess (no re-executed child, no flags, no signal
// forwarding): the floor of nsrun's design. It returns the exit status.
func miniStart(name string, argv []string) int {
	set, ok := findSet(name)
	if !ok {
		fmt.Fprintf(os.Stderr, "benchcmp: unknown set %q\n", name)
		return 2
	}
	p, err := namespace.New(options(set)...).StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %v\n", err)
		return 1
	}
	st, err := p.Wait()
	if err != nil || !st.Success() {
		fmt.Fprintf(os.Stderr, "benchcmp: %v %v\n", st, err)
		return 1
	}
	return 0
}

// miniExec is the contender "mini-exec": what nsrun does where COMMAND
// takes its place, in the least code: Do creates the namespaces and makes
// the set-up, and fn executes argv there.
func miniExec(name string, argv []string) int {
	set, ok := findSet(name)
	if !ok {
		fmt.Fprintf(os.Stderr, "benchcmp: unknown set %q\n", name)
		return 2
	}
	err := namespace.New(options(set)...).Do(func() error {
		return syscall.Exec(argv[0], argv, os.Environ())
	})
	fmt.Fprintf(os.Stderr, "benchcmp: %v\n", err)
	return 1
}

// printRunRSS runs one Run in the set named name and prints the peak RSS
// of this process's children (the Run child) and of this process, in KiB.
func printRunRSS(name string) int {
	set, ok := findSet(name)
	if !ok {
		fmt.Fprintf(os.Stderr, "benchcmp: unknown set %q\n", name)
		return 2
	}
	if err := namespace.New(options(set)...).Run(context.Background(), nop); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %v\n", err)
		return 1
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: getrusage: %v\n", err)
		return 1
	}
	var self syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: getrusage: %v\n", err)
		return 1
	}
	fmt.Println(ru.Maxrss, self.Maxrss)
	return 0
}
