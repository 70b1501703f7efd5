//go:build linux

package namespace

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// OwnMountNSEnv names the test or benchmark that the test binary runs again
// inside a mount namespace of its own with a tmpfs on /run (see
// inOwnMountNS): `ip netns add` and Pin then mount there, never on the host.
const OwnMountNSEnv = "LINUXNS_TEST_OWN_MOUNT_NS"

// inOwnMountNS reports whether tb is the copy of the test running in a
// mount namespace of its own, with a tmpfs mounted on /run: then the caller
// goes on with the work that mounts (ip netns add, Pin at /run/netns).
// Otherwise it runs the test binary again under `unshare --mount
// --propagation private` for tb alone (args choose the test or benchmark),
// fails tb unless that copy passed, checks that the host's mount table is
// byte-identical after and that nothing was made under /run, and returns
// false: the caller returns.
func inOwnMountNS(tb testing.TB, args ...string) (bool, []byte) {
	tb.Helper()
	if os.Getenv(OwnMountNSEnv) == tb.Name() {
		if err := syscall.Mount("tmpfs", "/run", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
			tb.Fatalf("tmpfs on /run in the test's own mount namespace: %v", err)
		}
		return true, nil
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		tb.Fatal("unshare (util-linux) is not installed")
	}
	mounts, run := runState(tb)
	cmd := exec.Command(unshare, append([]string{"--mount", "--propagation", "private", os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), OwnMountNSEnv+"="+tb.Name())
	out, err := cmd.CombinedOutput()
	mountsAfter, runAfter := runState(tb)
	if !bytes.Equal(mounts, mountsAfter) {
		tb.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", mounts, mountsAfter)
	}
	if !slices.Equal(run, runAfter) {
		tb.Errorf("/run on the host changed: before %v, after %v", run, runAfter)
	}
	if err != nil || strings.Contains(string(out), "--- SKIP") || !strings.Contains(string(out), "\nPASS") {
		tb.Fatalf("%s in its own mount namespace: %v\n%s", tb.Name(), err, out)
	}
	return false, out
}

// hostState returns the caller's mount table as the kernel prints it and
// the names under /run and /run/netns.
func runState(tb testing.TB) ([]byte, []string) {
	tb.Helper()
	m, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, dir := range []string{"/run", "/run/netns"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			names = append(names, dir+"/"+e.Name())
		}
	}
	return m, names
}

// runOwnMountNS is inOwnMountNS for the test t.
func runOwnMountNS(t *testing.T) bool {
	t.Helper()
	child, _ := inOwnMountNS(t, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	return child
}
