//go:build linux

package namespace

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/linuxns/namespace/internal/benchkit"
)

// rootOptions are the options of the set "bwrap-style root"
// (benchkit.NsrunRootArgv).
func rootOptions() []Option {
	var o []Option
	if !asRoot() {
		o = append(o, WithPrivateUser())
	}
	o = append(o, WithPrivatePID())
	o = append(o, systemView()...)
	return append(o, WithTmpfs("/tmp"), WithDev())
}

// BenchmarkRootVersus alternates, iteration by iteration, Command and
// StartProcess of /bin/true, nsrun and bwrap with the same arguments in
// the set "bwrap-style root" (benchkit.NsrunRootArgv), and reports each
// one's p50 and p99 and the ratios to bwrap.
func BenchmarkRootVersus(b *testing.B) {
	ctx := context.Background()
	n := New(rootOptions()...)
	cs := []benchkit.Contender{
		{Name: "command", Op: func() error { return n.Command(ctx, "/bin/true").Run() }},
		{Name: "start", Op: func() error { return waitSuccess(n.StartProcess("/bin/true", []string{"true"}, nil)) }},
	}
	nsrun := filepath.Join(os.Getenv("LINUXNS_BIN"), "nsrun")
	if os.Getenv("LINUXNS_BIN") == "" {
		nsrun, _ = filepath.Abs(".bin/nsrun")
	}
	if fileExists(nsrun) {
		cs = append(cs, benchkit.Contender{Name: "nsrun", Op: benchkit.ExecOp(benchkit.NsrunRootArgv(nsrun, !asRoot(), "/bin/true"))})
	}
	if benchkit.Tool("bwrap") != "" {
		cs = append(cs, benchkit.Contender{Name: "bwrap", Op: benchkit.ExecOp(benchkit.BwrapRootArgv(!asRoot(), "/bin/true"))})
	}
	reap := adoptOrphans(b)
	noLeftovers(b)
	lat := make([]benchkit.Latencies, len(cs))
	round := 0
	for b.Loop() {
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
	for _, ours := range []string{"command", "start", "nsrun"} {
		if p50[ours] > 0 && p50["bwrap"] > 0 {
			b.ReportMetric(p50[ours]/p50["bwrap"], ours+"/bwrap")
		}
	}
}
