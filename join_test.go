//go:build linux

package namespace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// joinTarget starts a process in new namespaces (a user namespace when
// unprivileged, a mount namespace with a private /tmp holding a marker
// file, a hostname, and those of extra) and returns its pid; it is killed
// at the test's end.
func joinTarget(t *testing.T, extra ...Option) int {
	t.Helper()
	needUserNS(t)
	host := "jn-" + strconv.Itoa(os.Getpid())
	n := testNS(append([]Option{WithPrivateTmp(), WithHostname(host)}, extra...)...)
	p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", "echo joined > /tmp/marker && exec sleep 1000"},
		&os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill(); _, _ = p.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/comm")
		if strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the target did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return p.Pid
}

// nsLink returns the id of a namespace of process pid ("self" allowed).
func nsLink(t *testing.T, pid, kind string) string {
	t.Helper()
	s, err := os.Readlink("/proc/" + pid + "/ns/" + kind)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const joinScript = `cat /tmp/marker; hostname; readlink /proc/self/ns/mnt /proc/self/ns/uts`

// wantJoined checks the output of joinScript against the target's.
func wantJoined(t *testing.T, out string, pid int) {
	t.Helper()
	p := strconv.Itoa(pid)
	want := "joined\njn-" + strconv.Itoa(os.Getpid()) + "\n" + nsLink(t, p, "mnt") + "\n" + nsLink(t, p, "uts") + "\n"
	if out != want {
		t.Errorf("inside the joined namespaces:\n%s\nwant:\n%s", out, want)
	}
}

var joinedFunc = Register("join-test-check", func(ctx context.Context, args []string) error {
	b, err := os.ReadFile("/tmp/marker")
	if err != nil {
		return err
	}
	h, _ := os.Hostname()
	mnt, _ := os.Readlink("/proc/self/ns/mnt")
	got := strings.Join([]string{strings.TrimSpace(string(b)), h, mnt}, " ")
	if got != args[0] {
		return fmt.Errorf("got %q, want %q", got, args[0])
	}
	return nil
})

// TestJoinEveryVerb joins the user (unprivileged), mount and UTS
// namespaces of a running process with each verb, by WithJoinProcess
// (every kind that differs) and by WithJoin of its files, from a program
// with many threads.
func TestJoinEveryVerb(t *testing.T) {
	before := hostMounts(t)
	pid := joinTarget(t)
	p := strconv.Itoa(pid)
	// Many threads, as in a service.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			<-stop
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	byFiles := []Option{WithJoin(syscalls.Mount, "/proc/"+p+"/ns/mnt"), WithJoin(syscalls.UTS, "/proc/"+p+"/ns/uts")}
	if !asRoot() {
		byFiles = append(byFiles, WithJoin(syscalls.User, "/proc/"+p+"/ns/user"))
	}
	for name, opts := range map[string][]Option{"process": {WithJoinProcess(pid)}, "files": byFiles} {
		n := New(opts...)
		t.Run(name+"/StartProcess", func(t *testing.T) {
			r, w, _ := os.Pipe()
			defer r.Close()
			proc, err := n.StartProcess("/bin/sh", []string{"sh", "-c", joinScript}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 4096)
			m, _ := r.Read(b)
			out := string(b[:m])
			for m > 0 {
				m, _ = r.Read(b)
				out += string(b[:m])
			}
			if st, err := proc.Wait(); err != nil || !st.Success() {
				t.Fatal(st, err)
			}
			wantJoined(t, out, pid)
		})
		t.Run(name+"/Prepare", func(t *testing.T) {
			out, err := os.CreateTemp("", "join-prepare-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(out.Name())
			defer out.Close()
			pr, err := n.Prepare("/bin/sh", []string{"sh", "-c", joinScript}, &os.ProcAttr{Files: []*os.File{nil, out, os.Stderr}})
			if err != nil {
				t.Fatal(err)
			}
			proc, err := pr.Start()
			if err != nil {
				t.Fatal(err)
			}
			if st, err := proc.Wait(); err != nil || !st.Success() {
				t.Fatal(st, err)
			}
			b, _ := os.ReadFile(out.Name())
			wantJoined(t, string(b), pid)
		})
		t.Run(name+"/Command", func(t *testing.T) {
			out, err := n.Command(context.Background(), "/bin/sh", "-c", joinScript).Output()
			if err != nil {
				t.Fatal(err)
			}
			wantJoined(t, string(out), pid)
		})
		t.Run(name+"/Run", func(t *testing.T) {
			want := "joined jn-" + strconv.Itoa(os.Getpid()) + " " + nsLink(t, p, "mnt")
			if err := n.Run(context.Background(), joinedFunc, want); err != nil {
				t.Fatal(err)
			}
		})
	}
	checkMountsUnchanged(t, before)
}

// TestJoinAndCreate joins the UTS namespace (and the user namespace,
// unprivileged) of a process and creates a mount namespace with a
// private /tmp inside: the marker of the target's /tmp is not there.
func TestJoinAndCreate(t *testing.T) {
	pid := joinTarget(t)
	kinds := joinKinds(syscalls.UTS)
	n := New(WithJoinProcess(pid, kinds...), WithPrivateTmp())
	out, err := n.Command(context.Background(), "/bin/sh", "-c", "hostname; ls -A /tmp; readlink /proc/self/ns/mnt").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] != "jn-"+strconv.Itoa(os.Getpid()) || lines[1] == nsLink(t, "self", "mnt") || lines[1] == nsLink(t, strconv.Itoa(pid), "mnt") {
		t.Errorf("joined UTS and a new mount namespace: got %q", out)
	}
}

// TestJoinAndCreateTime joins the UTS namespace (and the user namespace,
// unprivileged) of a process and creates a time namespace: the join
// stage's raw child makes it, and before Linux 6.3, where only a fork
// enters it, forks the program, one generation more between a Go child
// and its caller. Run, a Pool's Task.Run and Command see the offsets.
func TestJoinAndCreateTime(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("kernel has no time namespaces")
	}
	pid := joinTarget(t)
	kinds := joinKinds(syscalls.UTS)
	const off = 1000 * time.Hour
	n := New(WithJoinProcess(pid, kinds...), WithPrivateTime(off, off))
	check := func(t *testing.T, got time.Duration, host unix.Timespec) {
		t.Helper()
		h := time.Duration(host.Nano())
		if got < h+off || got > h+off+10*time.Minute {
			t.Errorf("CLOCK_MONOTONIC inside = %v, host %v; want it shifted by %v", got, h, off)
		}
	}
	t.Run("Run", func(t *testing.T) {
		var host unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &host)
		got, err := monotonicTask.Run(context.Background(), n, 0)
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, host)
	})
	t.Run("Pool", func(t *testing.T) {
		pool, err := n.Pool(1)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var host unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &host)
		got, err := monotonicTask.Run(context.Background(), pool, 0)
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, host)
	})
	t.Run("Command", func(t *testing.T) {
		out, err := n.Command(context.Background(), "/bin/sh", "-c", "hostname; tr -s ' ' </proc/self/timens_offsets").Output()
		if err != nil {
			t.Fatal(err)
		}
		want := "jn-" + strconv.Itoa(os.Getpid()) + "\nmonotonic 3600000 0\nboottime 3600000 0\n"
		if string(out) != want {
			t.Errorf("got %q, want %q", out, want)
		}
	})
}

