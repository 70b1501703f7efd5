//go:build linux

package namespace

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// startOutput runs sh -c script with StartProcess in n and returns its
// standard output and exit status.
func startOutput(t *testing.T, n *Namespace, script string, sys *syscall.SysProcAttr) (string, int) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := n.StartProcess(sh, []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}, Sys: sys})
	w.Close()
	if err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	out, _ := io.ReadAll(r)
	st, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return string(out), st.ExitCode()
}

func TestStartProcessSetUp(t *testing.T) {
	before := hostMounts(t)
	hostName, _ := os.Hostname()
	n := testNS(WithPrivatePID(), WithPrivateTmp(TmpfsSize(1<<20)), WithPrivateNet(), WithHostname("spawned"), WithPrivateIPC())
	out, code := startOutput(t, n, `echo "pid=$$"; echo "tmp=$(ls -A /tmp | wc -l)"; grep ' /tmp ' /proc/self/mounts; echo "host=$(hostname)"; echo "init=$(cat /proc/1/comm)"; echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"; ip -o link show lo 2>/dev/null | grep -o '<[^>]*>'; exit 7`, nil)
	if code != 7 {
		t.Errorf("exit status %d, want 7\n%s", code, out)
	}
	for _, want := range []string{"pid=1\n", "tmp=0\n", "tmpfs /tmp tmpfs rw,nosuid,nodev", "size=1024k", "host=spawned\n", "init=sh\n", "ifaces=lo \n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := exec.LookPath("ip"); err == nil && !strings.Contains(out, ",UP") {
		t.Errorf("lo is not up:\n%s", out)
	}
	if h, _ := os.Hostname(); h != hostName {
		t.Errorf("host name changed to %q", h)
	}
	checkMountsUnchanged(t, before)
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

func TestStartProcessUserAndTime(t *testing.T) {
	n := New(WithPrivateUser(), WithPrivateMount(), WithPrivateTime(time.Hour, 0))
	out, code := startOutput(t, n, `id -u; id -g; cat /proc/self/uid_map; cat /proc/self/timens_offsets; cat /proc/self/setgroups`, nil)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, out)
	}
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "0" || f[1] != "0" {
		t.Errorf("uid and gid inside: %q, want 0 0", out)
	}
	if want := "0 " + strconv.Itoa(os.Geteuid()) + " 1"; !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
		t.Errorf("uid_map lacks %q:\n%s", want, out)
	}
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "monotonic 3600 0") {
		t.Errorf("time offsets not set:\n%s", out)
	}
	if wantDeny := !(asRoot() && setgroupsAllowed()); wantDeny != strings.Contains(out, "deny") {
		t.Errorf("setgroups: want deny %v:\n%s", wantDeny, out)
	}
}

func TestStartProcessEnvDirAndFiles(t *testing.T) {
	n := testNS(WithPrivateMount())
	sh, _ := exec.LookPath("sh")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	extra, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	// The pipe's write end goes to descriptors 1 and 3, and descriptor 4
	// is left closed, whatever numbers the caller's files have.
	p, err := n.StartProcess(sh, []string{"sh", "-c", `echo "$SPAWN_VAR $(pwd)"; echo three >&3; [ -e /proc/$$/fd/4 ] && echo fd4-open; true`},
		&os.ProcAttr{Dir: "/usr", Env: []string{"SPAWN_VAR=set", "PATH=/usr/bin:/bin"}, Files: []*os.File{extra, w, os.Stderr, w, nil}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	if st, err := p.Wait(); err != nil || !st.Success() {
		t.Fatalf("%v %v\n%s", st, err, out)
	}
	got := string(out)
	if got != "set /usr\nthree\n" {
		t.Errorf("output %q, want the variable, the directory and fd 3 (and fd 4 closed)", got)
	}
}

func TestStartProcessErrors(t *testing.T) {
	before := hostMounts(t)
	n := testNS(WithPrivateMount(), WithPrivateTmp())
	files := []*os.File{nil, nil, nil}

	_, err := n.StartProcess("/no/such/program", nil, &os.ProcAttr{Files: files})
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "exec" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing program: %v, want an exec *os.PathError wrapping ENOENT", err)
	}
	notExec := t.TempDir() + "/not-executable"
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = testNS(WithPrivateMount()).StartProcess(notExec, nil, &os.ProcAttr{Files: files})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("not executable: %v, want EACCES", err)
	}
	// A directory that does not exist inside is a failed step.
	_, err = n.StartProcess("/bin/true", nil, &os.ProcAttr{Dir: "/no/such/dir", Files: files})
	var se *SetupError
	if !errors.As(err, &se) || se.Step != stepWorkDirName || !strings.Contains(err.Error(), "/no/such/dir") || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("bad directory: %v, want a *SetupError of step %q naming it, wrapping ENOENT", err, stepWorkDirName)
	}
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left after failures: %v", c)
	}
	if _, err := n.StartProcess("/bin/true", nil, &os.ProcAttr{Sys: &syscall.SysProcAttr{Chroot: "/"}}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Chroot: %v, want ErrUnsupported", err)
	}
	if _, err := testNS(WithMinimalInit()).StartProcess("/bin/true", nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("WithMinimalInit without a PID namespace: %v, want ErrInvalid", err)
	}
	// Under an init the program takes the terminal once its descriptors
	// are in place: a Ctty that they close is refused.
	_, err = testNS(WithPrivatePID(), WithMinimalInit()).StartProcess("/bin/true", nil, &os.ProcAttr{
		Files: []*os.File{nil, nil, nil, nil, nil, nil},
		Sys:   &syscall.SysProcAttr{Foreground: true, Ctty: 5},
	})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Ctty") {
		t.Errorf("WithMinimalInit, Foreground and a Ctty closed for the program: %v, want ErrUnsupported naming Ctty", err)
	}
	if _, err := testNS(WithHostname(strings.Repeat("x", HostNameMax+1))).StartProcess("/bin/true", nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("host name too long: %v, want ErrInvalid", err)
	}
	checkMountsUnchanged(t, before)
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left after failures: %v", c)
	}
}

