//go:build linux

package namespace

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The privilege and limit steps, read from inside the child: the same
// probe (privDescribe) runs in a Run child (Go executor, every thread), a
// Command child (Go executor, then execve) and a StartProcess child (raw
// executor), and the three must agree.

// PrivProbeEnv makes the test binary print privDescribe and exit. Its
// value is a directory where the probe may write.
const PrivProbeEnv = "LINUXNS_TEST_PRIV_PROBE"

// privProbe is the Run probe.
var privProbe = NewTask("test-priv-probe", func(ctx context.Context, dir string) (string, error) {
	return privDescribe(dir), nil
})

// privDescribe describes the process's privileges and limits: the lines
// of /proc/self/status that they show, RLIMIT_NOFILE and what opening
// beyond it gives, whether it leads a session, what keyctl and a new user
// namespace give, and what writing in dir and beside the program gives.
func privDescribe(dir string) string {
	var b strings.Builder
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintf(&b, "status: %v\n", err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "NoNewPrivs", "Seccomp", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			fmt.Fprintf(&b, "%s: %s\n", k, strings.TrimSpace(v))
		}
	}
	var lim unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	fmt.Fprintf(&b, "nofile: %d %d\n", lim.Cur, lim.Max)
	if lim.Cur < 1024 {
		var fds []int
		var err error
		for range lim.Cur + 1 {
			var fd int
			if fd, err = unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
				break
			}
			fds = append(fds, fd)
		}
		fmt.Fprintf(&b, "open beyond nofile: %v\n", errName(err))
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	sid, _ := unix.Getsid(0)
	fmt.Fprintf(&b, "session leader: %v\n", sid == os.Getpid())
	_, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, 0, 0)
	fmt.Fprintf(&b, "keyctl: %v\n", errName(e))
	fmt.Fprintf(&b, "write allowed dir: %v\n", errName(os.WriteFile(filepath.Join(dir, "probe"), nil, 0o600)))
	os.Remove(filepath.Join(dir, "probe"))
	fmt.Fprintf(&b, "write /dev/shm: %v\n", errName(os.WriteFile("/dev/shm/linuxns-priv-probe", nil, 0o600)))
	os.Remove("/dev/shm/linuxns-priv-probe")
	return b.String()
}

// errName names err's errno, or says "ok".
func errName(err error) string {
	var e syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e) && e == 0:
		return "ok"
	case errors.As(err, &e):
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// privRun runs the probe through verb ("Run", "Command" or
// "StartProcess") with n, writing in dir.
func privRun(t *testing.T, verb string, n *Namespace, dir string) (string, error) {
	t.Helper()
	switch verb {
	case "Run":
		return privProbe.Run(context.Background(), n, dir)
	case "Command":
		cmd := n.Command(context.Background(), selfExe)
		cmd.Env = append(os.Environ(), PrivProbeEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return string(out), fmt.Errorf("%w: %s", err, stderr.Bytes())
		}
		return string(out), nil
	case "StartProcess":
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		devNull, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer devNull.Close()
		attr := &os.ProcAttr{Env: append(os.Environ(), PrivProbeEnv+"="+dir, "GORACE=atexit_sleep_ms=0"), Files: []*os.File{devNull, w, os.Stderr}}
		p, err := n.StartProcess(selfExe, []string{"probe"}, attr)
		w.Close()
		if err != nil {
			return "", err
		}
		var out bytes.Buffer
		_, _ = out.ReadFrom(r)
		ps, err := p.Wait()
		if err != nil || !ps.Success() {
			return out.String(), fmt.Errorf("probe: %v %v", ps, err)
		}
		return out.String(), nil
	}
	t.Fatalf("unknown verb %s", verb)
	return "", nil
}

