//go:build linux

package namespace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// cgroupHogEnv makes the test binary a helper of the cgroup tests (see
// init below): "memory" allocates until it is killed, "fork" forks until
// the kernel refuses and prints how many it forked and the errno.
const cgroupHogEnv = "LINUXNS_TEST_CGROUP_HOG"

func init() {
	switch os.Getenv(cgroupHogEnv) {
	case "memory":
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
			_ = keep[len(keep)-1] // kept: the memory stays charged
		}
	case "orphan":
		// A caller that is killed while its child runs
		// (TestCgroupSweepAfterCallerKilled): the child's cgroup holds a
		// shell's background sleep, whose pid it prints.
		var opts []Option
		if os.Geteuid() != 0 {
			opts = append(opts, WithPrivateUser())
		}
		_, err := New(append(opts, WithPrivateUTS(), WithPidsLimit(64))...).StartProcess("/bin/sh",
			[]string{"sh", "-c", "sleep 1000 & echo $!; wait"}, &os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for {
			time.Sleep(time.Hour) // until the test kills it
		}
	case "fork":
		n, e := forkSleepers(1000)
		fmt.Printf("forked %d: %d\n", n, int(e))
		os.Exit(0)
	}
}

// forkSleepers forks up to max processes that wait forever (raw clone: the
// copies run no Go code), and returns how many it forked and the errno of
// the first refusal.
//
//go:norace
func forkSleepers(max int) (int, syscall.Errno) {
	for i := 0; i < max; i++ {
		r1, _, e := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		if e != 0 {
			return i, e
		}
		if r1 == 0 {
			for {
				syscall.RawSyscall6(unix.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
			}
		}
	}
	return max, 0
}

// cgroupMount returns the mount point of the cgroup v2 hierarchy, or "".
func cgroupMount(t *testing.T) string {
	t.Helper()
	mnt, err := cgroup2Mount()
	if err != nil {
		return ""
	}
	return mnt
}

// cgroupParentFor returns the directory under which the tests' children
// get their cgroups (the library's default), with ctls enabled for its
// children, or skips the test saying why not.
func cgroupParentFor(t *testing.T, ctls ...string) string {
	t.Helper()
	if cgroupMount(t) == "" {
		t.Skip("no cgroup v2 hierarchy is mounted here (a cgroup v1 host): the limits are tested in the kernel matrix (make test-kernels)")
	}
	parent, err := defaultCgroupParent()
	if err != nil {
		t.Skipf("no default cgroup parent: %v", err)
	}
	enabled, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	for _, c := range ctls {
		if !hasWord(enabled, c) {
			t.Skipf("the %s controller is not enabled for the children of %s (here: %q): the limits are tested in the kernel matrix (make test-kernels)", c, parent, strings.TrimSpace(string(enabled)))
		}
	}
	if unix.Access(parent, unix.W_OK) != nil {
		t.Skipf("%s is not writable by uid %d: no delegated subtree here", parent, os.Geteuid())
	}
	return parent
}

// cgroupChildren returns the cgroups made by this process under parent.
func cgroupChildren(t *testing.T, parent string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(parent, "namespace-"+strconv.Itoa(os.Getpid())+"-*"))
	return m
}

// checkNoCgroupLeft fails the test if a cgroup made by this process is
// left under parent.
func checkNoCgroupLeft(t *testing.T, parent string) {
	t.Helper()
	if left := cgroupChildren(t, parent); len(left) > 0 {
		t.Errorf("cgroups left under %s: %v", parent, left)
	}
}

var cgroupProbe = Register("test-cgroup-probe", func(ctx context.Context, args []string) error {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			if len(args) > 0 && args[0] != p {
				return fmt.Errorf("in cgroup %q, want %q", p, args[0])
			}
			return nil
		}
	}
	return fmt.Errorf("no cgroup v2 line in %q", b)
})

