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
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/syscalls"
)

// hostileMountNS starts a process whose mount namespace (and user
// namespace, unprivileged) a caller will join, after script has run there
// as its root: script may put what it likes on /proc. It returns the
// process's pid and the kinds to join; the process is killed at the
// test's end.
func hostileMountNS(t *testing.T, script string) (int, []syscalls.Type) {
	t.Helper()
	needUserNS(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := testNS(WithPrivateMount()).StartProcess("/bin/sh", []string{"sh", "-c", script + " && echo ready >&1 && exec sleep 1000"},
		&os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill(); _, _ = p.Wait() })
	b := make([]byte, 6)
	if n, _ := r.Read(b); string(b[:n]) != "ready\n" {
		t.Fatalf("the hostile mount namespace was not set up: %q", b[:n])
	}
	kinds := joinKinds(syscalls.Mount)
	return p.Pid, kinds
}

// TestJoinedProcCannotSteer: after joining a mount namespace whose owner
// put a tmpfs of its own on /proc, the package reads and writes nothing
// of the caller's through it. The time offsets were written to
// /proc/self/timens_offsets looked up there, so a link from self to a
// directory of the owner's choice made the caller write a file there with
// its rights (and the program ran without offsets); WithKillDescendants'
// subreaper killed every pid that /proc/thread-self/children listed there,
// an unrelated process of the caller's included.
func TestJoinedProcCannotSteer(t *testing.T) {
	t.Run("time offsets", func(t *testing.T) {
		if _, err := os.Stat("/proc/self/ns/time"); err != nil {
			t.Skip("kernel has no time namespaces")
		}
		dir := proctest.SharedDir(t, "", 0o755)
		victim := filepath.Join(dir, "timens_offsets")
		if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		pid, kinds := hostileMountNS(t, "mount -t tmpfs none /proc && ln -s "+dir+" /proc/self")
		out, err := New(WithJoinProcess(pid, kinds...), WithPrivateTime(time.Hour, 0)).
			Command(context.Background(), "/bin/sh", "-c", "tr -s ' ' </proc/self/timens_offsets 2>&1 || true").CombinedOutput()
		if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
			t.Errorf("the file the joined /proc pointed at was written: %q", b)
		}
		// The program sees the joined /proc (a link to the directory):
		// the offsets are checked through the clock instead.
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var host unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &host)
		got, err := monotonicTask.Run(context.Background(), New(WithJoinProcess(pid, kinds...), WithPrivateTime(time.Hour, 0)), 0)
		if err != nil {
			t.Fatal(err)
		}
		if h := time.Duration(host.Nano()); got < h+time.Hour || got > h+time.Hour+10*time.Minute {
			t.Errorf("CLOCK_MONOTONIC inside = %v, host %v: the offsets were not set", got, h)
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
			t.Errorf("after Run: the file the joined /proc pointed at was written: %q", b)
		}
	})
	t.Run("kill descendants", func(t *testing.T) {
		victim := exec.Command("sleep", "1000")
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = victim.Process.Kill(); _ = victim.Wait() })
		v := strconv.Itoa(victim.Process.Pid)
		pid, kinds := hostileMountNS(t, "mount -t tmpfs none /proc && mkdir /proc/thread-self && echo '"+v+" ' >/proc/thread-self/children")
		n := New(WithJoinProcess(pid, kinds...), WithKillDescendants())
		if out, err := n.Command(context.Background(), "/bin/true").CombinedOutput(); err != nil {
			t.Logf("Command: %v: %s", err, out) // a refusal is fine; a kill is not
		}
		if p, err := n.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{}); err == nil {
			_, _ = p.Wait()
		}
		if err := victim.Process.Signal(syscall.Signal(0)); err != nil || procState(victim.Process.Pid) == "Z" {
			t.Errorf("a process listed in the joined /proc's children file was killed (%v)", err)
		}
	})
}