// joinedWhole is what TestJoinProcessKeepsCreatedKinds checks inside: the
// joined /tmp's marker, the host name, and the net and mnt namespaces.
const joinedWholeScript = `cat /tmp/marker; hostname; readlink /proc/self/ns/net /proc/self/ns/mnt`

var joinedWholeFunc = Register("join-test-whole", func(ctx context.Context, args []string) error {
	out, err := exec.Command("/bin/sh", "-c", joinedWholeScript).Output()
	if err != nil {
		return err
	}
	if msg := checkJoinedWhole(string(out), args[0], args[1], args[2]); msg != "" {
		return errors.New(msg)
	}
	return nil
})

// checkJoinedWhole returns what is wrong with joinedWholeScript's output
// out, or "".
func checkJoinedWhole(out, targetNet, targetMnt, hostNet string) string {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || lines[0] != "joined" || lines[1] != "own-uts" || lines[2] == targetNet || lines[2] == hostNet || lines[3] != targetMnt {
		return fmt.Sprintf("inside: %q; want the target's /tmp marker, own-uts, a net namespace neither %s nor %s, mnt %s", out, targetNet, hostNet, targetMnt)
	}
	return ""
}

// TestJoinProcessKeepsCreatedKinds: WithJoinProcess without kinds joins
// every kind in which the process differs but those the options create,
// whose set-up then happens in new namespaces: before, the process's UTS
// and network namespaces were entered after the clone had made new ones,
// so WithHostname renamed the process's namespace (nsrun --join-pid PID
// --hostname NAME did) and WithPrivateNet ran in the process's network.
// The mount namespace is joined, and the target keeps its host name.
func TestJoinProcessKeepsCreatedKinds(t *testing.T) {
	pid := joinTarget(t, WithPrivateNet())
	p := strconv.Itoa(pid)
	targetNet, targetMnt, hostNet := nsLink(t, p, "net"), nsLink(t, p, "mnt"), nsLink(t, "self", "net")
	n := New(WithJoinProcess(pid), WithHostname("own-uts"), WithPrivateNet())
	check := func(t *testing.T, out string) {
		t.Helper()
		if msg := checkJoinedWhole(out, targetNet, targetMnt, hostNet); msg != "" {
			t.Error(msg)
		}
	}
	t.Run("Command", func(t *testing.T) {
		out, err := n.Command(context.Background(), "/bin/sh", "-c", joinedWholeScript).Output()
		if err != nil {
			t.Fatal(err)
		}
		check(t, string(out))
	})
	t.Run("StartProcess", func(t *testing.T) {
		f, err := os.CreateTemp("", "join-whole-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		proc, err := n.StartProcess("/bin/sh", []string{"sh", "-c", joinedWholeScript}, &os.ProcAttr{Files: []*os.File{nil, f, os.Stderr}})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := proc.Wait(); err != nil || !st.Success() {
			t.Fatal(st, err)
		}
		b, _ := os.ReadFile(f.Name())
		check(t, string(b))
	})
	t.Run("Run", func(t *testing.T) {
		if err := n.Run(context.Background(), joinedWholeFunc, targetNet, targetMnt, hostNet); err != nil {
			t.Error(err)
		}
	})
	out, err := New(WithJoinProcess(pid)).Command(context.Background(), "hostname").Output()
	if err != nil || string(out) != "jn-"+strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("the target's host name afterwards: %q, %v; want it unchanged", out, err)
	}
}