func TestStartProcessDenied(t *testing.T) {
	if asRoot() {
		t.Skip("root may create namespaces: nothing is denied")
	}
	_, err := New(WithPrivateMount()).StartProcess("/bin/true", nil, nil)
	if !errors.Is(err, ErrPermission) {
		t.Errorf("mount namespace without privilege: %v, want ErrPermission", err)
	}
}

func TestStartProcessProcessGroup(t *testing.T) {
	n := testNS(WithPrivateMount())
	out, code := startOutput(t, n, `ps -o pgid= -p $$ 2>/dev/null || cut -d' ' -f5 /proc/$$/stat; echo $$`, &syscall.SysProcAttr{Setpgid: true})
	f := strings.Fields(out)
	if code != 0 || len(f) != 2 || f[0] != f[1] {
		t.Errorf("Setpgid: process group and pid %q (exit %d), want equal", out, code)
	}
}

// TestStartProcessWithMinimalInit: under WithMinimalInit the program is PID 2, a child of
// the init, which holds no descriptor and exits with the program's status.
func TestStartProcessWithMinimalInit(t *testing.T) {
	before := hostMounts(t)
	n := testNS(WithPrivatePID(), WithPrivateTmp(), WithMinimalInit())
	// PID 1 closes its descriptors once the program has executed (vfork),
	// so the program may look before it has: it waits for PID 1 to have
	// none, up to a deadline past which the test fails.
	out, code := startOutput(t, n, `echo "pid=$$ ppid=$PPID"; end=$(($(date +%s) + 30)); while [ -n "$(ls /proc/1/fd)" ] && [ $(date +%s) -lt $end ]; do :; done; echo "init-fds=$(ls /proc/1/fd | wc -l)"; echo "init-group=$(cut -d' ' -f5 /proc/1/stat) mine=$(cut -d' ' -f5 /proc/$$/stat)"; exit 5`, nil)
	if code != 5 {
		t.Errorf("exit status %d, want the program's 5\n%s", code, out)
	}
	for _, want := range []string{"pid=2 ppid=1\n", "init-fds=0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var initGroup, group int
	if i := strings.Index(out, "init-group="); i < 0 {
		t.Errorf("no process groups in %q", out)
	} else if _, err := fmt.Sscanf(out[i:], "init-group=%d mine=%d", &initGroup, &group); err != nil || initGroup != group {
		t.Errorf("process groups %q (%v): want the program in the init's group", out[i:], err)
	}

	// The program, forked by the init, is in the user and time namespaces
	// too.
	out, code = startOutput(t, New(WithPrivateUser(), WithPrivatePID(), WithMinimalInit(), WithPrivateTime(time.Hour, 0)), `echo "pid=$$ uid=$(id -u)"; grep monotonic /proc/self/timens_offsets`, nil)
	if code != 0 || !strings.Contains(out, "pid=2 uid=0\n") || !strings.Contains(strings.Join(strings.Fields(out), " "), "monotonic 3600 0") {
		t.Errorf("user and time namespaces under the init: exit %d, output %q; want pid 2, uid 0 and a monotonic offset of 3600 s", code, out)
	}

	// Killed by a signal: the init exits with 128+N.
	if _, code := startOutput(t, n, `kill -KILL $$`, nil); code != 128+int(syscall.SIGKILL) {
		t.Errorf("program killed by SIGKILL: init exited %d, want %d", code, 128+int(syscall.SIGKILL))
	}

	// The program cannot be executed: the error is StartProcess's, and
	// neither the init nor the program is left.
	_, err := n.StartProcess("/no/such/program", nil, &os.ProcAttr{Files: []*os.File{nil, nil, nil}})
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "exec" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing program under the init: %v, want an exec *os.PathError wrapping ENOENT", err)
	}

	// Prepare holds the init before it forks the program.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := n.Prepare("/bin/sh", []string{"sh", "-c", `echo "pid=$$"`}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if c := proctest.Children(); len(c) != 1 {
		t.Errorf("children of the caller while held: %v, want the init alone", c)
	}
	proc, err := p.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	got, _ := io.ReadAll(r)
	if st, err := proc.Wait(); err != nil || !st.Success() || string(got) != "pid=2\n" {
		t.Errorf("prepared init: %v %v, output %q; want success and pid=2", st, err, got)
	}
	checkMountsUnchanged(t, before)
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

