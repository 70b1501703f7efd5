//go:build linux

package namespace

import (
	"context"
	"strings"
	"testing"
)

// TestCheckCgroupAgrees: Check's cgroup finding says what the cgroup
// options find: where a child's cgroup can be made under the default
// parent (a cgroup v2 hierarchy mounted wherever it is, such as
// /sys/fs/cgroup/unified on a hybrid host), it is OK, and it names that
// parent; where none is mounted, it is not.
func TestCheckCgroupAgrees(t *testing.T) {
	var f Finding
	for _, g := range Check(context.Background()).Findings {
		if g.Name == "cgroup v2 delegation" {
			f = g
		}
	}
	_, err := cgroup2Mount()
	if err != nil {
		if f.OK {
			t.Errorf("no cgroup v2 hierarchy is mounted, yet Check says %+v", f)
		}
		return
	}
	parent, err := defaultCgroupParent()
	if err != nil {
		t.Skipf("no default cgroup parent: %v", err)
	}
	ns := New(WithCgroupParent(parent))
	p, serr := ns.StartProcess("/bin/true", []string{"true"}, nil)
	if serr == nil {
		_, _ = p.Wait()
		if _, err := ProcessCgroup(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	switch {
	case serr == nil && !f.OK:
		t.Errorf("a child's cgroup was made under %s, yet Check says %+v", parent, f)
	case serr != nil && f.OK:
		t.Errorf("no child's cgroup can be made under %s (%v), yet Check says %+v", parent, serr, f)
	}
	if f.OK && !strings.Contains(f.Detail, parent) {
		t.Errorf("Check's finding %+v does not name the parent %s", f, parent)
	}
}
