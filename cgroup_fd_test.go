//go:build linux

package namespace

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// cgroupFD0Env makes TestCgroupDescriptorZero's own test binary, run
// again, the caller with its standard input closed.
const cgroupFD0Env = "LINUXNS_TEST_CGROUP_FD0"

// TestCgroupDescriptorZero: a caller that has closed its standard input
// (a daemon) gets the cgroup's directory as descriptor 0. StartProcess's
// and Prepare's children must still be born in their cgroup, not in the
// caller's, with no limit (descriptor 0 was taken for "no cgroup").
func TestCgroupDescriptorZero(t *testing.T) {
	parent := cgroupParentFor(t)
	verb := os.Getenv(cgroupFD0Env)
	if verb == "" {
		// Each verb alone in a process of its own, whose descriptor 0 is
		// closed and stays so.
		for _, verb := range []string{"StartProcess", "Prepare"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestCgroupDescriptorZero$", "-test.v")
			cmd.Env = append(os.Environ(), cgroupFD0Env+"="+verb)
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("--- PASS: TestCgroupDescriptorZero")) {
				t.Errorf("%s with descriptor 0 closed: %v\n%s", verb, err, out)
			}
		}
		checkNoCgroupLeft(t, parent)
		return
	}
	under := "0::" + path.Join(relCgroup(t, parent), "namespace-")
	{
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(0) // the next descriptor opened is 0: the cgroup's
		ns := testNS(WithCgroupParent(parent))
		script := []string{"sh", "-c", "grep '^0::' /proc/self/cgroup"}
		attr := &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}}
		var p *os.Process
		if verb == "StartProcess" {
			p, err = ns.StartProcess("/bin/sh", script, attr)
		} else {
			var pp *Prepared
			if pp, err = ns.Prepare("/bin/sh", script, attr); err == nil {
				p, err = pp.Start()
			}
		}
		w.Close()
		if err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		u, err := ProcessCgroup(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 4096)
		m, _ := r.Read(out)
		r.Close()
		if got := strings.TrimSpace(string(out[:m])); !strings.HasPrefix(got, under) {
			t.Errorf("%s with descriptor 0 closed: the child was in %q, want its own cgroup under %s (%s)", verb, got, under, u.Path)
		}
	}
	checkNoCgroupLeft(t, parent)
}
