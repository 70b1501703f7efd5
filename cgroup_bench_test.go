//go:build linux

package namespace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/linuxns/namespace/internal/benchkit"
)

// BenchmarkCgroup measures what the cgroup step costs: each verb with a
// private UTS namespace (and a user namespace when unprivileged), without
// and with a cgroup of the child's own ("cgroup": made under the default
// parent, entered at the clone, emptied and removed; "limits": with a
// memory, pids and CPU limit written too, where the controllers are
// enabled). It needs a writable cgroup v2 directory (on a cgroup v1 host,
// root can use the controller-less hierarchy that systemd mounts at
// /sys/fs/cgroup/unified).
func BenchmarkCgroup(b *testing.B) {
	parent, err := defaultCgroupParent()
	if err != nil {
		b.Skip(err)
	}
	ctl, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	base := []Option{WithPrivateUTS()}
	if !asRoot() {
		base = append(base, WithPrivateUser())
	}
	sets := map[string][]Option{"none": nil, "cgroup": {WithCgroupParent(parent)}}
	if hasWord(ctl, "memory") && hasWord(ctl, "pids") && hasWord(ctl, "cpu") {
		sets["limits"] = []Option{WithMemoryLimit(1 << 30), WithPidsLimit(1000), WithCPULimit(1)}
	}
	ctx := context.Background()
	for _, name := range []string{"none", "cgroup", "limits"} {
		opts, ok := sets[name]
		if !ok {
			continue
		}
		n := New(append(append([]Option(nil), base...), opts...)...)
		if err := n.Run(ctx, benchNop); err != nil {
			b.Skipf("%s: %v", name, err)
		}
		b.Run("Run/"+name, func(b *testing.B) {
			measure(b, func() error { return n.Run(ctx, benchNop) })
		})
		b.Run("StartProcess/"+name, func(b *testing.B) {
			measure(b, func() error {
				p, err := n.StartProcess("/bin/true", nil, nil)
				if err != nil {
					return err
				}
				st, err := p.Wait()
				if err == nil && !st.Success() {
					err = errors.New(st.String())
				}
				if name != "none" {
					_, err = ProcessCgroup(ctx, p)
				}
				return err
			})
		})
		if name == "cgroup" {
			nsrun := nsrunPath(b)
			argv := []string{nsrun, "-f", "-u"}
			if !asRoot() {
				argv = append(argv, "-r")
			}
			b.Run("nsrun/none", func(b *testing.B) { measure(b, benchkit.ExecOp(append(argv, "/bin/true"))) })
			b.Run("nsrun/cgroup", func(b *testing.B) {
				measure(b, benchkit.ExecOp(append(argv, "--cgroup-parent", parent, "/bin/true")))
			})
		}
	}
}
