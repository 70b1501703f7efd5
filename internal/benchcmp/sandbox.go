//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/linuxns/namespace/internal/benchkit"
)

// compareSandbox times `nsrun --sandbox` against `bwrap --unshare-all
// --die-with-parent` with the same view of the files (the host's root,
// read-only, a fresh /tmp, /proc and /dev), the same namespaces (user,
// mount, PID, IPC, UTS, network, cgroup) and bwrap's own hardening where it
// has a flag for it (--new-session, --disable-userns, --cap-drop ALL; it
// has no seccomp filter of its own; as root, --unshare-all makes no user
// namespace unless --unshare-user is added, which --disable-userns needs),
// and nsrun with each hardening step
// alone on top of the plain namespaces, in alternating rounds.
func compareSandbox(rounds int, nsrun string) error {
	if nsrun == "" {
		return nil
	}
	ns := []string{nsrun, "-r", "-m", "-p", "--tmp", "-i", "-u", "-n", "-C"}
	with := func(flags ...string) []string {
		return append(append(append(append([]string(nil), ns...), flags...), "--ro"), "--", "/bin/true")
	}
	cs := []benchkit.Contender{
		{Name: "nsrun --sandbox", Op: benchkit.ExecOp([]string{nsrun, "--sandbox", "--", "/bin/true"})},
		{Name: "namespaces alone", Op: benchkit.ExecOp(with())},
		{Name: "+ new root, --dev", Op: benchkit.ExecOp(with("--root", "/", "--dev"))},
		{Name: "+ --rlimit", Op: benchkit.ExecOp(with("--rlimit", "core=0"))},
		{Name: "+ --new-session", Op: benchkit.ExecOp(with("--new-session"))},
		{Name: "+ --landlock-ro /", Op: benchkit.ExecOp(with("--landlock-ro", "/"))},
		{Name: "+ --cap-keep none", Op: benchkit.ExecOp(with("--cap-keep", "none"))},
		{Name: "+ --no-new-privs", Op: benchkit.ExecOp(with("--no-new-privs"))},
		{Name: "+ --seccomp-default", Op: benchkit.ExecOp(with("--seccomp-default"))},
		{Name: "+ --disable-userns", Op: benchkit.ExecOp(with("--disable-userns"))},
	}
	if p := filepath.Join(filepath.Dir(nsrun), "floorstart"); fileExists(p) {
		// The same sandbox from the least code: StartProcess with
		// WithSandbox() and a wait, no flags, no forwarded signals.
		cs = append(cs, benchkit.Contender{Name: "floor: StartProcess + Wait, WithSandbox()", Op: benchkit.ExecOp([]string{p, "sandbox", "--", "/bin/true"})},
			benchkit.Contender{Name: "floor: the same + os/signal, nsrun's nine signals", Op: benchkit.ExecOp([]string{p, "sandbox-signals", "--", "/bin/true"})})
	}
	if benchkit.Tool("bwrap") != "" {
		bw := []string{"bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/tmp", "--proc", "/proc"}
		cs = append(cs,
			benchkit.Contender{Name: "bwrap --unshare-all --die-with-parent", Op: benchkit.ExecOp(append(bw, "/bin/true"))},
			benchkit.Contender{Name: "bwrap … --unshare-user, hardened", Op: benchkit.ExecOp(append(bw, "--unshare-user", "--new-session", "--disable-userns", "--cap-drop", "ALL", "/bin/true"))})
	}
	if _, err := benchkit.Alternate(5, cs, reapOrphans); err != nil {
		return err
	}
	lat, err := benchkit.Alternate(rounds, cs, reapOrphans)
	if err != nil {
		return err
	}
	fmt.Printf("## sandbox: latency, %d alternating rounds (as uid %d)\n\n", rounds, os.Geteuid())
	p50 := map[string]float64{}
	for i, c := range cs {
		p50[c.Name] = benchkit.Ms(lat[i].Percentile(50))
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "contender\tp50 ms\tp99 ms\t/bwrap\t")
	for i, c := range cs {
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%s\t\n", c.Name, p50[c.Name], benchkit.Ms(lat[i].Percentile(99)),
			ratio(p50[c.Name], p50["bwrap --unshare-all --die-with-parent"]))
	}
	w.Flush()
	fmt.Println()
	return nil
}
