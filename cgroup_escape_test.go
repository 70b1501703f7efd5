//go:build linux

package namespace

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// TestCgroupChildEscapes: a child with every capability dropped, which
// owns its cgroup as the caller does (the caller's uid; root), moves a
// process it started into the caller's own cgroup (cgroup.procs there is
// writable by that uid: delegation). With WithPrivateCgroup, on a
// hierarchy mounted with nsdelegate, the kernel refuses the move (the
// cgroup namespace is rooted at the child's cgroup), and the process is
// killed with the child's cgroup (docs/cgroups.md, "What the limits
// hold").
func TestCgroupChildEscapes(t *testing.T) {
	parent := cgroupParentFor(t)
	mnt := cgroupMount(t)
	if !cgroupNsDelegate(t) {
		t.Skipf("the cgroup v2 mount at %s has no nsdelegate option: there the kernel lets a process that may write the hierarchy move out of a cgroup namespace (docs/cgroups.md); systemd mounts it with nsdelegate, as the kernel matrix does", mnt)
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	own := ""
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			own = p
		}
	}
	script := `sleep 1000 & echo $! > ` + mnt + own + `/cgroup.procs; echo $!`
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := testNS(WithCgroupParent(parent), WithPrivateCgroup(), WithCapabilities()).StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Wait()
	if _, err := ProcessCgroup(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	m, _ := r.Read(out)
	pid, err := strconv.Atoi(strings.TrimSpace(string(out[:m])))
	if err != nil {
		t.Fatalf("output %q", out[:m])
	}
	if st := proctest.State(pid); st != 0 && st != 'Z' {
		_ = unix.Kill(pid, unix.SIGKILL)
		t.Errorf("process %d, moved by the child out of its cgroup into %s, outlived the child's cgroup (state %c)", pid, own, st)
	}
}

// cgroupNsDelegate reports whether the cgroup v2 hierarchy is mounted with
// the nsdelegate option.
func cgroupNsDelegate(t *testing.T) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		_, post, ok := strings.Cut(l, " - ")
		if f := strings.Fields(post); ok && len(f) >= 3 && f[0] == "cgroup2" {
			return strings.Contains(","+f[2]+",", ",nsdelegate,")
		}
	}
	return false
}