// procState returns the state letter of process pid ("" if gone).
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// TestJoinProcessExited: a process that has exited but is not yet reaped
// has no namespaces to join; WithJoinProcess without kinds joined none of
// them and ran the program in the caller's namespaces, reporting nothing.
func TestJoinProcessExited(t *testing.T) {
	needUserNS(t)
	p, err := testNS(WithHostname("gone")).StartProcess("/bin/sleep", []string{"sleep", "1000"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = p.Wait() }()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); procState(p.Pid) != "Z"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the process did not become a zombie")
		}
	}
	for name, n := range map[string]*Namespace{"all": New(WithJoinProcess(p.Pid)), "uts": New(WithJoinProcess(p.Pid, syscalls.UTS))} {
		out, err := n.Command(context.Background(), "hostname").CombinedOutput()
		if err == nil {
			t.Errorf("%s: joined an exited process: ran, hostname %q", name, out)
		}
		if name == "all" && !strings.Contains(string(out)+errString(err), "has exited") {
			t.Errorf("%s: %v: %s; want an error saying the process has exited", name, err, out)
		}
		if _, err := n.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{}); err == nil {
			t.Errorf("%s: StartProcess joined an exited process", name)
		}
	}
}

// TestJoinTimeNamespaceStartProcess: StartProcess joins a time namespace
// (a Handle's, by WithJoin and through the Handle): the raw child that
// joins it has memory of its own, as setns(2) requires; sharing the
// caller's, it failed with EUSERS, reported as a namespace limit.
func TestJoinTimeNamespaceStartProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("kernel has no time namespaces")
	}
	ctx := context.Background()
	h, err := testNS(WithPrivateTime(time.Hour, 0), WithPrivateUTS()).Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	const script = "tr -s ' ' </proc/self/timens_offsets | head -1"
	run := func(t *testing.T, start func(string, []string, *os.ProcAttr) (*os.Process, error)) {
		t.Helper()
		r, w, _ := os.Pipe()
		defer r.Close()
		p, err := start("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := r.Read(b)
		if st, err := p.Wait(); err != nil || !st.Success() {
			t.Fatal(st, err)
		}
		if got := string(b[:n]); got != "monotonic 3600 0\n" {
			t.Errorf("offsets inside: %q", got)
		}
	}
	t.Run("Handle", func(t *testing.T) { run(t, h.StartProcess) })
	t.Run("WithJoin", func(t *testing.T) {
		opts := []Option{WithJoin(syscalls.Time, "/proc/"+strconv.Itoa(h.Pid())+"/ns/time_for_children")}
		if !asRoot() {
			opts = append(opts, WithJoin(syscalls.User, "/proc/"+strconv.Itoa(h.Pid())+"/ns/user"))
		}
		run(t, New(opts...).StartProcess)
	})
}

