//go:build stress && linux

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

// rsharedThenNested makes / recursively shared in its own mount namespace,
// as systemd does on the host, then starts nested children with a private
// /tmp and /proc (Run, Command, and Command with WithMinimalInit) and reports
// whether any of their mounts appeared in its own mount table.
var rsharedThenNested = namespace.NewTask("stress-rshared", func(ctx context.Context, _ int) (string, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return "", fmt.Errorf("make / rshared: %w", err)
	}
	before, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(before), " shared:") {
		return "", fmt.Errorf("/ is not shared:\n%s", before)
	}
	inner := namespace.New(namespace.WithPrivateTmp(), namespace.WithPrivatePID(), namespace.WithPrivateMount())
	if err := inner.Run(ctx, nop); err != nil {
		return "", err
	}
	if err := inner.Command(ctx, "sh", "-c", "test -d /tmp && mount -t tmpfs none /tmp").Run(); err != nil {
		return "", fmt.Errorf("command: %w", err)
	}
	withInit := namespace.New(namespace.WithPrivateTmp(), namespace.WithPrivatePID(), namespace.WithMinimalInit())
	if err := withInit.Command(ctx, "true").Run(); err != nil {
		return "", fmt.Errorf("command with init: %w", err)
	}
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if string(after) != string(before) {
		return fmt.Sprintf("propagated:\n%s\n---\n%s", before, after), nil
	}
	return "contained", nil
})

// TestMountsNeverPropagate: the mounts of a child never reach its parent's
// mount table, even when the parent's / is rshared.
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

// hostPowers tries, from a new user namespace whose other namespaces are
// all the host's, what needs a capability in the host's user namespace. The
// probes change nothing if they succeed (the same hostname, a limit put
// back, a node in a test directory). It returns what was gained.
var hostPowers = namespace.NewTask("stress-host-powers", func(ctx context.Context, dir string) ([]string, error) {
	var gained []string
	deny := func(what string, err error) {
		if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
			gained = append(gained, fmt.Sprintf("%s: %v", what, err))
		}
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	deny("sethostname on the host's UTS namespace", unix.Sethostname([]byte(host)))
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		deny("setdomainname on the host's UTS namespace", unix.Setdomainname(uts.Domainname[:clen(uts.Domainname[:])]))
	}
	err = unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4k")
	if err == nil {
		unix.Unmount(dir, unix.MNT_DETACH)
	}
	deny("mount in the host's mount namespace", err)
	err = unix.Mknod(dir+"/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	if err == nil {
		os.Remove(dir + "/null")
	}
	deny("mknod of a device (CAP_MKNOD)", err)
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err == nil {
		// The raw syscall returns 20-nice.
		deny("raise the priority (CAP_SYS_NICE)", unix.Setpriority(unix.PRIO_PROCESS, 0, 20-prio-1))
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Max > 1 {
		low := unix.Rlimit{Cur: min(lim.Cur, lim.Max-1), Max: lim.Max - 1}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err == nil {
			deny("raise a hard limit back (CAP_SYS_RESOURCE)", unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
		}
	}
	if os.Getenv("STRESS_EXPECT_SETGROUPS") != "allowed" {
		deny("setgroups in a user namespace of an unprivileged user", unix.Setgroups([]int{0}))
		if b, err := os.ReadFile("/proc/self/setgroups"); err != nil || strings.TrimSpace(string(b)) != "deny" {
			gained = append(gained, fmt.Sprintf("/proc/self/setgroups is %q (%v), want deny", b, err))
		}
	}
	return gained, nil
})

func clen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// TestNoHostCapabilities: a user namespace gains no capability in the
// host's user namespace, and an unprivileged one denies setgroups.
func TestNoHostCapabilities(t *testing.T) {
	host, _ := os.Hostname()
	if os.Geteuid() == 0 {
		t.Setenv("STRESS_EXPECT_SETGROUPS", "allowed") // root may allow setgroups in its user namespace
	}
	before := mounts(t)
	// Only a user namespace: every other namespace is the host's.
	gained, err := hostPowers.Run(context.Background(), namespace.New(namespace.WithPrivateUser()), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gained {
		t.Errorf("gained: %s", g)
	}
	if h, _ := os.Hostname(); h != host {
		t.Errorf("hostname changed to %q", h)
	}
	if after := mounts(t); after != before {
		t.Errorf("host mount table changed")
	}
}

// selfReport describes the child's descriptors, environment and /tmp.
type selfReport struct {
	Fds        map[int]string // fd → target
	Inherit    []int          // fds without close-on-exec
	Env        []string
	TmpOptions string
	TmpFlags   int64
}

var selfReportTask = namespace.NewTask("stress-self-report", func(ctx context.Context, _ int) (selfReport, error) {
	r := selfReport{Fds: map[int]string{}}
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return r, err
	}
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return r, err
	}
	for _, name := range names {
		fd, _ := strconv.Atoi(name)
		if fd == int(dir.Fd()) {
			continue // the directory being read
		}
		target, _ := os.Readlink("/proc/self/fd/" + name)
		r.Fds[fd] = target
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			r.Inherit = append(r.Inherit, fd)
		}
	}
	dir.Close()
	r.Env = os.Environ()
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/tmp" {
			r.TmpOptions = f[5]
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/tmp", &st); err != nil {
		return r, err
	}
	r.TmpFlags = int64(st.Flags) // its type differs per architecture
	return r, nil
})

