//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"testing"

	"github.com/linuxns/namespace/syscalls"
	"golang.org/x/sys/unix"
)

// mountedAt reports whether a mount is at path, from /proc/self/mountinfo.
func mountedAt(path string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// pinSymlinkFunc runs in a mount namespace of the test's own, with a
// private /tmp: Pin on a symbolic link is refused and mounts nothing; and
// Close, after the pin was unmounted and its path replaced by a link to
// another mount, leaves that mount alone.
var pinSymlinkFunc = Register("pin-symlink-test", func(ctx context.Context, args []string) error {
	victim := "/tmp/victim"
	if err := os.Mkdir(victim, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", victim, "tmpfs", 0, ""); err != nil {
		return fmt.Errorf("mount the victim: %w", err)
	}
	if err := os.WriteFile(victim+"/f", nil, 0o644); err != nil {
		return err
	}
	if err := os.Symlink(victim+"/f", "/tmp/link"); err != nil {
		return err
	}
	h, err := New(WithPrivateUTS()).Create(ctx)
	if err != nil {
		return err
	}
	defer h.Close()
	err = h.Pin(syscalls.UTS, "/tmp/link")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "symbolic link") {
		return fmt.Errorf("Pin on a symbolic link: %v, want ErrInvalid naming the link", err)
	}
	if mountedAt(victim + "/f") {
		return errors.New("Pin on a symbolic link mounted on its target")
	}
	if err := h.Pin(syscalls.UTS, "/tmp/pin"); err != nil {
		return fmt.Errorf("Pin: %w", err)
	}
	if !mountedAt("/tmp/pin") {
		return errors.New("Pin mounted nothing at /tmp/pin")
	}
	// Someone else unpins it and puts a link to the victim in its place.
	if err := unix.Unmount("/tmp/pin", unix.MNT_DETACH); err != nil {
		return err
	}
	if err := os.Remove("/tmp/pin"); err != nil {
		return err
	}
	if err := os.Symlink(victim, "/tmp/pin"); err != nil {
		return err
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	if !mountedAt(victim) {
		return errors.New("Close unmounted the mount a link at the pin's path led to")
	}
	if _, err := os.Lstat("/tmp/pin"); err != nil {
		return fmt.Errorf("Close removed the link put at the pin's path: %w", err)
	}
	return nil
})

// TestHandlePinSymlink runs pinSymlinkFunc in a mount namespace of its own.
func TestHandlePinSymlink(t *testing.T) {
	before := hostMounts(t)
	defer checkMountsUnchanged(t, before)
	if err := testNS(WithPrivateMount(), WithPrivateTmp()).Run(context.Background(), pinSymlinkFunc); err != nil {
		t.Fatal(err)
	}
}

// pinSwapping pins h's UTS namespace on path, with swap run between the
// making of Pin's file and the mount on it (pinCreatedHook).
func pinSwapping(h *Handle, path string, swap func() error) (pinErr, swapErr error) {
	pinCreatedHook = func() { swapErr = swap() }
	defer func() { pinCreatedHook = nil }()
	pinErr = h.Pin(syscalls.UTS, path)
	return pinErr, swapErr
}

// pinDirSwapFunc runs in a mount namespace of the test's own, with a
// private /tmp: Pin's path leads through a link to one directory when the
// file is made and to another before the mount (pinCreatedHook); the
// mount goes on the file Pin made, and Close removes that file, never
// the file of the same name where the path leads later.
var pinDirSwapFunc = Register("pin-dir-swap-test", func(ctx context.Context, args []string) error {
	for _, d := range []string{"/tmp/a", "/tmp/b"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile("/tmp/b/ns", []byte("decoy"), 0o644); err != nil {
		return err
	}
	if err := os.Symlink("/tmp/a", "/tmp/link"); err != nil {
		return err
	}
	h, err := New(WithPrivateUTS()).Create(ctx)
	if err != nil {
		return err
	}
	defer h.Close()
	err, swapErr := pinSwapping(h, "/tmp/link/ns", func() error {
		if err := os.Remove("/tmp/link"); err != nil {
			return err
		}
		return os.Symlink("/tmp/b", "/tmp/link")
	})
	if err != nil || swapErr != nil {
		return fmt.Errorf("Pin: %v (the swap: %v)", err, swapErr)
	}
	if mountedAt("/tmp/b/ns") {
		return errors.New("Pin mounted on /tmp/b/ns, where the path led after Pin made its file in /tmp/a")
	}
	if !mountedAt("/tmp/a/ns") {
		return errors.New("Pin mounted nothing on the file it made, /tmp/a/ns")
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	if _, err := os.Lstat("/tmp/a/ns"); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("Close left the file Pin made: %v", err)
	}
	if b, err := os.ReadFile("/tmp/b/ns"); err != nil || string(b) != "decoy" {
		return fmt.Errorf("the other directory's file: %q, %v; want it untouched", b, err)
	}
	return nil
})

// pinFileSwapFunc: the file Pin made is replaced by another of the same
// name before the mount (pinCreatedHook). Pin mounts on the file it made
// or on nothing, never on the replacement, and Close leaves the
// replacement alone.
var pinFileSwapFunc = Register("pin-file-swap-test", func(ctx context.Context, args []string) error {
	if err := os.Mkdir("/tmp/c", 0o755); err != nil {
		return err
	}
	h, err := New(WithPrivateUTS()).Create(ctx)
	if err != nil {
		return err
	}
	defer h.Close()
	pinErr, swapErr := pinSwapping(h, "/tmp/c/ns", func() error {
		if err := os.Remove("/tmp/c/ns"); err != nil {
			return err
		}
		return os.WriteFile("/tmp/c/ns", []byte("decoy"), 0o644)
	})
	if swapErr != nil {
		return fmt.Errorf("the swap: %w", swapErr)
	}
	if mountedAt("/tmp/c/ns") {
		return fmt.Errorf("Pin (%v) mounted on the file put in place of the one it made", pinErr)
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	if b, err := os.ReadFile("/tmp/c/ns"); err != nil || string(b) != "decoy" {
		return fmt.Errorf("the replacement after Close: %q, %v; want it untouched", b, err)
	}
	return nil
})

// TestHandlePinSwapped runs pinDirSwapFunc and pinFileSwapFunc in mount
// namespaces of their own.
func TestHandlePinSwapped(t *testing.T) {
	before := hostMounts(t)
	defer checkMountsUnchanged(t, before)
	for _, f := range []*Func{pinDirSwapFunc, pinFileSwapFunc} {
		if err := testNS(WithPrivateMount(), WithPrivateTmp()).Run(context.Background(), f); err != nil {
			t.Error(err)
		}
	}
}
