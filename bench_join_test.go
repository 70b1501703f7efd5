//go:build linux

package namespace

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/linuxns/namespace/internal/benchkit"
	"github.com/linuxns/namespace/syscalls"
)

// BenchmarkJoinNet enters an existing network namespace (made by `ip
// netns add`) and runs nothing, or /bin/true: from Go with Do (a thread,
// no process), Command, StartProcess and Run, against `nsenter
// --net=FILE true` and `ip netns exec NAME true`, in the same run. It
// needs root (ip netns add).
func BenchmarkJoinNet(b *testing.B) {
	if !asRoot() {
		b.Skip("ip netns add needs root")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		b.Skip("ip (iproute2) is not installed")
	}
	name := "linuxns-bench-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v\n%s", err, out)
	}
	defer exec.Command(ip, "netns", "delete", name).Run()
	file := "/run/netns/" + name
	n := New(WithJoin(syscalls.Net, file))
	wait := func(p *os.Process, err error) error {
		if err != nil {
			return err
		}
		st, err := p.Wait()
		if err == nil && !st.Success() {
			err = errors.New(st.String())
		}
		return err
	}
	b.Run("Do", func(b *testing.B) { measure(b, func() error { return n.Do(func() error { return nil }) }) })
	b.Run("StartProcess", func(b *testing.B) {
		measure(b, func() error { return wait(n.StartProcess("/bin/true", nil, nil)) })
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