// runtimeFd reports whether target is a descriptor the Go runtime of the
// child opens for itself: its poller, pidfds of its own children, and the
// cgroup CPU limit files it watches for GOMAXPROCS (Go 1.25).
func runtimeFd(target string) bool {
	for _, p := range []string{"anon_inode:[eventpoll]", "anon_inode:[eventfd]", "anon_inode:[pidfd]", "pipe:["} {
		if strings.HasPrefix(target, p) {
			return true
		}
	}
	if strings.HasPrefix(target, "/sys/fs/cgroup/") {
		for _, f := range []string{"/cpu.max", "/cpu.cfs_quota_us", "/cpu.cfs_period_us"} {
			if strings.HasSuffix(target, f) {
				return true
			}
		}
	}
	return false
}

// TestChildGetsOnlyWhatItNeeds: a function child holds standard input,
// output and error, the job socket and its runtime's own descriptors, and
// nothing of its parent's, not even a descriptor the parent left without
// close-on-exec; the marker and token are gone from its environment and
// from an executed command's; its /tmp is nosuid,nodev.
func TestChildGetsOnlyWhatItNeeds(t *testing.T) {
	// Descriptors this process holds, one without close-on-exec, which
	// exec passes on: neither may reach the child.
	dir := t.TempDir()
	leak, err := os.Create(dir + "/leak-" + marker())
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	if _, err := unix.FcntlInt(leak.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	kept, err := os.Create(dir + "/kept-" + marker())
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()

	for _, c := range []struct {
		name string
		ns   *namespace.Namespace
	}{
		{"tmp", rootless(namespace.WithPrivateTmp())},
		{"pid+tmp+net", rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithPrivateNet())},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := selfReportTask.Run(context.Background(), c.ns, 0)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(r.Inherit) != "[0 1 2]" {
				t.Errorf("descriptors without close-on-exec in the child: %v; want only 0, 1, 2 (%v)", r.Inherit, r.Fds)
			}
			if !strings.HasPrefix(r.Fds[3], "socket:[") {
				t.Errorf("fd 3 is %q, want the job socket", r.Fds[3])
			}
			for fd, target := range r.Fds {
				if fd <= 3 {
					continue
				}
				if strings.Contains(target, "/leak-") || strings.Contains(target, "/kept-") || !runtimeFd(target) {
					t.Errorf("the child holds fd %d = %s", fd, target)
				}
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
			if r.TmpFlags&unix.ST_NOSUID == 0 || r.TmpFlags&unix.ST_NODEV == 0 {
				t.Errorf("statfs(/tmp) flags %#x lack ST_NOSUID or ST_NODEV", r.TmpFlags)
			}
		})
	}
	// Executed commands: the marker is gone before execve (the kernel's
	// copy of the environment included), and the job socket is closed.
	for _, c := range []struct {
		name string
		ns   *namespace.Namespace
	}{
		{"command", rootless(namespace.WithPrivateMount())},
		{"command with init", rootless(namespace.WithPrivatePID(), namespace.WithMinimalInit())},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.ns.Command(context.Background(), "sh", "-c", `tr '\0' '\n' < /proc/self/environ; for f in /proc/$$/fd/*; do echo "fd $f $(readlink $f)"; done`).Output()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "_LINUXNS_") {
				t.Errorf("marker reached an executed command:\n%s", out)
			}
			if strings.Contains(string(out), "socket:[") {
				t.Errorf("a socket reached an executed command:\n%s", out)
			}
		})
	}
}

// setgroupsState reports /proc/self/setgroups of the child.
var setgroupsState = namespace.NewTask("stress-setgroups", func(ctx context.Context, _ int) (string, error) {
	b, err := os.ReadFile("/proc/self/setgroups")
	return strings.TrimSpace(string(b)), err
})

// nestedUser runs setgroupsState in a user namespace nested in the child's.
var nestedUser = namespace.NewTask("stress-nested-user", func(ctx context.Context, _ int) ([2]string, error) {
	b, _ := os.ReadFile("/proc/self/setgroups")
	inner, err := setgroupsState.Run(ctx, namespace.New(namespace.WithPrivateUser(), namespace.WithPrivateTmp()), 0)
	return [2]string{strings.TrimSpace(string(b)), inner}, err
})

// TestNestedUserNamespace: a user namespace nested in the child's works,
// and setgroups stays denied below an unprivileged user's namespace (the
// kernel refuses to allow it again).
func TestNestedUserNamespace(t *testing.T) {
	got, err := nestedUser.Run(context.Background(), namespace.New(namespace.WithPrivateUser()), 0)
	if err != nil {
		t.Fatalf("a nested user namespace: %v", err)
	}
	want := [2]string{"allow", "allow"}
	if os.Geteuid() != 0 {
		want = [2]string{"deny", "deny"}
	}
	if got != want {
		t.Errorf("setgroups outer, inner = %v, want %v", got, want)
	}
}