// TestStartProcessInitForwardsAndReaps: the init of StartProcess reaps an
// orphan while the program runs and sends the program the SIGTERM it gets.
func TestStartProcessInitForwardsAndReaps(t *testing.T) {
	script := `trap 'echo got-term; exit 9' TERM
(sleep 0.1 &)
sleep 0.5
echo "zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ')"
echo ready
while :; do sleep 0.05; done`
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := testNS(WithPrivatePID(), WithMinimalInit()).StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	var out strings.Builder
	buf := make([]byte, 256)
	for !strings.Contains(out.String(), "ready") {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(out.String(), "zombies=0") {
		t.Errorf("orphan not reaped by the init: %q", out.String())
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	out.Write(rest)
	st, err := p.Wait()
	if err != nil || st.ExitCode() != 9 || !strings.Contains(out.String(), "got-term") {
		t.Errorf("SIGTERM not sent on by the init: %v %v, output %q", st, err, out.String())
	}
}

// TestStartProcessConcurrent starts processes from several goroutines while
// others open descriptors: every child gets its own namespaces and none
// inherits another's pipe (each would then wait for the other's exit).
func TestStartProcessConcurrent(t *testing.T) {
	before := hostMounts(t)
	n := testNS(WithPrivatePID(), WithPrivateTmp())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", `[ $$ = 1 ] && [ -z "$(ls -A /tmp)" ] && touch /tmp/mine`}, nil)
				if err != nil {
					errs <- err
					return
				}
				st, err := p.Wait()
				if err == nil && !st.Success() {
					err = errors.New(st.String())
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkMountsUnchanged(t, before)
	if z := proctest.Zombies(); len(z) != 0 {
		t.Errorf("zombies: %v", z)
	}
}

// TestStartProcessDiesWithParent: a process started with StartProcess gets
// SIGKILL when the program that started it dies.
func TestStartProcessDiesWithParent(t *testing.T) {
	if os.Getenv("LINUXNS_SPAWN_PARENT") == "1" {
		n := testNS(WithPrivatePID())
		p, err := n.StartProcess("/bin/sleep", []string{"sleep", "60"}, nil)
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.Itoa(p.Pid) + "\n")
		time.Sleep(time.Minute)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartProcessDiesWithParent$")
	cmd.Env = append(os.Environ(), "LINUXNS_SPAWN_PARENT=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var b [32]byte
	m, _ := out.Read(b[:])
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:m])))
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no pid from the parent: %q", b[:m])
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || !strings.HasPrefix(string(b), "sleep") {
			return // gone (or the pid reused by something else)
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the started process %d outlived its parent", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStepNamedOnce: the error of a failed set-up step, as Do and the
// children report it, names the step once.
func TestStepNamedOnce(t *testing.T) {
	failed := &stepError{step: stepName(&step{Kind: stepTmpfs, Target: "/tmp", Data: "mode=1777"}), err: os.NewSyscallError("mount", syscall.EPERM)}
	err := classify(failedStep(failed), stepCause(failed), nil)
	var se *SetupError
	if !errors.As(err, &se) || strings.Count(err.Error(), "mount tmpfs") != 1 || !errors.Is(err, ErrPermission) {
		t.Errorf("got %v, want a *SetupError wrapping ErrPermission that names the step once", err)
	}
}

func TestPrepareStartAndAbort(t *testing.T) {
	before := hostMounts(t)
	n := testNS(WithPrivateNet(), WithPrivateTmp(), WithPrivatePID())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := n.Prepare("/bin/sh", []string{"sh", "-c", `echo "pid $$"; ls -A /tmp`}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Held: the namespaces and the set-up exist, the program has not run.
	self, _ := os.Readlink("/proc/self/ns/net")
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.Pid))
	if err != nil || theirs == self {
		t.Errorf("held process's network namespace %q (%v), ours %q: want a new one", theirs, err, self)
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.Pid))
	if me, _ := os.Executable(); exe != me {
		t.Errorf("held process executes %q already, want still %q", exe, me)
	}
	mi, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", p.Pid))
	if !strings.Contains(string(mi), " /tmp ") {
		t.Errorf("held process has no /tmp mount yet:\n%s", mi)
	}
	// Something placed in its /tmp from outside is there for the program.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/root/tmp/from-outside", p.Pid), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	proc, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	if st, err := proc.Wait(); err != nil || !st.Success() {
		t.Fatalf("%v %v", st, err)
	}
	if string(out) != "pid 1\nfrom-outside\n" {
		t.Errorf("output %q, want pid 1 and the file put in from outside", out)
	}
	if _, err := p.Start(); !errors.Is(err, ErrInvalid) {
		t.Errorf("second Start: %v, want ErrInvalid", err)
	}

	p, err = n.Prepare("/bin/true", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(p.Pid, 0); err != unix.ESRCH {
		t.Errorf("aborted process %d: kill 0 gives %v, want ESRCH (gone and reaped)", p.Pid, err)
	}
	if _, err := p.Start(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Start after Abort: %v, want ErrInvalid", err)
	}
	checkMountsUnchanged(t, before)
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

func TestPrepareErrors(t *testing.T) {
	n := testNS(WithPrivateMount())
	_, err := n.Prepare("/bin/true", nil, &os.ProcAttr{Dir: "/no/such/dir"})
	var se *SetupError
	if !errors.As(err, &se) || se.Step != stepWorkDirName {
		t.Errorf("bad directory: %v, want a *SetupError of step %q", err, stepWorkDirName)
	}
	p, err := n.Prepare("/no/such/program", nil, nil)
	if err != nil {
		t.Fatalf("Prepare does not execute: %v", err)
	}
	if _, err := p.Start(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Start of a missing program: %v, want ENOENT", err)
	}
	// A signal sent while held is delivered when Start lets it run.
	p, err = n.Prepare("/bin/sleep", []string{"sleep", "10"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(p.Pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := unix.Kill(p.Pid, 0); err != nil {
		t.Errorf("held process died of a blocked signal: %v", err)
	}
	proc, err := p.Start()
	if err == nil {
		st, _ := proc.Wait()
		if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM {
			t.Errorf("after Start: %v, want killed by the pending SIGTERM", st)
		}
	}
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

// TestSpawnManyFiles: descriptors mapped above the numbers of the pipes that
// the child uses internally (report, id-map gate, hold) do not clobber them.
func TestSpawnManyFiles(t *testing.T) {
	n := testNS(WithPrivateMount())
	const script = `readlink /proc/$$/fd/39`
	for _, hold := range []bool{false, true} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		zero, err := os.Open("/dev/zero")
		if err != nil {
			t.Fatal(err)
		}
		files := make([]*os.File, 40)
		files[1], files[2], files[39] = w, os.Stderr, zero
		var proc *os.Process
		if hold {
			var p *Prepared
			if p, err = n.Prepare("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: files}); err == nil {
				proc, err = p.Start()
			}
		} else {
			proc, err = n.StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: files})
		}
		w.Close()
		zero.Close()
		if err != nil {
			r.Close()
			t.Fatalf("hold %v: %v", hold, err)
		}
		out, _ := io.ReadAll(r)
		r.Close()
		if st, err := proc.Wait(); err != nil || !st.Success() || string(out) != "/dev/zero\n" {
			t.Errorf("hold %v: %v %v, output %q", hold, st, err, out)
		}
	}
}

// TestSpawnBadArguments: arguments that cannot be passed to execve are
// refused before anything is started, with one prefix in the message.
func TestSpawnBadArguments(t *testing.T) {
	n := testNS(WithPrivateMount())
	for _, c := range []struct {
		name string
		argv []string
		attr *os.ProcAttr
	}{
		{"NUL in an argument", []string{"true", "a\x00b"}, nil},
		{"NUL in the environment", nil, &os.ProcAttr{Env: []string{"A=\x00"}}},
		{"Chroot", nil, &os.ProcAttr{Sys: &syscall.SysProcAttr{Chroot: "/"}}},
	} {
		_, err := n.StartProcess("/bin/true", c.argv, c.attr)
		if err == nil || strings.Count(err.Error(), "namespace:") != 1 {
			t.Errorf("%s: %v, want an error with one prefix", c.name, err)
		}
		_, err = n.Prepare("/bin/true", c.argv, c.attr)
		if !strings.HasPrefix(fmt.Sprint(err), "namespace: Prepare: ") {
			t.Errorf("%s: Prepare: %v, want it named", c.name, err)
		}
	}
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}