// TestJoinProcessKeepsCreatedPID: WithJoinProcess without kinds, with
// WithPrivatePID and a process in a PID namespace of its own: the PID
// namespace is new for every verb (Run and a Pool failed with ErrProtocol:
// the join stage counted the process's PID namespace as joined).
// Unprivileged, where the process's user namespace is joined too, every
// verb refuses the new PID namespace there alike.
func TestJoinProcessKeepsCreatedPID(t *testing.T) {
	pid := joinTarget(t, WithPrivatePID())
	targetPID := nsLink(t, strconv.Itoa(pid), "pid")
	n := New(WithJoinProcess(pid), WithPrivatePID())
	// Unprivileged, the target's user namespace is joined too, in which a
	// new PID namespace is refused: every verb says so.
	refused := !asRoot()
	const refusal = "a new PID namespace inside a joined user namespace"
	check := func(t *testing.T, got pidView, err error) {
		t.Helper()
		if refused {
			if err == nil || !strings.Contains(err.Error(), refusal) {
				t.Errorf("got %+v, %v; want the refusal of %s", got, err, refusal)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got.Pid != 1 || got.NS == targetPID || got.Marker != "joined" {
			t.Errorf("inside: %+v; want PID 1 of a new PID namespace (the target's is %s), the target's /tmp", got, targetPID)
		}
	}
	t.Run("Run", func(t *testing.T) {
		got, err := pidViewTask.Run(context.Background(), n, 0)
		check(t, got, err)
	})
	t.Run("Pool", func(t *testing.T) {
		pool, err := n.Pool(1)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		got, err := pidViewTask.Run(context.Background(), pool, 0)
		check(t, got, err)
	})
	t.Run("Command", func(t *testing.T) {
		out, err := n.Command(context.Background(), "/bin/sh", "-c", "echo $$; readlink /proc/self/ns/pid; cat /tmp/marker").CombinedOutput()
		if refused {
			if err == nil || !strings.Contains(string(out), refusal) {
				t.Errorf("got %q, %v; want the refusal of %s", out, err, refusal)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(out))
		if len(f) != 3 || f[0] != "1" || f[1] == targetPID || f[2] != "joined" {
			t.Errorf("inside: %q", out)
		}
	})
}

// pidView is what pidViewTask sees.
type pidView struct {
	Pid    int
	NS     string
	Marker string
}

var pidViewTask = NewTask("test-pid-view", func(ctx context.Context, _ int) (pidView, error) {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return pidView{}, err
	}
	b, err := os.ReadFile("/tmp/marker")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return pidView{}, err
	}
	return pidView{Pid: os.Getpid(), NS: ns, Marker: strings.TrimSpace(string(b))}, nil
})

// joinedMountKillDescendants returns a Namespace that joins the mount
// namespace (and, unprivileged, the user namespace) of a process in a PID
// namespace of its own, with WithKillDescendants.
func joinedMountKillDescendants(t *testing.T) *Namespace {
	pid := joinTarget(t, WithPrivatePID())
	kinds := joinKinds(syscalls.Mount)
	return New(WithJoinProcess(pid, kinds...), WithKillDescendants())
}

// TestJoinedMountKillDescendants: WithKillDescendants with the mount
// namespace of a process in a PID namespace of its own joined, whose
// /proc shows that namespace (no thread-self for the caller's processes):
// the subreaper reads its children through the caller's /proc, and the
// command's background process ends with it. Before, the start failed
// ("find descendants in /proc/thread-self/children").
func TestJoinedMountKillDescendants(t *testing.T) {
	n := joinedMountKillDescendants(t)
	out, err := n.Command(context.Background(), "/bin/sh", "-c", "cat /tmp/marker; sleep 1000 >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != "joined" {
		t.Fatalf("inside: %q", out)
	}
	bg, _ := strconv.Atoi(f[1])
	// The subreaper kills and reaps before it exits, and Command waits
	// for it: the process is gone, not even a zombie.
	if st := procState(bg); st != "" {
		t.Errorf("the command's background process %d is still there (state %s)", bg, st)
		_ = syscall.Kill(bg, syscall.SIGKILL)
	}
}

// TestJoinedMountFileAndOverlay: WithFile and WithTmpOverlay on top of a
// joined mount namespace, that of a process in a PID namespace of its own
// (whose /proc shows no process of the caller's) and that of one whose
// owner put a tmpfs on /proc with self linked to a directory of its
// choice. The raw executor named its staging tmpfs as /proc/self/fd/N, so
// the first failed ("fsmount: no such file or directory") and the second
// made the overlay's upper layer, where the program's writes go, in the
// owner's directory. It names the stage as its working directory now.
func TestJoinedMountFileAndOverlay(t *testing.T) {
	dir := proctest.SharedDir(t, "", 0o777)
	targets := map[string]func(t *testing.T) (int, []syscalls.Type){
		"pid namespace": func(t *testing.T) (int, []syscalls.Type) {
			pid := joinTarget(t, WithPrivatePID())
			kinds := joinKinds(syscalls.Mount)
			return pid, kinds
		},
		"hostile proc": func(t *testing.T) (int, []syscalls.Type) {
			return hostileMountNS(t, "mkdir -p "+dir+"/fd && mount -t tmpfs none /proc && ln -s "+dir+" /proc/self")
		},
	}
	const script = "cat /etc/passwd; echo written > /var/overlaid; cat /var/overlaid"
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			pid, kinds := target(t)
			n := New(WithJoinProcess(pid, kinds...), WithFile("/etc/passwd", []byte("content\n"), 0o644), WithTmpOverlay("/var"))
			out, err := n.Command(context.Background(), "/bin/sh", "-c", script).CombinedOutput()
			if err != nil || string(out) != "content\nwritten\n" {
				t.Errorf("Command: %v: %q", err, out)
			}
			if b, code := startOutput(t, n, script, nil); code != 0 || b != "content\nwritten\n" {
				t.Errorf("StartProcess: status %d: %q", code, b)
			}
			if _, err := os.Stat("/var/overlaid"); err == nil {
				t.Error("the overlay's write reached the host's /var")
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "fd" {
					t.Errorf("the owner's directory got %s", e.Name())
				}
			}
		})
	}
}

