//go:build linux

package namespace

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestCheck: every finding is there, with a remedy where it is not OK;
// the kinds that this kernel has are creatable by the test's user here.
func TestCheck(t *testing.T) {
	r := Check(context.Background())
	s := r.String()
	for _, name := range []string{"create user namespace", "create mnt namespace", "create pid namespace", "create time namespace",
		"unprivileged user namespaces", "time namespaces", "pidfd", "clone3", "mount_setattr", "Landlock", "seccomp",
		"cgroup v2 delegation", "newuidmap and subordinate ids"} {
		if !strings.Contains(s, "  "+name+": ") {
			t.Errorf("no finding %q in:\n%s", name, s)
		}
	}
	for _, f := range r.Findings {
		if !f.OK && f.Remedy == "" {
			t.Errorf("finding %q is not OK and has no remedy", f.Name)
		}
	}
	for _, k := range []string{"user", "mnt", "uts", "ipc", "net", "pid", "cgroup"} {
		if (k == "user" || !asRoot()) && !userNSAvailable() {
			t.Logf("user namespaces are blocked here; not checking that %s is creatable", k)
			continue
		}
		if !r.OK("create " + k + " namespace") {
			t.Errorf("%s namespace not creatable here:\n%s", k, s)
		}
	}
}

var noopFunc = Register("check-test-noop", func(ctx context.Context, args []string) error { return nil })

var limitFunc = Register("check-test-limit", func(ctx context.Context, args []string) error {
	// This user namespace is the test's own: its limits are its own.
	if err := os.WriteFile("/proc/sys/user/"+args[0], []byte("0"), 0); err != nil {
		return err
	}
	opts := []Option{WithPrivateUser()}
	if args[0] == "max_net_namespaces" {
		opts = append(opts, WithPrivateNet())
	}
	_, err := New(opts...).StartProcess("/bin/true", nil, nil)
	want := "user." + args[0] + "=0"
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), want) {
		return errors.New("StartProcess: " + errString(err) + "; want ErrLimit naming " + want)
	}
	err = New(opts...).Run(ctx, noopFunc)
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), want) {
		return errors.New("Run: " + errString(err) + "; want ErrLimit naming " + want)
	}
	if args[0] == "max_user_namespaces" && Check(ctx).OK("create user namespace") {
		return errors.New("Check says a user namespace can be created")
	}
	return nil
})

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// TestDiagnoseLimits makes each limit real in a user namespace of the
// test's own (0 namespaces of a kind) and checks that the error of
// creating one names it and matches ErrLimit.
func TestDiagnoseLimits(t *testing.T) {
	skipWithoutUserNS(t)
	for _, knob := range []string{"max_user_namespaces", "max_net_namespaces"} {
		if _, err := os.Stat("/proc/sys/user/" + knob); err != nil {
			t.Logf("skipped %s: this kernel has no such knob", knob)
			continue
		}
		if err := New(WithPrivateUser()).Run(context.Background(), limitFunc, knob); err != nil {
			t.Errorf("%s: %v", knob, err)
		}
	}
}

var seccompFunc = Register("check-test-seccomp", func(ctx context.Context, args []string) error {
	// clone and unshare with CLONE_NEWUSER fail with EPERM, as under a
	// container runtime's profile; clone3 is ENOSYS (so that the C
	// library falls back to clone).
	const ret, errno = unix.SECCOMP_RET_ERRNO, unix.SECCOMP_RET_ERRNO
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_CLONE3, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: ret | uint32(unix.ENOSYS)},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_CLONE, Jt: 1, Jf: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_UNSHARE, Jt: 0, Jf: 3},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 16}, // args[0], low word
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: unix.CLONE_NEWUSER, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: errno | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fp))); e != 0 {
		return e
	}
	_, err := New(WithPrivateUser()).StartProcess("/bin/true", nil, nil)
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "seccomp") {
		return errors.New("StartProcess under a seccomp filter: " + errString(err) + "; want ErrPermission naming seccomp")
	}
	return nil
})