// TestJoinDo joins the UTS namespace of a process on Do's thread, and
// refuses the kinds a thread cannot enter.
func TestJoinDo(t *testing.T) {
	if err := New(WithJoinProcess(1)).Do(func() error { return nil }); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Do with every kind of a process: %v, want ErrUnsupported", err)
	}
	if err := New(WithJoin(syscalls.User, "/proc/1/ns/user")).Do(func() error { return nil }); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "user") {
		t.Errorf("Do joining a user namespace: %v, want ErrUnsupported naming user", err)
	}
	if !asRoot() {
		t.Skip("joining the UTS namespace of a user namespace's process needs its CAP_SYS_ADMIN, which Do's thread cannot have")
	}
	pid := joinTarget(t)
	err := New(WithJoinProcess(pid, syscalls.UTS)).Do(func() error {
		h, _ := os.Hostname()
		if h != "jn-"+strconv.Itoa(os.Getpid()) {
			return fmt.Errorf("hostname %q", h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := os.Hostname(); strings.HasPrefix(h, "jn-") {
		t.Errorf("the caller's hostname is %q", h)
	}
}

// TestJoinValidation: the problems of joins are found before anything is
// created.
func TestJoinValidation(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []Option
		want error
	}{
		{"relative", []Option{WithJoin(syscalls.Net, "run/netns/x")}, ErrInvalid},
		{"kind", []Option{WithJoin(syscalls.Type(3), "/proc/1/ns/net")}, ErrInvalid},
		{"pid", []Option{WithJoinProcess(0)}, ErrInvalid},
		{"both", []Option{WithJoin(syscalls.Net, "/proc/1/ns/net"), WithPrivateNet()}, ErrInvalid},
		{"new user", []Option{WithJoin(syscalls.Net, "/proc/1/ns/net"), WithPrivateUser()}, ErrInvalid},
		{"twice", []Option{WithJoin(syscalls.Net, "/proc/1/ns/net"), WithJoin(syscalls.Net, "/proc/2/ns/net")}, ErrInvalid},
		{"twice by process", []Option{WithJoinProcess(1, syscalls.Net), WithJoin(syscalls.Net, "/proc/2/ns/net")}, ErrInvalid},
		{"whole twice", []Option{WithJoinProcess(1), WithJoinProcess(2)}, ErrInvalid},
		{"whole and named", []Option{WithJoinProcess(1), WithJoinProcess(2, syscalls.UTS)}, nil},
		{"pool", []Option{WithJoin(syscalls.Net, "/proc/1/ns/net")}, nil},
	} {
		err := New(c.opts...).Validate()
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A file of another kind.
	_, err := New(WithJoin(syscalls.Net, "/proc/self/ns/uts")).StartProcess("/bin/true", nil, nil)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "uts") {
		t.Errorf("joining a uts file as net: %v", err)
	}
	// A process that is gone.
	cmd := exec.Command("/bin/true")
	_ = cmd.Run()
	_, err = New(WithJoinProcess(cmd.Process.Pid, syscalls.Net)).StartProcess("/bin/true", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "process") {
		t.Errorf("joining an exited process: %v", err)
	}
}

// JoinSetupEnv makes the test binary the helper of TestJoinSetup: it
// joins the namespaces of the process whose pid is the variable's value
// with Setup, and prints what it sees inside.
const JoinSetupEnv = "LINUXNS_TEST_JOIN_SETUP"

func joinSetupHelper(v string) {
	pid, _ := strconv.Atoi(v)
	if err := New(WithJoinProcess(pid)).Setup(); err != nil {
		fmt.Printf("setup: %v\n", err)
		os.Exit(3)
	}
	os.Unsetenv(JoinSetupEnv)
	b, _ := os.ReadFile("/tmp/marker")
	h, _ := os.Hostname()
	wd, _ := os.Getwd()
	fmt.Printf("%s%s\n%s\n", b, h, wd)
	os.Exit(0)
}

// TestJoinSetup: Setup moves the program into the namespaces of a running
// process, user and mount included, and keeps its working directory.
func TestJoinSetup(t *testing.T) {
	pid := joinTarget(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), JoinSetupEnv+"="+strconv.Itoa(pid))
	cmd.Dir = "/usr"
	out, err := cmd.CombinedOutput()
	want := "joined\njn-" + strconv.Itoa(os.Getpid()) + "\n/usr\n"
	if err != nil || string(out) != want {
		t.Errorf("Setup joining: %q %v, want %q", out, err, want)
	}
}

// TestJoinPIDNamespace: Command and StartProcess join the PID namespace
// of a process (its PID 1); the program is a process of that namespace.
func TestJoinPIDNamespace(t *testing.T) {
	target, err := testNS(WithPrivatePID(), WithoutProc()).StartProcess("/bin/sleep", []string{"sleep", "1000"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Kill(); _, _ = target.Wait() }()
	want := nsLink(t, strconv.Itoa(target.Pid), "pid")
	kinds := joinKinds(syscalls.PID)
	n := New(WithJoinProcess(target.Pid, kinds...))
	out, err := n.Command(context.Background(), "/bin/sh", "-c", "echo $$; readlink /proc/self/ns/pid").Output()
	if err != nil {
		t.Fatal(err)
	}
	// /proc is the caller's: the shell's pid there is not the one it has.
	if f := strings.Fields(string(out)); len(f) != 2 || f[0] == "1" || f[1] != want {
		t.Errorf("Command in the joined PID namespace: %q, want a pid other than 1 and %s", out, want)
	}
}

// TestJoinCommandSignals: a Command that joins is stopped by its context
// (the join stage passes SIGTERM on), and dies of the signal.
func TestJoinCommandSignals(t *testing.T) {
	pid := joinTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The command says when it runs: a child cancelled before it has its
	// job is killed (SIGKILL), by design; once the command runs, the
	// cancel is SIGTERM, passed on by the join stage.
	cmd := New(WithJoinProcess(pid)).Command(ctx, "/bin/sh", "-c", "echo running; exec /bin/sleep 1000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "running\n" {
		t.Errorf("the command's first line: %q (%v)", line, err)
	}
	cancel()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.String() != "signal: terminated" {
		t.Errorf("cancelled: %v, want signal: terminated", err)
	}
	if out, _ := New(WithJoinProcess(pid)).Command(context.Background(), "/bin/sh", "-c", "exit 7").CombinedOutput(); len(out) != 0 {
		t.Errorf("output %q", out)
	}
	if err := New(WithJoinProcess(pid)).Command(context.Background(), "/bin/sh", "-c", "exit 7").Run(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("exit 7: %v", err)
	}
	if err := New(WithJoinProcess(pid)).Command(context.Background(), "/nonexistent/x").Run(); !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Errorf("a missing program: %v, want status 127", err)
	}
}

// needUserNS skips a test that runs unprivileged where no user namespace
// can be created (a kernel booted with them disabled).
func needUserNS(t *testing.T) {
	t.Helper()
	if !asRoot() && !userNSAvailable() {
		t.Skip("unprivileged, and no user namespace can be created here (see TestUserNamespaceBlockerKnobs)")
	}
}
