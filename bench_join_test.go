//go:build linux

package namespace

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/benchkit"
	"github.com/linuxns/namespace/syscalls"
)

// BenchmarkJoinNet enters an existing network namespace (made by `ip
// netns add`) and runs nothing, or /bin/true: from Go with Do (a thread,
// no process), Command, StartProcess and Run, against `nsenter
// --net=FILE true` and `ip netns exec NAME true`, in the same run. It
// needs root (ip netns add), and runs in a mount namespace of its own with
// a tmpfs on /run (inOwnMountNS): the figures are the copy's, reported again
// here.
func BenchmarkJoinNet(b *testing.B) {
	if !asRoot() {
		b.Skip("ip netns add needs root")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		b.Skip("ip (iproute2) is not installed")
	}
	child, out := inOwnMountNS(b, "-test.run", "^$", "-test.bench", "^"+b.Name()+"$", "-test.count=1",
		"-test.benchtime", flag.Lookup("test.benchtime").Value.String())
	if !child {
		reportAgain(b, out)
		return
	}
	name := "linuxns-bench-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v\n%s", err, out)
	}
	defer exec.Command(ip, "netns", "delete", name).Run()
	file := "/run/netns/" + name
	n := New(WithJoin(syscalls.Net, file))
	b.Run("Do", func(b *testing.B) { measure(b, func() error { return n.Do(func() error { return nil }) }) })
	b.Run("StartProcess", func(b *testing.B) {
		measure(b, func() error { return waitSuccess(n.StartProcess("/bin/true", nil, nil)) })
	})
	b.Run("Command", func(b *testing.B) {
		measure(b, func() error { return n.Command(context.Background(), "/bin/true").Run() })
	})
	b.Run("Run", func(b *testing.B) { measure(b, func() error { return n.Run(context.Background(), benchNop) }) })
	if p, err := exec.LookPath("nsenter"); err == nil {
		b.Run("nsenter", func(b *testing.B) { measure(b, benchkit.ExecOp([]string{p, "--net=" + file, "/bin/true"})) })
	}
	b.Run("ip-netns-exec", func(b *testing.B) { measure(b, benchkit.ExecOp([]string{ip, "netns", "exec", name, "/bin/true"})) })
}

// reportAgain reports the sub-benchmarks' figures of b's copy (its output
// out) as b's own sub-benchmarks.
func reportAgain(b *testing.B, out []byte) {
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		name, ok := strings.CutPrefix(f0(f), b.Name()+"/")
		if !ok || len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
			}
			for i := 2; i+1 < len(f); i += 2 {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					b.ReportMetric(v, f[i+1])
				}
			}
		})
	}
}

// f0 is the first of f, or "".
func f0(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