// TestJoinProcessAndFile: WithJoinProcess without kinds and a WithJoin of
// one kind: that kind is the file's, the others the process's; two joins
// of one kind named twice are refused (TestJoinValidation).
func TestJoinProcessAndFile(t *testing.T) {
	if !asRoot() {
		t.Skip("needs root: unprivileged, the process's user namespace is joined first, and another owner's UTS namespace cannot be entered from it")
	}
	pid := joinTarget(t)
	h, err := New(WithHostname("other-uts")).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	n := New(WithJoinProcess(pid), WithJoin(syscalls.UTS, "/proc/"+strconv.Itoa(h.Pid())+"/ns/uts"))
	out, err := n.Command(context.Background(), "/bin/sh", "-c", "hostname; cat /tmp/marker").Output()
	if err != nil || string(out) != "other-uts\njoined\n" {
		t.Errorf("got %q, %v; want the file's host name and the process's /tmp", out, err)
	}
}

// TestJoinedMountKillDescendantsDescriptors: the same as
// TestJoinedMountKillDescendants through StartProcess, whose caller decides
// the program's descriptors: with standard input closed, the subreaper's
// children file was opened as descriptor 0, taken for "not open", and
// closed with the rest (nothing was killed); with a long list of closed
// descriptors, the caller's /proc that the file is opened through was
// among the numbers put in place for the program, and closed or replaced.
func TestJoinedMountKillDescendantsDescriptors(t *testing.T) {
	n := joinedMountKillDescendants(t)
	// Standard input closed (startOutput's), or the test's and 61 closed
	// descriptors after the standard ones.
	const script = "sleep 1000 >/dev/null 2>&1 & echo $!"
	for name, start := range map[string]func() (string, int){
		"stdin closed": func() (string, int) { return startOutput(t, n, script, nil) },
		"many closed": func() (string, int) {
			f, err := os.CreateTemp(t.TempDir(), "out")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: append([]*os.File{os.Stdin, f, os.Stderr}, make([]*os.File, 61)...)})
			if err != nil {
				t.Fatal(err)
			}
			st, _ := p.Wait()
			b, _ := os.ReadFile(f.Name())
			return string(b), st.ExitCode()
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, code := start()
			if code != 0 {
				t.Fatalf("status %d: %q", code, out)
			}
			bg, err := strconv.Atoi(strings.TrimSpace(out))
			if err != nil {
				t.Fatalf("output %q", out)
			}
			if st := procState(bg); st != "" {
				t.Errorf("the program's background process %d is still there (state %s)", bg, st)
				_ = syscall.Kill(bg, syscall.SIGKILL)
			}
		})
	}
}

// TestJoinProcessNamedKindStaysOwn: WithJoinProcess without kinds and a
// WithJoin of the caller's own PID namespace: the PID namespace stays the
// caller's for every verb (Run failed with ErrProtocol: the join stage
// counted the process's PID namespace as joined). Inside the joined mount
// namespace /proc is the process's PID namespace's; a program in a joined
// PID namespace would have a parent outside it, seen as 0.
func TestJoinProcessNamedKindStaysOwn(t *testing.T) {
	pid := joinTarget(t, WithPrivatePID())
	n := New(WithJoin(syscalls.PID, "/proc/self/ns/pid"), WithJoinProcess(pid))
	got, err := ppidTask.Run(context.Background(), n, 0)
	if err != nil || got[0] == "0" || got[1] != "joined" {
		t.Errorf("Run: %q, %v; want a parent in the caller's PID namespace and the target's /tmp", got, err)
	}
	out, err := n.Command(context.Background(), "/bin/sh", "-c", "echo $PPID; cat /tmp/marker").Output()
	if f := strings.Fields(string(out)); err != nil || len(f) != 2 || f[0] == "0" || f[1] != "joined" {
		t.Errorf("Command: %q, %v", out, err)
	}
}