// TestDiagnoseSeccomp makes a seccomp filter that refuses new user
// namespaces real in a child of the test's own, and checks that the
// error names it.
func TestDiagnoseSeccomp(t *testing.T) {
	switch runtime.GOARCH {
	case "amd64", "386", "arm64", "riscv64", "arm", "loong64", "ppc64le":
	default:
		t.Skip("the test's filter reads the low word of the first argument little-endian")
	}
	skipWithoutUserNS(t)
	if err := New(WithPrivateUser()).Run(context.Background(), seccompFunc); err != nil {
		t.Fatal(err)
	}
}

// TestUserNamespaceBlockerKnobs: where a global knob blocks user
// namespaces (kernel.unprivileged_userns_clone=0,
// kernel.apparmor_restrict_unprivileged_userns=1 for an unprivileged caller;
// user.max_user_namespaces=0 for every caller), creating one fails with an
// error that names the knob and matches ErrPermission or ErrLimit, and Check
// reports it. The kernel matrix boots Linux 6.1 with each knob set
// (LINUXNS_VM_KNOB names it there, and the test must then find it); on other
// hosts it skips unless a knob is set.
func TestUserNamespaceBlockerKnobs(t *testing.T) {
	knob := os.Getenv("LINUXNS_VM_KNOB")
	var want string
	root := hasCapSysAdmin()
	if v, ok := sysctlInt("user/max_user_namespaces"); ok && v == 0 {
		want = "user.max_user_namespaces=0"
	} else if root {
		// The other knobs do not apply to a caller with CAP_SYS_ADMIN.
		if knob != "" && !strings.HasPrefix(knob, "user.max_user_namespaces") {
			if err := probeCreate(New(WithPrivateUser())); err != nil {
				t.Fatalf("with %s, root cannot create a user namespace: %v", knob, err)
			}
			t.Skipf("%s does not apply to root, who created a user namespace; the unprivileged run checks the error", knob)
		}
	} else if v, ok := sysctlInt("kernel/unprivileged_userns_clone"); ok && v == 0 {
		want = "kernel.unprivileged_userns_clone=0"
	} else if v, ok := sysctlInt("kernel/apparmor_restrict_unprivileged_userns"); ok && v == 1 {
		want = "apparmor_restrict_unprivileged_userns=1"
	}
	if want == "" {
		if knob != "" {
			t.Fatalf("LINUXNS_VM_KNOB=%s, but no knob that blocks user namespaces is set here", knob)
		}
		t.Skip("no global knob blocks user namespaces on this host (the kernel matrix boots with each set); TestDiagnoseLimits makes a block real in a user namespace of its own")
	}
	if knob != "" && knob != want {
		t.Fatalf("LINUXNS_VM_KNOB=%s, but the knob found is %s", knob, want)
	}
	_, err := New(WithPrivateUser()).StartProcess("/bin/true", []string{"true"}, nil)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("StartProcess: %v; want an error naming %s", err, want)
	}
	if err != nil && !errors.Is(err, ErrPermission) && !errors.Is(err, ErrLimit) {
		t.Errorf("StartProcess: %v matches neither ErrPermission nor ErrLimit", err)
	}
	if err := New(WithPrivateUser()).Command(context.Background(), "/bin/true").Run(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Command: %v; want an error naming %s", err, want)
	}
	if Check(context.Background()).OK("unprivileged user namespaces") {
		t.Error("Check says nothing blocks unprivileged user namespaces")
	}
}

// userNSAvailable reports whether this user can create a user namespace
// here.
func userNSAvailable() bool { return probeCreate(New(WithPrivateUser())) == nil }

// skipWithoutUserNS skips a test that makes its causes real in a user
// namespace of its own where none can be created (a kernel booted with
// them disabled: TestUserNamespaceBlockerKnobs covers that).
func skipWithoutUserNS(t *testing.T) {
	t.Helper()
	if err := probeCreate(New(WithPrivateUser())); err != nil {
		t.Skipf("no user namespace can be created here to make the cause real in: %v", err)
	}
}