// relCgroup returns dir relative to the cgroup v2 mount, as /proc/self/cgroup shows it.
func relCgroup(t *testing.T, dir string) string {
	t.Helper()
	rel, err := filepath.Rel(cgroupMount(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	return "/" + strings.TrimPrefix(rel, ".")
}

// TestCgroupInvalid: non-positive limits, relative paths and WithCgroup
// with a limit are ErrInvalid, reported before anything starts, on every
// host.
func TestCgroupInvalid(t *testing.T) {
	for name, o := range map[string][]Option{
		"memory 0":        {WithMemoryLimit(0)},
		"memory negative": {WithMemoryLimit(-1)},
		"pids 0":          {WithPidsLimit(0)},
		"cpus 0":          {WithCPULimit(0)},
		"cpus negative":   {WithCPULimit(-2)},
		"cpus tiny":       {WithCPULimit(0.001)},
		"parent relative": {WithCgroupParent("sys/fs/cgroup")},
		"cgroup relative": {WithCgroup("x")},
		"join and limit":  {WithCgroup("/sys/fs/cgroup/x"), WithPidsLimit(10)},
	} {
		t.Run(name, func(t *testing.T) {
			err := New(o...).Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate: %v, want ErrInvalid", err)
			}
			if err := New(o...).Run(context.Background(), cgroupProbe); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Run: %v, want ErrInvalid", err)
			}
		})
	}
	if err := New(WithMemoryLimit(1<<30), WithPidsLimit(10), WithCPULimit(0.5)).Validate(); err != nil {
		t.Fatalf("valid limits: %v", err)
	}
}

// TestCgroupUnsupportedHere: on a host without a cgroup v2 memory
// controller (a cgroup v1 host, as the CI machine), every verb refuses
// WithMemoryLimit with ErrUnsupported saying so, and starts nothing.
func TestCgroupUnsupportedHere(t *testing.T) {
	if mnt := cgroupMount(t); mnt != "" {
		parent, err := defaultCgroupParent()
		if err == nil {
			b, _ := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
			if hasWord(b, "memory") {
				t.Skipf("this host has the cgroup v2 memory controller at %s: the limits themselves are tested", parent)
			}
		}
	}
	marker := filepath.Join(t.TempDir(), "started")
	check := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
		if !strings.Contains(err.Error(), "cgroup v2") && !strings.Contains(err.Error(), "memory controller") {
			t.Errorf("err = %v: does not say that cgroup v2 or its memory controller is missing", err)
		}
		if _, serr := os.Stat(marker); serr == nil {
			t.Fatal("the child ran")
		}
	}
	ns := testNS(WithMemoryLimit(64 << 20))
	t.Run("Run", func(t *testing.T) { check(t, ns.Run(context.Background(), cgroupProbe)) })
	t.Run("Command", func(t *testing.T) {
		check(t, ns.Command(context.Background(), "/bin/sh", "-c", "touch "+marker).Run())
	})
	t.Run("StartProcess", func(t *testing.T) {
		p, err := ns.StartProcess("/bin/sh", []string{"sh", "-c", "touch " + marker}, nil)
		if p != nil {
			_, _ = p.Wait()
		}
		check(t, err)
	})
	t.Run("Prepare", func(t *testing.T) {
		p, err := ns.Prepare("/bin/sh", []string{"sh", "-c", "touch " + marker}, nil)
		if p != nil {
			_ = p.Abort()
		}
		check(t, err)
	})
	t.Run("Pool", func(t *testing.T) {
		p, err := ns.Pool(1)
		if p != nil {
			_ = p.Close()
		}
		check(t, err)
	})
}

// TestCgroupMissingParent: a WithCgroupParent or WithCgroup directory
// that does not exist is an error naming it, and nothing starts.
func TestCgroupMissingParent(t *testing.T) {
	mnt := cgroupMount(t)
	if mnt == "" {
		mnt = "/sys/fs/cgroup"
	}
	missing := filepath.Join(mnt, fmt.Sprintf("no-such-cgroup-%d", os.Getpid()))
	for _, o := range []Option{WithCgroupParent(missing), WithCgroup(missing)} {
		err := testNS(o).Run(context.Background(), cgroupProbe)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("err = %v, want an error naming %s", err, missing)
		}
		if cgroupMount(t) != "" && !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	}
}

