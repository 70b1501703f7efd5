//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/linuxns/namespace/internal/benchkit"
)

// compareRoot times nsrun against bwrap with the same arguments in the
// set "bwrap-style root" (the root of make demo, /bin/true), in
// alternating rounds.
func compareRoot(rounds int, nsrun string) error {
	if benchkit.Tool("bwrap") == "" {
		fmt.Fprintf(os.Stderr, "benchcmp: %s: bwrap is not installed; left out\n", benchkit.RootSetName)
		return nil
	}
	user := os.Geteuid() != 0
	nsrunArgv := benchkit.NsrunRootArgv(nsrun, user, "/bin/true")
	bwrapArgv := benchkit.BwrapRootArgv(user, "/bin/true")
	cs := []benchkit.Contender{{Name: "nsrun", Op: benchkit.ExecOp(nsrunArgv)}, {Name: "bwrap", Op: benchkit.ExecOp(bwrapArgv)}}
	if _, err := benchkit.Alternate(5, cs, reapOrphans); err != nil {
		return err
	}
	lat, err := benchkit.Alternate(rounds, cs, reapOrphans)
	if err != nil {
		return err
	}
	fmt.Printf("## %s: latency, %d alternating rounds\n", benchkit.RootSetName, rounds)
	fmt.Printf("nsrun: %s\nbwrap: %s\n\n", strings.Join(nsrunArgv[1:], " "), strings.Join(bwrapArgv[1:], " "))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\tp50 ms\tp99 ms\t/bwrap\t")
	bwrap50 := benchkit.Ms(lat[1].Percentile(50))
	for i, c := range cs {
		p50 := benchkit.Ms(lat[i].Percentile(50))
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%s\t\n", c.Name, p50, benchkit.Ms(lat[i].Percentile(99)), ratio(p50, bwrap50))
	}
	w.Flush()
	fmt.Println()
	return nil
}