// landlockSystem returns read-only rules for what a program needs to
// start (its own directory, the loader's and libraries' directories,
// /proc), among those that exist, but the paths in without.
func landlockSystem(t testing.TB, without ...string) LandlockRule {
	var ro []string
	exe, err := os.Executable()
	if err != nil {
		panic(err) // (t may be nil: a helper process)
	}
	for _, p := range []string{filepath.Dir(exe), "/usr", "/lib", "/lib64", "/lib32", "/proc", "/etc", "/dev/null"} {
		if _, err := os.Stat(p); err == nil && !slices.Contains(without, p) {
			ro = append(ro, p)
		}
	}
	return LandlockReadOnly(ro...)
}

// needLandlock skips the test if the kernel has no Landlock ABI 3.
func needLandlock(t *testing.T) {
	t.Helper()
	if abi := landlockABI(); abi < llNeedFS {
		t.Skipf("the kernel's Landlock ABI is %d; these tests need %d", abi, llNeedFS)
	}
}

// needSeccomp skips the test where go-seccomp-bpf has no system call table.
func needSeccomp(t *testing.T) {
	t.Helper()
	if _, err := seccompProgram(&seccompConfig{}, false); errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
}

// TestPrivilegesFromInside applies every privilege and limit step and
// reads the effect from inside the child, through the three executors,
// which must agree. In a program that links cgo (this one with -race),
// Run's child goes through the privilege stage (privstage_linux.go).
func TestPrivilegesFromInside(t *testing.T) {
	needLandlock(t)
	needSeccomp(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	n := testNS(
		WithRlimit(unix.RLIMIT_NOFILE, 64, 64),
		WithNewSession(),
		WithLandlock(landlockSystem(t), LandlockReadWrite(dir)),
		WithCapabilities(CapNetBindService),
		WithNoNewPrivs(),
		WithSeccomp(SeccompDenyErrno(syscall.ENOTTY, "keyctl")),
	)
	var first, firstVerb string
	for _, verb := range []string{"Run", "Command", "StartProcess"} {
		out, err := privRun(t, verb, n, dir)
		if err != nil {
			t.Fatalf("%s: %v\n%s", verb, err, out)
		}
		for _, want := range []string{
			"NoNewPrivs: 1", "Seccomp: 2",
			"CapBnd: 0000000000000400", "CapPrm: 0000000000000400", "CapEff: 0000000000000400",
			"CapInh: 0000000000000400", "CapAmb: 0000000000000400",
			"nofile: 64 64", "open beyond nofile: EMFILE", "session leader: true",
			"keyctl: ENOTTY", "write allowed dir: ok", "write /dev/shm: EACCES",
		} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("%s: no %q in\n%s", verb, want, out)
			}
		}
		if first == "" {
			first, firstVerb = out, verb
		} else if out != first {
			t.Errorf("%s and %s disagree:\n%s\n%s", firstVerb, verb, first, out)
		}
	}
}

// TestLandlockWithoutNamespaces: Landlock and no_new_privs on a plain
// child, no namespace at all (as uid 65534 in make test-nobody).
func TestLandlockWithoutNamespaces(t *testing.T) {
	needLandlock(t)
	dir := t.TempDir()
	n := New(WithLandlock(landlockSystem(t), LandlockReadWrite(dir)), WithNoNewPrivs())
	if n.Flags() != 0 {
		t.Fatalf("flags %#x; want none", n.Flags())
	}
	for _, verb := range []string{"Command", "StartProcess"} {
		out, err := privRun(t, verb, n, dir)
		if err != nil {
			t.Fatalf("%s: %v\n%s", verb, err, out)
		}
		for _, want := range []string{"NoNewPrivs: 1", "write allowed dir: ok", "write /dev/shm: EACCES"} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("%s: no %q in\n%s", verb, want, out)
			}
		}
	}
}