// TestCgroupBornAndRemoved: with WithCgroupParent, the child of every verb
// is born in a cgroup of its own under it (no limit: no controller is
// needed, so this runs wherever a cgroup v2 directory is writable), what
// it leaves there is killed, and the cgroup is gone once the verb (or
// CommandCgroup, ProcessCgroup) returns.
func TestCgroupBornAndRemoved(t *testing.T) {
	parent := cgroupParentFor(t)
	ns := testNS(WithCgroupParent(parent))
	under := filepath.Join(relCgroup(t, parent), "namespace-"+strconv.Itoa(os.Getpid())+"-")
	t.Run("Run", func(t *testing.T) {
		if err := ns.Run(context.Background(), cgroupProbe); err != nil {
			t.Fatal(err)
		}
		checkNoCgroupLeft(t, parent)
	})
	// The command leaves a process behind in its cgroup, which is killed.
	script := `grep '^0::' /proc/self/cgroup; sleep 1000 & echo $!`
	checkOut := func(t *testing.T, out []byte) int {
		t.Helper()
		lines := strings.Fields(string(out))
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "0::"+under) {
			t.Fatalf("output %q: want the cgroup under %s and a pid", out, under)
		}
		pid, _ := strconv.Atoi(lines[1])
		return pid
	}
	checkGone := func(t *testing.T, pid int) {
		t.Helper()
		if st := proctest.State(pid); st != 0 && st != 'Z' {
			t.Errorf("the process %d left in the cgroup is alive (state %c)", pid, st)
		}
	}
	t.Run("Command", func(t *testing.T) {
		cmd := ns.Command(context.Background(), "/bin/sh", "-c", script)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Stdout stays open in the sleeper: do not wait for it.
		if _, err := cmd.Process.Wait(); err != nil {
			t.Fatal(err)
		}
		u, err := CommandCgroup(context.Background(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		pid := checkOut(t, out.Bytes())
		checkGone(t, pid)
		if _, err := os.Stat(u.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it removed", u.Path, err)
		}
		checkNoCgroupLeft(t, parent)
	})
	t.Run("StartProcess", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		p, err := ns.StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := ProcessCgroup(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 4096)
		m, _ := r.Read(out)
		checkGone(t, checkOut(t, out[:m]))
		checkNoCgroupLeft(t, parent)
	})
	t.Run("PrepareAbort", func(t *testing.T) {
		p, err := ns.Prepare("/bin/true", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(cgroupChildren(t, parent)) != 1 {
			t.Errorf("the held child has no cgroup of its own under %s", parent)
		}
		if err := p.Abort(); err != nil {
			t.Fatal(err)
		}
		checkNoCgroupLeft(t, parent)
	})
}

// TestCgroupJoin: WithCgroup starts the child in an existing cgroup and
// leaves it in place.
func TestCgroupJoin(t *testing.T) {
	parent := cgroupParentFor(t)
	dir := filepath.Join(parent, fmt.Sprintf("namespace-test-join-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup for the test: %v", err)
	}
	defer os.Remove(dir)
	ns := testNS(WithCgroup(dir))
	if err := ns.Run(context.Background(), cgroupProbe, relCgroup(t, dir)); err != nil {
		t.Fatal(err)
	}
	out, err := ns.Command(context.Background(), "/bin/sh", "-c", "grep '^0::' /proc/self/cgroup").Output()
	if err != nil || strings.TrimSpace(string(out)) != "0::"+relCgroup(t, dir) {
		t.Fatalf("Command: %q, %v; want 0::%s", out, err, relCgroup(t, dir))
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the joined cgroup is gone: %v", err)
	}
}

var memoryHog = Register("test-cgroup-memory-hog", func(ctx context.Context, args []string) error {
	var keep [][]byte
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
		if len(keep) > 4096 {
			return errors.New("4 GiB allocated: the memory limit did not hold")
		}
	}
})

