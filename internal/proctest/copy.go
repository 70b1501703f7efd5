//go:build linux

package proctest

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// SharedDir returns a new directory under base (os.TempDir() if base is
// empty) with the permission bits perm, which other users can reach when
// perm lets them, and removes it when the test ends. A test that needs a
// file system honouring setuid and file capabilities uses base /var/tmp.
func SharedDir(t testing.TB, base string, perm os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp(base, "linuxns-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

// CopyProgram copies the program bin into dir as name (bin's base name if
// name is empty) with mode, which may carry os.ModeSetuid, and returns the
// copy's path. Tests run a program as uid 65534 from a copy that user can
// reach, and make setuid or file-capabilities copies of the test binary.
func CopyProgram(t testing.TB, bin, dir, name string, mode os.FileMode) string {
	t.Helper()
	if name == "" {
		name = filepath.Base(bin)
	}
	src, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(dir, name)
	dst, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	// Chmod after the writes: a setuid bit would be cleared by them.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// NobodyCopy copies the program bin into a new directory that uid 65534
// can reach, and returns the copy's path. It skips the test if a directory
// above it is not searchable by others (set TMPDIR to one that is).
func NobodyCopy(t testing.TB, bin string) string {
	t.Helper()
	p := CopyProgram(t, bin, SharedDir(t, "", 0o755), "", 0o755)
	for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("uid 65534 cannot reach %s (%s is not searchable); set TMPDIR to a directory it can", p, d)
		}
	}
	return p
}
