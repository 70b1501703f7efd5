//go:build linux

package syscalls

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}

// pivotRootProof runs in a child with its own user and mount namespaces: it
// makes / private, mounts a tmpfs on dir, pivots into it and drops the old
// root.
func pivotRootProof(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("need an absolute directory, got %q", dir)
	}
	if err := requireOwnNS(Mount); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return os.NewSyscallError("mount / rprivate", err)
	}

	// Failures first: a missing directory, and a new root that is not a
	// mount point.
	err := PivotRoot(filepath.Join(dir, "missing"), filepath.Join(dir, "missing", "old"))
	var le *os.LinkError
	if !errors.Is(err, unix.ENOENT) || !errors.As(err, &le) || le.Op != "pivot_root" {
		return fmt.Errorf("pivot_root into a missing directory: %#v, want *os.LinkError wrapping ENOENT", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o700); err != nil {
		return err
	}
	if err := PivotRoot(dir, filepath.Join(dir, "old")); !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("pivot_root into a non-mount-point: %v, want EINVAL", err)
	}

	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=0755"); err != nil {
		return os.NewSyscallError("mount tmpfs", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte("new root"), 0o644); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o700); err != nil {
		return err
	}
	if err := PivotRoot(dir, filepath.Join(dir, "old")); err != nil {
		return err
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if b, err := os.ReadFile("/marker"); err != nil || string(b) != "new root" {
		return fmt.Errorf("/marker after pivot_root: %q, %v", b, err)
	}
	if _, err := os.Stat("/old/proc/self/ns"); err != nil {
		return fmt.Errorf("old root not at /old: %v", err)
	}
	if err := unix.Unmount("/old", unix.MNT_DETACH); err != nil {
		return os.NewSyscallError("umount2 /old", err)
	}
	if names, err := readDirNames("/old"); err != nil || len(names) != 0 {
		return fmt.Errorf("/old after detaching the old root: %v, %v", names, err)
	}
	if err := os.Remove("/old"); err != nil {
		return err
	}
	if names, err := readDirNames("/"); err != nil || !slices.Equal(names, []string{"marker"}) {
		return fmt.Errorf("/ = %v, %v; want [marker]", names, err)
	}
	return nil
}

// Proof (4): pivot_root into a tmpfs inside a private mount namespace, as
// root and as 65534, leaving the host's mount table and directory alone.
func TestPivotRoot(t *testing.T) {
	checkMountsUnchanged(t)
	dir := t.TempDir()
	runHelper(t, "pivot-root", dir, userNSAttr(CLONE_NEWNS))

	// On the host, dir is still a plain directory: the tmpfs and its
	// marker were never visible here, the "old" made before the mount is.
	if names, err := readDirNames(dir); err != nil || !slices.Equal(names, []string{"old"}) {
		t.Errorf("host %s = %v, %v; want [old]", dir, names, err)
	}
}
