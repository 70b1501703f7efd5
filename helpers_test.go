//go:build linux

package namespace

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/syscalls"
)

// asRoot reports whether the tests run as root; otherwise they run as an
// unprivileged user (uid 65534 in `make test`).
func asRoot() bool { return os.Geteuid() == 0 }

// testNS returns a Namespace with opts, plus WithPrivateUser when the tests
// run unprivileged, so that the same test runs in both modes.
func testNS(opts ...Option) *Namespace {
	if !asRoot() {
		opts = append([]Option{WithPrivateUser()}, opts...)
	}
	return New(opts...)
}

// joinKinds returns kinds, plus the user namespace when the tests run
// unprivileged: joining another process's namespaces takes CAP_SYS_ADMIN in
// their owner, which an unprivileged caller has only by joining its user
// namespace too.
func joinKinds(kinds ...syscalls.Type) []syscalls.Type {
	if !asRoot() {
		kinds = append(kinds, syscalls.User)
	}
	return kinds
}

// hostMounts returns the host's mount table as comparable lines.
func hostMounts(t *testing.T) []string {
	t.Helper()
	m, err := proctest.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(m, "\n")
}

// checkMountsUnchanged fails the test if the host mount table differs from
// before.
func checkMountsUnchanged(t *testing.T, before []string) {
	t.Helper()
	after := hostMounts(t)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// testBinary returns the path of a fixture program built from
// testdata/<name>: from $LINUXNS_BIN (make builds them), or built now.
func testBinary(t *testing.T, name string) string {
	t.Helper()
	if dir := os.Getenv("LINUXNS_BIN"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if !asRoot() {
		t.Skipf("fixture %s is not built and an unprivileged user cannot build it here: run `make build` (sets LINUXNS_BIN)", name)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found to build the fixture: run `make build`")
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goBin, "build", "-o", out, "./testdata/"+name)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// waitSuccess waits for p, as StartProcess returned it with err, and
// returns an error unless it exited with status 0.
func waitSuccess(p *os.Process, err error) error {
	if err != nil {
		return err
	}
	st, err := p.Wait()
	if err == nil && !st.Success() {
		err = errors.New(st.String())
	}
	return err
}
