//go:build linux

package nstest_test

import (
	"os"
	"testing"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/nstest"
)

// envFSDir names the directory of TestRunFilesystemView, made by the
// parent test.
const envFSDir = "NSTEST_TEST_FS_DIR"

// TestRunFilesystemView: a body sees the filesystem view (an overlay whose
// writes vanish, a generated read-only file), and the host's directory is
// as it was afterwards.
func TestRunFilesystemView(t *testing.T) {
	dir := os.Getenv(envFSDir)
	if !nstest.Inside() {
		dir = t.TempDir()
		if err := os.WriteFile(dir+"/f", []byte("host"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv(envFSDir, dir)
	}
	ns := rootless(namespace.WithTmpOverlay(dir), namespace.WithFile(dir+"/gen", []byte("generated"), 0o444))
	nstest.Run(t, ns, func(t *testing.T) {
		if b, err := os.ReadFile(dir + "/gen"); err != nil || string(b) != "generated" {
			t.Errorf("the generated file: %q, %v", b, err)
		}
		if err := os.WriteFile(dir+"/gen", []byte("x"), 0o644); err == nil {
			t.Error("the generated file is writable")
		}
		if err := os.WriteFile(dir+"/f", []byte("inside"), 0o644); err != nil {
			t.Errorf("write through the overlay: %v", err)
		}
	})
	if b, err := os.ReadFile(dir + "/f"); err != nil || string(b) != "host" {
		t.Errorf("the host's file: %q, %v; want it unchanged", b, err)
	}
	if _, err := os.Stat(dir + "/gen"); !os.IsNotExist(err) {
		t.Errorf("the generated file is on the host: %v", err)
	}
}
