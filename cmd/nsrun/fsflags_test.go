//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/benchkit"
	"github.com/linuxns/namespace/internal/proctest"
)

// TestFSFlagsParse: the filesystem flags keep their command-line order,
// and malformed ones are usage errors.
func TestFSFlagsParse(t *testing.T) {
	c, err := parseArgs([]string{"--empty-root", "--ro-bind", "/usr", "--symlink", "usr/bin:/bin", "--tmpfs", "/tmp", "--ro",
		"--bind", "/a:/b", "--dev", "--chdir", "/tmp", "--", "true"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range c.fs {
		got = append(got, a.flag+"="+a.value)
	}
	want := "empty-root=true ro-bind=/usr symlink=usr/bin:/bin tmpfs=/tmp ro=true bind=/a:/b dev=true"
	if strings.Join(got, " ") != want {
		t.Errorf("order: %q, want %q", strings.Join(got, " "), want)
	}
	if !c.needsParent() || !c.mountNS() || c.chdir != "/tmp" {
		t.Errorf("--chdir implies a parent, the flags a mount namespace: %v %v %q", c.needsParent(), c.mountNS(), c.chdir)
	}
	for _, bad := range [][]string{{"--symlink", "x"}, {"--file", "x:/y"}, {"--file", "99:/y"}, {"--ro=false"}} {
		if _, err := parseArgs(append(bad, "--", "true")); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

// TestFSFlagsRun: a root built from nothing (the demo's), with the host's
// home, /root and /var out of sight; --file's content from a descriptor;
// a destination under a later mount is refused before anything runs.
func TestFSFlagsRun(t *testing.T) {
	root := []string{"-p", "--empty-root", "--ro-bind", "/usr"}
	for _, e := range proctest.SystemLayout() { // the host's /bin, /lib …
		if e.Link != "" {
			root = append(root, "--symlink", e.Link+":"+e.Name)
		} else {
			root = append(root, "--ro-bind", e.Name)
		}
	}
	root = append(root, "--tmpfs", "/tmp", "--dev", "--chdir", "/tmp")
	out := mustShell(t, `pwd; echo $(ls -A /); for d in /home /root /var /proc/1/root/home; do [ -e $d ] && echo "$d visible"; done; echo ok`, root...)
	if want := "/tmp\n" + strings.Join(proctest.SystemNames("dev", "proc", "tmp", "usr"), " ") + "\nok\n"; out != want {
		t.Errorf("the root built from nothing:\n%s", out)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, _ = w.WriteString("generated\n")
	w.Close()
	dir := t.TempDir()
	cmd := nsrun(t, "--tmpfs", dir, "--file", "3:"+dir+"/f", "--", "cat", dir+"/f")
	cmd.ExtraFiles = []*os.File{r}
	if out, code := result(t, cmd); code != 0 || out != "generated\n" {
		t.Errorf("--file: %q, status %d", out, code)
	}

	if out, code := shell(t, "echo ran", "--dir", "/mnt/x", "--tmpfs", "/mnt"); code != 125 || strings.Contains(out, "ran") || !strings.Contains(out, "/mnt/x") {
		t.Errorf("a directory under a later tmpfs: status %d\n%s", code, out)
	}
}

// TestRootLookPath: with --root DIR, a COMMAND without a slash is looked
// up in $PATH inside DIR: a program only DIR has is found (the host has
// none of that name), and /bin/true in DIR wins over the host's
// /usr/bin/true, which DIR lacks; a link in DIR that points above it
// resolves inside DIR. Each is run in place and as a child (-p).
func TestRootLookPath(t *testing.T) {
	root := proctest.SharedDir(t, "", 0o755)
	for _, d := range []string{"bin", "usr/local/bin", "proc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prog, err := benchkit.StaticTrue(filepath.Join(root, "bin"))
	if err != nil {
		t.Skip(err)
	}
	for _, name := range []string{"true", "nsrun-root-only"} {
		if err := os.Link(prog, filepath.Join(root, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	// Above the root, /bin/sh; inside it, the root's own /bin/true.
	if err := os.Symlink("../../../bin/true", filepath.Join(root, "usr/local/bin/nsrun-root-link")); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("nsrun-root-only"); err == nil {
		t.Skip("the host has a program named nsrun-root-only")
	}
	run := func(args ...string) (string, int) {
		cmd := nsrun(t, args...)
		cmd.Env = append(os.Environ(), "PATH=/usr/local/bin:/usr/bin:/bin")
		return result(t, cmd)
	}
	for _, mode := range [][]string{nil, {"-p"}} {
		for _, name := range []string{"true", "nsrun-root-only", "nsrun-root-link"} {
			args := append(append([]string{"--root", root}, mode...), "--", name)
			if out, code := run(args...); code != 0 {
				t.Errorf("nsrun %v: exit status %d\n%s", args, code, out)
			}
		}
		// Not in the root, on the host: looked up there, and missing
		// inside (127).
		args := append(append([]string{"--root", root}, mode...), "--", "ls")
		if out, code := run(args...); code != 127 {
			t.Errorf("nsrun %v: exit status %d, want 127 (the host's ls is not in the root)\n%s", args, code, out)
		}
	}
}