// TestCgroupMemoryLimit: a memory hog is killed by WithMemoryLimit, and
// the error says so (ErrMemoryLimit): Run's, and CommandCgroup's and
// ProcessCgroup's; the cgroup is gone afterwards.
func TestCgroupMemoryLimit(t *testing.T) {
	parent := cgroupParentFor(t, "memory")
	ns := testNS(WithMemoryLimit(48 << 20))
	t.Run("Run", func(t *testing.T) {
		err := ns.Run(context.Background(), memoryHog)
		var ee *ExitError
		if !errors.Is(err, ErrMemoryLimit) || !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL {
			t.Fatalf("err = %v, want ErrMemoryLimit and an ExitError with SIGKILL", err)
		}
		checkNoCgroupLeft(t, parent)
	})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Command", func(t *testing.T) {
		cmd := ns.Command(context.Background(), self)
		cmd.Env = append(os.Environ(), cgroupHogEnv+"=memory")
		err := cmd.Run()
		if err == nil {
			t.Fatal("the memory hog exited")
		}
		u, err := CommandCgroup(context.Background(), cmd)
		if !errors.Is(err, ErrMemoryLimit) || u.OOMKills == 0 {
			t.Fatalf("CommandCgroup: %+v, %v; want ErrMemoryLimit", u, err)
		}
		// The kernel charges a little past memory.max before it reclaims.
		if u.MemoryPeak >= 0 && (u.MemoryPeak < 24<<20 || u.MemoryPeak > 49<<20) {
			t.Errorf("memory.peak %d, want about the limit, %d", u.MemoryPeak, 48<<20)
		}
		checkNoCgroupLeft(t, parent)
	})
	t.Run("StartProcess", func(t *testing.T) {
		p, err := ns.StartProcess(self, []string{self}, &os.ProcAttr{Env: append(os.Environ(), cgroupHogEnv+"=memory"), Files: []*os.File{nil, nil, os.Stderr}})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := p.Wait()
		if ws := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("status %v, want killed by SIGKILL", st)
		}
		if _, err := ProcessCgroup(context.Background(), p); !errors.Is(err, ErrMemoryLimit) {
			t.Fatalf("ProcessCgroup: %v; want ErrMemoryLimit", err)
		}
		checkNoCgroupLeft(t, parent)
	})
}

// TestCgroupPool: each child of a Pool is born in a cgroup of its own
// (WithCgroupParent; no controller needed), removed by Close; with a
// memory limit, a memory hog run on it is killed and Pool.Run's error
// says so.
func TestCgroupPool(t *testing.T) {
	parent := cgroupParentFor(t)
	under := filepath.Join(relCgroup(t, parent), "namespace-"+strconv.Itoa(os.Getpid())+"-")
	p, err := testNS(WithCgroupParent(parent)).Pool(2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := p.Run(context.Background(), cgroupProbePrefix, under); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoCgroupLeft(t, parent)

	t.Run("memory", func(t *testing.T) {
		parent := cgroupParentFor(t, "memory")
		p, err := testNS(WithMemoryLimit(48 << 20)).Pool(1)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background(), memoryHog); !errors.Is(err, ErrMemoryLimit) {
			t.Fatalf("Pool.Run of the memory hog: %v, want ErrMemoryLimit", err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		checkNoCgroupLeft(t, parent)
	})
}

var cgroupProbePrefix = Register("test-cgroup-probe-prefix", func(ctx context.Context, args []string) error {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), "0::"+args[0]) {
		return fmt.Errorf("in cgroup %q, want one under %s", b, args[0])
	}
	return nil
})

// TestCgroupPidsLimit: a fork loop is held at WithPidsLimit (EAGAIN), and
// the processes it left are killed with the cgroup.
func TestCgroupPidsLimit(t *testing.T) {
	parent := cgroupParentFor(t, "pids")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const limit = 40
	cmd := testNS(WithPidsLimit(limit)).Command(context.Background(), self)
	cmd.Env = append(os.Environ(), cgroupHogEnv+"=fork")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fork loop: %v (%q)", err, out)
	}
	var n, e int
	if _, err := fmt.Sscanf(string(out), "forked %d: %d", &n, &e); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if syscall.Errno(e) != syscall.EAGAIN || n == 0 || n >= limit {
		t.Fatalf("forked %d, then errno %v; want fewer than %d, then EAGAIN", n, syscall.Errno(e), limit)
	}
	if _, err := CommandCgroup(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	checkNoCgroupLeft(t, parent)
}

