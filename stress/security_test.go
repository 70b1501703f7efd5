//go:build stress

package stress

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
)

// rsharedThenNested makes / shared in its own mount namespace, then runs a
// nested child with a private /tmp and reports whether that tmpfs appeared
// in its own mount table.
var rsharedThenNested = namespace.NewTask("stress-rshared", func(ctx context.Context, _ int) (string, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return "", fmt.Errorf("make / rshared: %w", err)
	}
	before, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(before), " shared:") {
		return "", fmt.Errorf("/ is not shared:\n%s", before)
	}
	if err := namespace.New(namespace.WithPrivateTmp(), namespace.WithPrivatePID()).Run(ctx, nop); err != nil {
		return "", err
	}
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if string(after) != string(before) {
		return "propagated", nil
	}
	return "contained", nil
})

func TestMountsNeverPropagate(t *testing.T) {
	before := mounts(t)
	got, err := rsharedThenNested.Run(context.Background(), rootless(namespace.WithPrivateMount()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != "contained" {
		t.Errorf("a nested child's mounts reached a shared parent mount namespace: %s", got)
	}
	if after := mounts(t); after != before {
		t.Errorf("host mount table changed")
	}
}

// hostPowers tries what only the host's root may do, from a user namespace.
var hostPowers = namespace.NewTask("stress-host-powers", func(ctx context.Context, _ int) ([]string, error) {
	var gained []string
	if err := unix.Sethostname([]byte("stolen")); !errors.Is(err, unix.EPERM) {
		gained = append(gained, fmt.Sprintf("sethostname on the host's UTS namespace: %v", err))
	}
	if err := unix.Mount("tmpfs", "/mnt", "tmpfs", 0, ""); !errors.Is(err, unix.EPERM) {
		gained = append(gained, fmt.Sprintf("mount in the host's mount namespace: %v", err))
		unix.Unmount("/mnt", unix.MNT_DETACH)
	}
	if err := unix.Setgroups([]int{0}); err == nil {
		if os.Getenv("STRESS_EXPECT_SETGROUPS") != "allowed" {
			gained = append(gained, "setgroups allowed for an unprivileged caller")
		}
	}
	if b, err := os.ReadFile("/proc/self/setgroups"); err == nil && os.Getenv("STRESS_EXPECT_SETGROUPS") != "allowed" && strings.TrimSpace(string(b)) != "deny" {
		gained = append(gained, "setgroups is "+strings.TrimSpace(string(b)))
	}
	return gained, nil
})

func TestNoHostCapabilities(t *testing.T) {
	host, _ := os.Hostname()
	if os.Geteuid() == 0 {
		os.Setenv("STRESS_EXPECT_SETGROUPS", "allowed") // root may allow setgroups in its user namespace
		defer os.Unsetenv("STRESS_EXPECT_SETGROUPS")
	}
	// Only a user namespace: every other namespace is the host's.
	gained, err := hostPowers.Run(context.Background(), namespace.New(namespace.WithPrivateUser()), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gained {
		t.Error(g)
	}
	if h, _ := os.Hostname(); h != host {
		t.Errorf("hostname changed to %q", h)
	}
}

// selfReport describes the child's descriptors, environment and /tmp.
type selfReport struct {
	Inheritable []string
	Env         []string
	TmpOptions  string
}

var selfReportTask = namespace.NewTask("stress-self-report", func(ctx context.Context, _ int) (selfReport, error) {
	var r selfReport
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		fd, _ := strconv.Atoi(e.Name())
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			target, _ := os.Readlink("/proc/self/fd/" + e.Name())
			r.Inheritable = append(r.Inheritable, e.Name()+"="+target)
		}
	}
	r.Env = os.Environ()
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/tmp" {
			r.TmpOptions = f[5]
		}
	}
	return r, nil
})

func TestChildGetsOnlyWhatItNeeds(t *testing.T) {
	// A descriptor this process holds without close-on-exec must not reach
	// the child.
	leak, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	if _, err := unix.FcntlInt(leak.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	r, err := selfReportTask.Run(context.Background(), rootless(namespace.WithPrivateTmp()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Inheritable) != 3 {
		t.Errorf("the child would pass on %v; want only 0, 1, 2", r.Inheritable)
	}
	for _, kv := range r.Env {
		if strings.HasPrefix(kv, "_LINUXNS_") {
			t.Errorf("marker or token in the child's environment: %s", kv)
		}
	}
	for _, opt := range []string{"nosuid", "nodev"} {
		if !strings.Contains(r.TmpOptions, opt) {
			t.Errorf("/tmp mounted %s, lacks %s", r.TmpOptions, opt)
		}
	}
	// The command path: the marker is gone before execve.
	out, err := rootless(namespace.WithPrivateMount()).Command(context.Background(), "env").Output()
	if err != nil || strings.Contains(string(out), "_LINUXNS_") {
		t.Errorf("marker reached an executed command: %v\n%s", err, out)
	}
}
