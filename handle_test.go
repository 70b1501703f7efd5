//go:build linux

package namespace

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/syscalls"
)

var handleFunc = Register("handle-test-hostname", func(ctx context.Context, args []string) error {
	h, _ := os.Hostname()
	if h != args[0] {
		return errors.New("hostname " + h + ", want " + args[0])
	}
	b, err := os.ReadFile("/tmp/shared")
	if err != nil || string(b) != "x" {
		return errors.New("the held /tmp does not have the file of the other job")
	}
	return nil
})

// TestHandleJobsShareNamespaces: jobs of one Handle, by each verb, run in
// the same namespaces (a file one writes in the held /tmp, the others
// read), one after the other and concurrently.
func TestHandleJobsShareNamespaces(t *testing.T) {
	needUserNS(t)
	before := hostMounts(t)
	host := "hd-" + strconv.Itoa(os.Getpid())
	h, err := testNS(WithPrivateTmp(), WithHostname(host), WithPrivateNet()).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if out, err := h.Command(context.Background(), "/bin/sh", "-c", "echo -n x > /tmp/shared; hostname").Output(); err != nil || string(out) != host+"\n" {
		t.Fatalf("Command: %q %v", out, err)
	}
	if err := h.Run(context.Background(), handleFunc, host); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := h.StartProcess("/bin/sh", []string{"sh", "-c", `test "$(cat /tmp/shared)" = x`}, &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr}})
			if err == nil {
				var st *os.ProcessState
				if st, err = p.Wait(); err == nil && !st.Success() {
					err = errors.New(st.String())
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(context.Background(), handleFunc, host); !errors.Is(err, ErrInvalid) {
		t.Errorf("Run after Close: %v, want ErrInvalid", err)
	}
	checkMountsUnchanged(t, before)
}

// TestHandlePIDNamespace: the holder is PID 1; jobs run inside as other
// pids; Close ends them.
func TestHandlePIDNamespace(t *testing.T) {
	needUserNS(t)
	h, err := testNS(WithPrivatePID()).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	out, err := h.Command(context.Background(), "/bin/sh", "-c", "echo $$; readlink /proc/self/ns/pid").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	want, _ := os.Readlink("/proc/" + strconv.Itoa(h.Pid()) + "/ns/pid_for_children")
	if len(f) < 2 || f[0] == "1" || f[1] != want {
		t.Errorf("inside the held PID namespace: %q", out)
	}
	p, err := h.StartProcess("/bin/sleep", []string{"sleep", "1000"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if st, _ := p.Wait(); st.Success() {
		t.Error("a job in the held PID namespace outlived Close")
	}
}

// TestHandleThousandJobs: 1,000 jobs in one Handle leave no descriptor,
// thread, mount or process behind.
func TestHandleThousandJobs(t *testing.T) {
	needUserNS(t)
	h, err := testNS(WithPrivateTmp(), WithPrivateNet()).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	run := func() {
		p, err := h.StartProcess("/bin/true", nil, &os.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		run()
	}
	before := takeHandleUsage(t, h)
	for i := range 1000 {
		if i%100 == 0 {
			if err := h.Command(context.Background(), "/bin/true").Run(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		run()
	}
	before.checkNoGrowth(t, h)
	if c := proctest.Children(); len(c) != 1 || c[0] != h.Pid() {
		t.Errorf("children: %v, want only the holder %d", c, h.Pid())
	}
}

// handleUsage is what jobs in a Handle could leave behind: the caller's
// descriptors and threads, and the mounts of the held mount namespace.
type handleUsage struct{ fds, threads, mounts int }

func takeHandleUsage(t *testing.T, h *Handle) handleUsage {
	return handleUsage{countFds(t), proctest.Threads(), heldMounts(h)}
}

// heldMounts counts the mounts that h's holder sees.
func heldMounts(h *Handle) int {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(h.Pid()) + "/mountinfo")
	return strings.Count(string(b), "\n")
}

// checkNoGrowth fails t if the usage grew since u was taken (a few threads
// of the runtime's own are allowed).
func (u handleUsage) checkNoGrowth(t *testing.T, h *Handle) {
	t.Helper()
	if got := countFds(t); got > u.fds {
		t.Errorf("descriptors: %d before, %d after", u.fds, got)
	}
	if got := proctest.Threads(); got > u.threads+4 {
		t.Errorf("threads: %d before, %d after", u.threads, got)
	}
	if got := heldMounts(h); got != u.mounts {
		t.Errorf("mounts of the held namespace: %d before, %d after", u.mounts, got)
	}
}

// TestHandlePinInterop pins a held network namespace at a file, which
// nsenter --net=FILE enters, and at /run/netns/NAME, which `ip netns exec`
// enters; Close leaves neither mounted nor the files made. It runs in a
// mount namespace of its own with a tmpfs on /run (runOwnMountNS).
func TestHandlePinInterop(t *testing.T) {
	if !asRoot() {
		t.Skip("Pin bind-mounts in the caller's mount namespace: root only")
	}
	if !runOwnMountNS(t) {
		return
	}
	before := hostMounts(t)
	h, err := New(WithPrivateNet(), WithPrivateUTS(), WithHostname("pin-test")).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	file := filepath.Join(t.TempDir(), "net")
	if err := h.Pin(syscalls.Net, file); err != nil {
		t.Fatal(err)
	}
	if err := h.Pin(syscalls.PID, filepath.Join(t.TempDir(), "pid")); !errors.Is(err, ErrInvalid) {
		t.Errorf("Pin of a kind not held: %v", err)
	}
	want, _ := os.Readlink("/proc/" + strconv.Itoa(h.Pid()) + "/ns/net")
	if p, err := exec.LookPath("nsenter"); err == nil {
		out, err := exec.Command(p, "--net="+file, "readlink", "/proc/self/ns/net").Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("nsenter --net=%s: %q %v, want %s", file, out, err, want)
		}
	} else {
		t.Error("nsenter (util-linux) is not installed")
	}
	name := "linuxns-pin-" + strconv.Itoa(os.Getpid())
	if err := os.MkdirAll("/run/netns", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.Pin(syscalls.Net, "/run/netns/"+name); err != nil {
		t.Fatal(err)
	}
	if ip, err := exec.LookPath("ip"); err == nil {
		out, err := exec.Command(ip, "netns", "exec", name, "readlink", "/proc/self/ns/net").Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("ip netns exec %s: %q %v, want %s", name, out, err, want)
		}
	} else {
		t.Error("ip (iproute2) is not installed")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{file, "/run/netns/" + name} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after Close: %v", f, err)
		}
	}
	checkMountsUnchanged(t, before)
}

// TestJoinIPNetns joins a network namespace that `ip netns add` made, in a
// mount namespace of the test's own with a tmpfs on /run (runOwnMountNS).
func TestJoinIPNetns(t *testing.T) {
	if !asRoot() {
		t.Skip("ip netns add needs root")
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatal("ip (iproute2) is not installed")
	}
	if !runOwnMountNS(t) {
		return
	}
	name := "linuxns-join-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	defer func() {
		if out, err := exec.Command(ip, "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete: %v\n%s", err, out)
		}
	}()
	var st syscallsStat
	want := st.link(t, "/run/netns/"+name)
	for verb, run := range map[string]func(n *Namespace) (string, error){
		"Command": func(n *Namespace) (string, error) {
			out, err := n.Command(context.Background(), "readlink", "/proc/self/ns/net").Output()
			return strings.TrimSpace(string(out)), err
		},
		"Do": func(n *Namespace) (string, error) {
			var s string
			err := n.Do(func() error { s = st.link(t, "/proc/thread-self/ns/net"); return nil })
			return s, err
		},
	} {
		got, err := run(New(WithJoin(syscalls.Net, "/run/netns/"+name), WithPrivateTmp()))
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %s", verb, got, err, want)
		}
	}
}

// syscallsStat names a namespace file by its id as readlink shows it.
type syscallsStat struct{}

func (syscallsStat) link(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, err := syscalls.IDOfFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return "net:[" + strconv.FormatUint(id.Ino, 10) + "]"
}