var cpuBusy = Register("test-cgroup-cpu-busy", func(ctx context.Context, args []string) error {
	mnt, err := cgroup2Mount()
	if err != nil {
		return err
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	own := strings.TrimSpace(strings.TrimPrefix(string(b[bytes.LastIndex(b, []byte("0::")):]), "0::"))
	dir := filepath.Join(mnt, own)
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	stat := filepath.Join(dir, "cpu.stat")
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
	}
	if v := readKeyed(dfd, "cpu.stat", "nr_throttled"); v <= 0 {
		return fmt.Errorf("%s: nr_throttled %d after a busy loop, want > 0", stat, v)
	}
	return nil
})

// TestCgroupCPULimit: a busy loop under WithCPULimit is throttled (the
// cgroup's cpu.stat counts throttled periods).
func TestCgroupCPULimit(t *testing.T) {
	parent := cgroupParentFor(t, "cpu")
	if err := testNS(WithCPULimit(0.1)).Run(context.Background(), cpuBusy); err != nil {
		t.Fatal(err)
	}
	checkNoCgroupLeft(t, parent)
}

// TestCgroupSetup: the program that Setup continues inside is born in
// its own cgroup; a memory hog there is killed, its parent says so and
// exits 137, and the cgroup is gone. Where the host has no memory
// controller, Setup refuses with ErrUnsupported and nothing continues.
func TestCgroupSetup(t *testing.T) {
	cmd := exec.Command(testBinary(t, "setupdemo"), "hog")
	cmd.Env = append(os.Environ(), "SETUPDEMO_MEMORY="+strconv.Itoa(48<<20))
	if mnt := cgroupMount(t); mnt != "" {
		if parent, err := defaultCgroupParent(); err == nil {
			if b, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control")); hasWord(b, "memory") {
				out, code := runCmd(t, cmd)
				if code != 137 || !strings.Contains(out, ErrMemoryLimit.Error()) {
					t.Fatalf("exit %d, %q: want 137 and ErrMemoryLimit's text", code, out)
				}
				if left, _ := filepath.Glob(filepath.Join(parent, "namespace-"+strconv.Itoa(cmd.Process.Pid)+"-*")); len(left) > 0 {
					t.Errorf("cgroups left: %v", left)
				}
				return
			}
		}
	}
	out, code := runCmd(t, cmd)
	if code != 3 || !strings.Contains(out, "not supported") || strings.Contains(out, "inside,") {
		t.Fatalf("exit %d, %q: want Setup to fail with ErrUnsupported, nothing inside", code, out)
	}
}

// TestCgroupFreezeKill: where the kernel has no cgroup.kill (before
// 5.14), what the child left is frozen and killed one by one, and the
// cgroup removed.
func TestCgroupFreezeKill(t *testing.T) {
	parent := cgroupParentFor(t)
	defer func(f string) { cgroupKillFile = f }(cgroupKillFile)
	cgroupKillFile = "no-such-file"
	for i := 0; i < 3; i++ {
		cmd := testNS(WithCgroupParent(parent)).Command(context.Background(), "/bin/sh", "-c", "for i in 1 2 3 4 5; do sleep 1000 & done; echo $!")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Process.Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := CommandCgroup(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
		if err != nil {
			t.Fatalf("output %q", out.String())
		}
		if st := proctest.State(pid); st != 0 && st != 'Z' {
			t.Errorf("the process %d left in the cgroup is alive (state %c)", pid, st)
		}
		checkNoCgroupLeft(t, parent)
	}
}

func TestCgroupCPUMax(t *testing.T) {
	for cpus, want := range map[float64]string{0.5: "50000 100000", 2: "200000 100000", 0.01: "1000 100000", 1.234567: "123457 100000"} {
		if got := cpuMax(cpus); got != want {
			t.Errorf("cpuMax(%v) = %q, want %q", cpus, got, want)
		}
	}
}
