//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/proctest"
)

// SubIDsEnv makes the test binary the helper of TestSubIDs: as uid 65534,
// it starts a shell in a new user namespace with WithPrivateUser(SubIDs())
// and prints its id maps and what chown made of a file, or the error.
const SubIDsEnv = "LINUXNS_TEST_SUBIDS"

func subIDsHelper() {
	os.Unsetenv(SubIDsEnv)
	n := New(WithPrivateUser(SubIDs()), WithPrivateTmp())
	p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'; touch /tmp/f && chown 1000:1000 /tmp/f && stat -c %u:%g /tmp/f"},
		&os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
	if err != nil {
		fmt.Printf("error: %v (ErrPermission %v, ErrUnsupported %v)\n", err, errors.Is(err, ErrPermission), errors.Is(err, ErrUnsupported))
		os.Exit(0)
	}
	st, _ := p.Wait()
	fmt.Printf("status %d\n", st.ExitCode())
	os.Exit(0)
}

// runAsNobodyWithSubIDs runs the helper as uid 65534 in a mount namespace
// of its own where /etc/subuid and /etc/subgid are the given contents.
func runAsNobodyWithSubIDs(t *testing.T, subuid, subgid string) string {
	t.Helper()
	dir := proctest.SharedDir(t, "", 0o755)
	for name, content := range map[string]string{"subuid": subuid, "subgid": subgid} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := proctest.NobodyCopy(t, os.Args[0])
	script := `mount --bind "$1/subuid" /etc/subuid && mount --bind "$1/subgid" /etc/subgid && cd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups env ` + SubIDsEnv + `=1 "$2" -test.run=^$`
	cmd := New(WithPrivateMount()).Command(context.Background(), "/bin/sh", "-c", script, "sh", dir, bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

// TestSubIDs: uid 65534 with subordinate ranges (files bind-mounted over
// /etc/subuid and /etc/subgid in the test's own mount namespace) gets 0 →
// itself and 1.. → its ranges, through newuidmap and newgidmap, and a
// program inside can chown to another user; without a range, the error
// names the file.
func TestSubIDs(t *testing.T) {
	if !asRoot() {
		t.Skip("needs root to bind-mount subuid and subgid files in a mount namespace of its own; the root run tests uid 65534")
	}
	for _, tool := range []string{"newuidmap", "newgidmap", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (packages uidmap, util-linux: see .ci/run)", tool)
		}
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s does not exist to bind-mount over (%v); the host's /etc is not changed", f, err)
		}
	}
	before := hostMounts(t)
	out := runAsNobodyWithSubIDs(t, "nobody:200000:65536\n", "65534:300000:1000\n")
	want := "0 65534 1\n1 200000 65536\n0 65534 1\n1 300000 1000\n1000:1000\nstatus 0\n"
	if out != want {
		t.Errorf("with ranges:\n%s\nwant:\n%s", out, want)
	}
	out = runAsNobodyWithSubIDs(t, "someoneelse:200000:65536\n", "nobody:300000:1000\n")
	if !strings.Contains(out, "/etc/subuid has no subordinate range for user nobody") || !strings.Contains(out, "ErrPermission true") {
		t.Errorf("without a uid range: %s", out)
	}
	checkMountsUnchanged(t, before)
}

// TestSubIDsRefusedByCommand: Command cannot give newuidmap the pid in
// time, and says so.
func TestSubIDsRefusedByCommand(t *testing.T) {
	err := New(WithPrivateUser(SubIDs())).Command(context.Background(), "/bin/true").Run()
	if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrPermission) {
		t.Errorf("Command with SubIDs: %v", err)
	}
	if err := New(WithPrivateUser(SubIDs(), IDMap{Kind: UIDs, Size: 1})).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("SubIDs with another map: %v", err)
	}
}