// TestSeccompKill: a call of a killed system call kills the process with
// SIGSYS; the default list makes keyctl fail with EPERM.
func TestSeccompKill(t *testing.T) {
	needSeccomp(t)
	for _, verb := range []string{"Command", "StartProcess"} {
		out, err := privRun(t, verb, New(WithSeccomp(SeccompKill("keyctl"))), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "bad system call") && !strings.Contains(err.Error(), "signal: 31") {
			t.Errorf("%s: %v; want the probe killed by SIGSYS\n%s", verb, err, out)
		}
		out, err = privRun(t, verb, New(WithSeccomp()), t.TempDir())
		if err != nil || !strings.Contains(out, "keyctl: EPERM\n") || !strings.Contains(out, "Seccomp: 2\n") || !strings.Contains(out, "NoNewPrivs: 1\n") {
			t.Errorf("%s with the default list: %v\n%s", verb, err, out)
		}
	}
}

// TestSandboxFromInside: unshare(1) -U fails inside, checked from
// inside; the sandbox's whole set through sh.
func TestSandboxFromInside(t *testing.T) {
	needSeccomp(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1)")
	}
	script := unshare + ` -U true 2>/dev/null && echo nested-userns-ok || echo nested-userns-refused
grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/self/status
test "$(ps -o sid= -p $$ 2>/dev/null || cut -d' ' -f6 /proc/$$/stat)" -eq $$ && echo session-leader
touch /usr/linuxns-sandbox-probe 2>/dev/null && echo usr-writable || echo usr-read-only
hostname -i >/dev/null 2>&1; cat /proc/net/dev | grep -c ':' | sed 's/^/interfaces: /'`
	for _, verb := range []string{"Command", "StartProcess"} {
		n := New(WithSandbox())
		var out []byte
		var err error
		if verb == "Command" {
			out, err = n.Command(context.Background(), "/bin/sh", "-c", script).CombinedOutput()
		} else {
			out, err = startSh(n, script)
		}
		if err != nil {
			if errors.Is(err, ErrPermission) {
				t.Skipf("user namespaces blocked here: %v", err)
			}
			t.Fatalf("%s: %v\n%s", verb, err, out)
		}
		for _, want := range []string{"nested-userns-refused", "NoNewPrivs:\t1", "Seccomp:\t2", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "session-leader", "interfaces: 1", "usr-read-only"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: no %q in\n%s", verb, want, out)
			}
		}
	}
}

// startSh runs sh -c script with StartProcess and returns its output.
func startSh(n *Namespace, script string) ([]byte, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, w, w}})
	w.Close()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, _ = out.ReadFrom(r)
	ps, err := p.Wait()
	if err == nil && !ps.Success() {
		err = fmt.Errorf("sh: %v", ps)
	}
	return out.Bytes(), err
}

// TestPrivValidate: unknown names and numbers are ErrInvalid naming them,
// before anything is created.
func TestPrivValidate(t *testing.T) {
	needSeccomp(t)
	for _, c := range []struct {
		opt  Option
		want string
	}{
		{WithSeccomp(SeccompDeny("keyctl", "no_such_call", "other_bogus")), "no_such_call, other_bogus"},
		{WithSeccomp(SeccompDenyErrno(0, "keyctl")), "errno 0"},
		{WithCapabilities(Capability(99)), "capability number 99"},
		{WithLandlock(LandlockReadOnly("relative/path")), `"relative/path" is not absolute`},
		{WithRlimit(99, 1, 1), "unknown resource 99"},
		{WithRlimit(unix.RLIMIT_NOFILE, 2, 1), "soft limit 2 is above the hard limit 1"},
	} {
		err := New(c.opt).Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v; want ErrInvalid naming %q", err, c.want)
		}
	}
	if _, err := ParseCapability("net_raw"); err != nil {
		t.Error(err)
	}
	if c, err := ParseCapability("CAP_SYS_ADMIN"); err != nil || c != CapSysAdmin || c.String() != "CAP_SYS_ADMIN" {
		t.Errorf("ParseCapability: %v %v", c, err)
	}
	if _, err := ParseCapability("cap_bogus"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseCapability(cap_bogus): %v", err)
	}
	// Do refuses them, naming each.
	err := New(WithNoNewPrivs(), WithSeccomp(), WithRlimit(unix.RLIMIT_NOFILE, 10, 10)).Do(func() error { return nil })
	for _, name := range []string{"WithNoNewPrivs", "WithSeccomp", "WithRlimit"} {
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Do does not honour "+name) {
			t.Errorf("Do: %v; want a refusal of %s", err, name)
		}
	}
}