var ppidTask = NewTask("test-ppid", func(ctx context.Context, _ int) ([2]string, error) {
	b, err := os.ReadFile("/tmp/marker")
	return [2]string{strconv.Itoa(os.Getppid()), strings.TrimSpace(string(b))}, err
})

// TestFSStageUnsearchableCwd: WithFile and WithTmpOverlay from a working
// directory that the child may not search (root's 0700 directory of
// another user, the child root of a user namespace with root mapped only):
// the executor, which names its staging tmpfs as its working directory,
// could not save the one before and failed.
func TestFSStageUnsearchableCwd(t *testing.T) {
	if !asRoot() {
		t.Skip("needs root: makes a directory of another user's to work in")
	}
	dir := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 1234, 1234); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	n := New(WithPrivateUser(IDMap{Inside: 0, Outside: 0, Size: 1}), WithPrivateMount(),
		WithFile("/etc/passwd", []byte("content\n"), 0o644), WithTmpOverlay("/var"))
	const script = "cat /etc/passwd; echo written > /var/overlaid; cat /var/overlaid; pwd"
	out, err := n.Command(context.Background(), "/bin/sh", "-c", script).CombinedOutput()
	if err != nil || string(out) != "content\nwritten\n/\n" {
		t.Errorf("Command: %v: %q", err, out)
	}
	if b, code := startOutput(t, n, script, nil); code != 0 || b != "content\nwritten\n/\n" {
		t.Errorf("StartProcess: status %d: %q", code, b)
	}
}

// TestJoinPIDKillDescendantsRefused: WithKillDescendants with a joined PID
// namespace is refused with a reason; it started nothing and said nothing
// (the subreaper, forked into the joined namespace, saw its parent as 0,
// took it for dead, and exited 125 after the program was reported
// started).
func TestJoinPIDKillDescendantsRefused(t *testing.T) {
	pid := joinTarget(t, WithPrivatePID())
	n := New(WithJoinProcess(pid), WithKillDescendants())
	p, err := n.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err == nil {
		st, _ := p.Wait()
		t.Errorf("StartProcess: started (%v)", st)
	} else if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "WithKillDescendants") {
		t.Errorf("StartProcess: %v, want ErrUnsupported naming WithKillDescendants", err)
	}
	out, err := n.Command(context.Background(), "/bin/true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "WithKillDescendants") {
		t.Errorf("Command: %v: %q, want the refusal", err, out)
	}
}

// TestJoinProcessLeavesNamedMount: a WithJoinProcess without kinds leaves
// out a mount namespace that another join names, as any other kind (a
// made one, not named, goes on top of the process's instead): the program
// ran in the process's mount namespace whatever the other join said.
func TestJoinProcessLeavesNamedMount(t *testing.T) {
	a := joinTarget(t)
	own := nsLink(t, "self", "mnt")
	host := "jn-" + strconv.Itoa(os.Getpid())
	cases := map[string]struct {
		n   *Namespace
		mnt string
	}{
		"own by file":    {New(WithJoin(syscalls.Mount, "/proc/self/ns/mnt"), WithJoinProcess(a)), own},
		"own by process": {New(WithJoinProcess(os.Getpid(), syscalls.Mount), WithJoinProcess(a)), own},
	}
	if asRoot() {
		// Unprivileged, a's user namespace is joined first, from which
		// b's mount namespace (another user namespace's) cannot be.
		b := joinTarget(t)
		cases["another process's"] = struct {
			n   *Namespace
			mnt string
		}{New(WithJoinProcess(b, syscalls.Mount), WithJoinProcess(a)), nsLink(t, strconv.Itoa(b), "mnt")}
	}
	for name, c := range cases {
		out, err := c.n.Command(context.Background(), "/bin/sh", "-c", "readlink /proc/self/ns/mnt; hostname").Output()
		if err != nil || string(out) != c.mnt+"\n"+host+"\n" {
			t.Errorf("%s: %q, %v; want mnt %s and the process's host name", name, out, err, c.mnt)
		}
	}
}