// TestSeccompProgram runs the compiled filter in golang.org/x/net/bpf's
// virtual machine: a call of another architecture is killed, an x32 call
// fails with ENOSYS, the deny list and the user namespace and TIOCSTI
// rules apply, the rest is allowed.
func TestSeccompProgram(t *testing.T) {
	needSeccomp(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the cases are x86-64's")
	}
	prog, err := seccompProgram(&seccompConfig{rules: []SeccompRule{SeccompKill("ptrace"), SeccompDenyErrno(syscall.ENOTTY, "keyctl")}}, true)
	if err != nil {
		t.Fatal(err)
	}
	var ins []bpf.Instruction
	for _, f := range seccompFilter(prog) {
		ins = append(ins, bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}.Disassemble())
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	// struct seccomp_data, in the byte order of the virtual machine's
	// loads (big-endian): nr, arch, ip, args (each low half at +4 in BE
	// terms is the kernel's low half at +0: the filter loads +0).
	call := func(auditArch uint32, nr uint32, args ...uint64) uint32 {
		d := make([]byte, 64)
		binary.BigEndian.PutUint32(d[0:], nr)
		binary.BigEndian.PutUint32(d[4:], auditArch)
		for i, a := range args {
			binary.BigEndian.PutUint32(d[16+8*i:], uint32(a))
			binary.BigEndian.PutUint32(d[16+8*i+4:], uint32(a>>32))
		}
		r, err := vm.Run(d)
		if err != nil {
			t.Fatal(err)
		}
		return uint32(r)
	}
	const x8664, i386 = 0xc000003e, 0x40000003
	for _, c := range []struct {
		name string
		got  uint32
		want uint32
	}{
		{"i386 getpid", call(i386, 20), unix.SECCOMP_RET_KILL_PROCESS},
		{"x32 getpid", call(x8664, 0x40000000|39), unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{"getpid", call(x8664, unix.SYS_GETPID), unix.SECCOMP_RET_ALLOW},
		{"keyctl", call(x8664, unix.SYS_KEYCTL), unix.SECCOMP_RET_ERRNO | uint32(unix.ENOTTY)},
		{"ptrace", call(x8664, unix.SYS_PTRACE), unix.SECCOMP_RET_KILL_PROCESS},
		{"unshare(CLONE_NEWUSER|CLONE_NEWNS)", call(x8664, unix.SYS_UNSHARE, unix.CLONE_NEWUSER|unix.CLONE_NEWNS), unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"unshare(CLONE_NEWNS)", call(x8664, unix.SYS_UNSHARE, unix.CLONE_NEWNS), unix.SECCOMP_RET_ALLOW},
		{"clone(CLONE_NEWUSER)", call(x8664, unix.SYS_CLONE, unix.CLONE_NEWUSER), unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"clone3", call(x8664, unix.SYS_CLONE3), unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{"ioctl TIOCSTI", call(x8664, unix.SYS_IOCTL, 0, unix.TIOCSTI), unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"ioctl TIOCSTI, high bits set", call(x8664, unix.SYS_IOCTL, 0, 1<<32|unix.TIOCSTI), unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{"ioctl TCGETS", call(x8664, unix.SYS_IOCTL, 0, unix.TCGETS), unix.SECCOMP_RET_ALLOW},
	} {
		if c.got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

// TestPrivPlanOrder: the privilege steps come last, in the contract's
// order, whatever the order of the options.
func TestPrivPlanOrder(t *testing.T) {
	needSeccomp(t)
	n := New(WithSeccomp(), WithNoNewPrivs(), WithCapabilities(), WithLandlock(LandlockReadOnly("/"), LandlockBestEffort()),
		WithNewSession(), WithRlimit(unix.RLIMIT_CORE, 0, 0), WithPrivateTmp())
	var got []string
	for _, s := range n.plan().Steps {
		got = append(got, stepName(&s))
	}
	want := []string{"make / recursively private", "mount tmpfs on /tmp (mode=1777)", "enter working directory",
		"set resource limit core", "start a new session", "apply Landlock rules", "drop capabilities", "install seccomp filter"}
	if landlockABI() == 0 {
		want = append(want[:5], want[6:]...)
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("steps:\n%q\nwant\n%q", got, want)
	}
}

// TestPrivFailClosed: a step that cannot be applied is a *SetupError
// naming it, and the program does not run.
func TestPrivFailClosed(t *testing.T) {
	needLandlock(t)
	marker := filepath.Join(t.TempDir(), "ran")
	n := New(WithLandlock(LandlockReadOnly("/no/such/linuxns/path")))
	for _, verb := range []string{"Command", "StartProcess"} {
		var err error
		if verb == "Command" {
			// A command's set-up error is on its standard error, with
			// status 125.
			cmd := n.Command(context.Background(), "/bin/touch", marker)
			out, err := cmd.CombinedOutput()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "apply Landlock rules") || !strings.Contains(string(out), "/no/such/linuxns/path") {
				t.Errorf("Command: %v, %s; want status 125 naming the step and the path", err, out)
			}
		} else {
			var p *os.Process
			if p, err = n.StartProcess("/bin/touch", []string{"touch", marker}, &os.ProcAttr{}); err == nil {
				p.Wait()
			}
		}
		var se *SetupError
		if verb == "StartProcess" && (!errors.As(err, &se) || !strings.Contains(se.Step, "apply Landlock rules") || !errors.Is(err, syscall.ENOENT)) {
			t.Errorf("%s: %v; want a *SetupError of step \"apply Landlock rules\" wrapping ENOENT", verb, err)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("%s: the program ran", verb)
		}
	}
}

// PrivSetupEnv makes the test binary call Setup with
// privEveryVerbOptions, then print privDescribe (of the directory in the
// variable) and exit.
const PrivSetupEnv = "LINUXNS_TEST_PRIV_SETUP"

// privEveryVerbOptions are steps that any Go program can apply to every
// thread (seccomp's TSYNC sets no_new_privs too), with no namespace.
func privEveryVerbOptions() []Option {
	return []Option{WithNoNewPrivs(), WithSeccomp(), WithRlimit(unix.RLIMIT_NOFILE, 50, 50)}
}

// TestPrivEveryVerb: every verb that starts a process applies the steps,
// without any namespace: Run, Task.Run, a Pool, Command, StartProcess,
// Prepare and Setup.
func TestPrivEveryVerb(t *testing.T) {
	needSeccomp(t)
	dir := t.TempDir()
	n := New(privEveryVerbOptions()...)
	if n.Flags() != 0 {
		t.Fatalf("flags %#x; want none", n.Flags())
	}
	check := func(verb, out string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v\n%s", verb, err, out)
			return
		}
		for _, want := range []string{"NoNewPrivs: 1", "Seccomp: 2", "keyctl: EPERM", "nofile: 50 50", "open beyond nofile: EMFILE"} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("%s: no %q in\n%s", verb, want, out)
			}
		}
	}
	for _, verb := range []string{"Run", "Command", "StartProcess"} {
		out, err := privRun(t, verb, n, dir)
		check(verb, out, err)
	}
	pool, err := n.Pool(1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := privProbe.Run(context.Background(), pool, dir)
	pool.Close()
	check("Pool", out, err)

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.Prepare(selfExe, []string{"probe"}, &os.ProcAttr{Env: append(os.Environ(), PrivProbeEnv+"="+dir), Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r)
	r.Close()
	_, _ = proc.Wait()
	check("Prepare", buf.String(), nil)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), PrivSetupEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
	b, err := cmd.Output()
	check("Setup", string(b), err)
}
