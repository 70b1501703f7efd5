//go:build linux

package namespace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/syscalls"
)

// probe is what a child reports about its surroundings.
type probe struct {
	PID      int
	UID, GID int
	Hostname string
	NS       map[string]string
	Tmp      []string
	TmpFile  string
	TmpOpts  string
	Procs    []string
	LoUp     bool
	Echo     string
	UIDMap   string
	Setgroup string
	Env      []string
	Fds      []string // descriptors an exec would pass on
	FDSize   int      // the size of its descriptor table (/proc/self/status)
	TmpMode  string
}

type probeReq struct {
	WriteTmp string // a file name to create in /tmp
	Echo     bool   // TCP echo over 127.0.0.1
}

var probeTask = NewTask("test-probe", func(ctx context.Context, req probeReq) (probe, error) {
	var p probe
	p.PID = os.Getpid()
	p.UID, p.GID = os.Getuid(), os.Getgid()
	p.Hostname, _ = os.Hostname()
	p.NS = nsIDs()
	entries, err := os.ReadDir("/tmp")
	if err != nil {
		return p, err
	}
	for _, e := range entries {
		p.Tmp = append(p.Tmp, e.Name())
	}
	if req.WriteTmp != "" {
		path := filepath.Join("/tmp", req.WriteTmp)
		if err := os.WriteFile(path, []byte("inside"), 0o644); err != nil {
			return p, err
		}
		p.TmpFile = path
	}
	if fi, err := os.Stat("/tmp"); err == nil {
		p.TmpMode = fi.Mode().String()
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 5 && f[4] == "/tmp" {
				p.TmpOpts = line
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, pr := range procs {
		p.Procs = append(p.Procs, filepath.Base(pr))
	}
	if lo, err := net.InterfaceByName("lo"); err == nil {
		p.LoUp = lo.Flags&net.FlagUp != 0
	}
	if req.Echo {
		s, err := tcpEcho("hello over lo")
		if err != nil {
			return p, fmt.Errorf("tcp echo: %w", err)
		}
		p.Echo = s
	}
	if b, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		p.UIDMap = strings.Join(strings.Fields(string(b)), " ")
	}
	if b, err := os.ReadFile("/proc/self/setgroups"); err == nil {
		p.Setgroup = strings.TrimSpace(string(b))
	}
	p.Env = os.Environ()
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		v, _ := statusField(b, "FDSize:")
		p.FDSize, _ = strconv.Atoi(v)
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, e := range fds {
		fd, _ := strconv.Atoi(e.Name())
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			target, _ := os.Readlink("/proc/self/fd/" + e.Name())
			p.Fds = append(p.Fds, e.Name()+"->"+target)
		}
	}
	return p, nil
})

func nsIDs() map[string]string {
	ids := map[string]string{}
	for _, t := range syscalls.Types() {
		if id, err := syscalls.IDOf(0, 0, t); err == nil {
			ids[t.String()] = id.String()
		}
	}
	return ids
}

func tcpEcho(msg string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func runProbe(t *testing.T, n Runner, req probeReq) probe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := probeTask.Run(ctx, n, req)
	if err != nil {
		t.Fatalf("probe in %v: %v", n, err)
	}
	return p
}

func TestRunPrivateTmp(t *testing.T) {
	before := hostMounts(t)
	name := fmt.Sprintf("linuxns-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	p := runProbe(t, testNS(WithPrivateTmp()), probeReq{WriteTmp: name})
	if len(p.Tmp) != 0 {
		t.Errorf("private /tmp is not empty: %v", p.Tmp)
	}
	if p.TmpFile == "" {
		t.Fatal("child did not write to /tmp")
	}
	if _, err := os.Stat(filepath.Join("/tmp", name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written in the private /tmp appears on the host: %v", err)
		os.Remove(filepath.Join("/tmp", name))
	}
	for _, opt := range []string{"nosuid", "nodev"} {
		if !strings.Contains(p.TmpOpts, opt) {
			t.Errorf("/tmp mount lacks %s: %s", opt, p.TmpOpts)
		}
	}
	if !strings.Contains(p.TmpOpts, " - tmpfs ") || p.TmpMode != "dtrwxrwxrwx" {
		t.Errorf("/tmp is not a tmpfs of mode 1777: %s %s", p.TmpMode, p.TmpOpts)
	}
	checkMountsUnchanged(t, before)
}

func TestRunTmpfsOptions(t *testing.T) {
	p := runProbe(t, testNS(WithPrivateTmp(TmpfsSize(8<<20), TmpfsMode(0o700), TmpfsInodes(1000))), probeReq{})
	for _, want := range []string{"size=8192k", "nr_inodes=1000", "mode=700"} {
		if !strings.Contains(p.TmpOpts, want) {
			t.Errorf("/tmp mount options lack %s: %s", want, p.TmpOpts)
		}
	}
	if p.TmpMode != "drwx------" {
		t.Errorf("/tmp mode = %s, want drwx------", p.TmpMode)
	}
}

func TestRunPrivatePID(t *testing.T) {
	before := hostMounts(t)
	p := runProbe(t, testNS(WithPrivatePID()), probeReq{})
	if p.PID != 1 {
		t.Errorf("child pid = %d, want 1", p.PID)
	}
	if !slices.Equal(p.Procs, []string{"1"}) {
		t.Errorf("child sees processes %v in /proc, want only [1]", p.Procs)
	}
	checkMountsUnchanged(t, before)
}

var spawnAndReturn = Register("test-spawn-and-return", func(ctx context.Context, args []string) error {
	// A grandchild that would outlive us if the namespace did not end
	// with its PID 1.
	cmd := exec.Command("sleep", args[0])
	if err := cmd.Start(); err != nil {
		return err
	}
	if len(args) > 1 && args[1] == "block" {
		<-make(chan struct{})
	}
	return nil
})

func processesWithArg(arg string) []int { return proctest.WithArg(arg) }

func TestRunPIDGrandchildDies(t *testing.T) {
	// A unique sleep duration marks the grandchild.
	arg := fmt.Sprintf("%d.%d", 1000+os.Getpid()%1000, time.Now().UnixNano()%1000000)
	if err := testNS(WithPrivatePID()).Run(context.Background(), spawnAndReturn, arg); err != nil {
		t.Fatal(err)
	}
	if pids := processesWithArg(arg); len(pids) > 0 {
		t.Errorf("grandchild still alive after PID 1 returned: %v", pids)
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}

	// Killed from outside: the whole namespace dies.
	arg2 := arg + "1"
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- testNS(WithPrivatePID()).Run(ctx, spawnAndReturn, arg2, "block") }()
	deadline := time.Now().Add(30 * time.Second)
	for len(processesWithArg(arg2)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(processesWithArg(arg2)) == 0 {
		t.Fatal("grandchild never started")
	}
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
	if pids := processesWithArg(arg2); len(pids) > 0 {
		t.Errorf("grandchild still alive after its PID 1 was killed: %v", pids)
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestRunNamespaceKinds(t *testing.T) {
	host := nsIDs()
	cases := []struct {
		opt  Option
		kind syscalls.Type
	}{
		{WithPrivateMount(), syscalls.Mount},
		{WithPrivateUTS(), syscalls.UTS},
		{WithPrivateIPC(), syscalls.IPC},
		{WithPrivateNet(), syscalls.Net},
		{WithPrivatePID(), syscalls.PID},
		{WithPrivateCgroup(), syscalls.Cgroup},
		{WithPrivateTime(0, 0), syscalls.Time},
		{WithPrivateUser(), syscalls.User},
	}
	for _, c := range cases {
		t.Run(c.kind.String(), func(t *testing.T) {
			n := testNS(c.opt)
			if c.kind == syscalls.Time {
				if _, err := os.Stat("/proc/self/ns/time"); err != nil {
					t.Skip("kernel has no time namespaces")
				}
			}
			p := runProbe(t, n, probeReq{})
			want := map[syscalls.Type]bool{}
			for _, k := range n.Types() {
				want[k] = true
			}
			if c.kind == syscalls.PID {
				want[syscalls.Mount] = true // fresh /proc
			}
			for _, k := range syscalls.Types() {
				h, ok := host[k.String()]
				if !ok {
					continue
				}
				differs := p.NS[k.String()] != h
				if differs != want[k] {
					t.Errorf("%s namespace: child %s, host %s; want differ=%v", k, p.NS[k.String()], h, want[k])
				}
			}
		})
	}
}

func TestRunHostname(t *testing.T) {
	host, _ := os.Hostname()
	p := runProbe(t, testNS(WithHostname("linuxns-test")), probeReq{})
	if p.Hostname != "linuxns-test" {
		t.Errorf("hostname inside = %q, want linuxns-test", p.Hostname)
	}
	if now, _ := os.Hostname(); now != host {
		t.Errorf("host hostname changed from %q to %q", host, now)
	}
}

func TestRunPrivateNetLoopback(t *testing.T) {
	p := runProbe(t, testNS(WithPrivateNet()), probeReq{Echo: true})
	if !p.LoUp {
		t.Error("lo is not up in the private network namespace")
	}
	if p.Echo != "hello over lo" {
		t.Errorf("echo over 127.0.0.1 = %q", p.Echo)
	}
}

func TestRunUserMapsCallerToRoot(t *testing.T) {
	p := runProbe(t, New(WithPrivateUser()), probeReq{})
	if p.UID != 0 || p.GID != 0 {
		t.Errorf("uid/gid inside = %d/%d, want 0/0", p.UID, p.GID)
	}
	if want := fmt.Sprintf("0 %d 1", os.Geteuid()); p.UIDMap != want {
		t.Errorf("uid_map = %q, want %q", p.UIDMap, want)
	}
	if !asRoot() && p.Setgroup != "deny" {
		t.Errorf("setgroups = %q for an unprivileged caller, want deny", p.Setgroup)
	}
}

func TestRunChildEnvironmentAndFds(t *testing.T) {
	p := runProbe(t, testNS(WithPrivateMount()), probeReq{})
	for _, kv := range p.Env {
		if strings.HasPrefix(kv, envChild+"=") || strings.HasPrefix(kv, envStage+"=") {
			t.Errorf("child environment still holds the marker: %s", kv)
		}
	}
	// Only stdin, stdout and stderr would reach a program the child
	// executes; the job socket is close-on-exec.
	if len(p.Fds) != 3 || !strings.HasPrefix(p.Fds[0], "0->") || !strings.HasPrefix(p.Fds[1], "1->") || !strings.HasPrefix(p.Fds[2], "2->") {
		t.Errorf("child has inheritable fds %v; want only 0, 1 and 2", p.Fds)
	}
}

// TestRunChildClosesInheritedFds gives the caller descriptors without
// close-on-exec, as a program may have inherited them, and checks that the
// function's child has none of them: closeInheritedFds closes them, number
// by number in a table of up to 64 descriptors, from the /proc/self/fd
// listing the trust check made in a larger one; an O_PATH descriptor (a
// directory reachable past the child's mounts) among them. With an empty
// root the child has no /proc when it closes them.
//
// A child's table is as large as its parent's highest open descriptor
// needs, so each case takes the path it names, the first in a process of
// its own (this one may have inherited a high descriptor).
func TestRunChildClosesInheritedFds(t *testing.T) {
	const caseEnv = "LINUXNS_TEST_FDS_CASE"
	only := os.Getenv(caseEnv)
	for _, tc := range []struct {
		name    string
		targets []int
		listed  bool // the child's table is larger than scanFDsBelow
	}{
		{"below64", []int{7, 40}, false},
		{"below256", []int{7, 63, 200}, true},
		{"above256", []int{7, 1030, 5000}, true},
	} {
		if only != "" && only != tc.name {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if !tc.listed && only == "" {
				cmd := exec.Command(os.Args[0], "-test.run=^TestRunChildClosesInheritedFds$", "-test.v", "-test.count=1")
				cmd.Env = append(os.Environ(), caseEnv+"="+tc.name)
				out, err := cmd.CombinedOutput()
				if err != nil || !bytes.Contains(out, []byte("--- PASS: TestRunChildClosesInheritedFds/"+tc.name)) {
					t.Errorf("in a process of its own: %v\n%s", err, out)
				}
				return
			}
			if only != "" {
				// A process of its own: what it inherited above 63 goes.
				if err := unix.CloseRange(64, math.MaxUint32, 0); err != nil {
					t.Fatalf("close_range: %v", err)
				}
			}
			var lim unix.Rlimit
			if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur <= uint64(slices.Max(tc.targets)) {
				t.Skipf("RLIMIT_NOFILE %d does not allow descriptor %d (%v)", lim.Cur, slices.Max(tc.targets), err)
			}
			var leaked []int
			defer func() {
				for _, fd := range leaked {
					unix.Close(fd)
				}
			}()
			// An O_PATH descriptor of / first: open, though poll(2)
			// would report it as not. From 10 on: the child's job socket
			// and the caller's standard error are 3 and 4 there, kept.
			path, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			root, err := unix.FcntlInt(uintptr(path), unix.F_DUPFD, 10)
			unix.Close(path)
			if err != nil {
				t.Fatalf("F_DUPFD from 10: %v", err)
			}
			leaked = append(leaked, root)
			for _, target := range tc.targets {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				w.Close()
				// F_DUPFD: the lowest free descriptor from target on,
				// without close-on-exec.
				fd, err := unix.FcntlInt(r.Fd(), unix.F_DUPFD, target)
				r.Close()
				if err != nil {
					t.Fatalf("F_DUPFD from %d: %v", target, err)
				}
				leaked = append(leaked, fd)
			}
			p := runProbe(t, testNS(WithPrivateMount()), probeReq{})
			if len(p.Fds) != 3 {
				t.Errorf("child has inheritable fds %v; want only 0, 1 and 2 (the caller leaked %v)", p.Fds, leaked)
			}
			if listed := p.FDSize > scanFDsBelow; listed != tc.listed {
				t.Errorf("the child's descriptor table has %d numbers: the case does not take the path it is for", p.FDSize)
			}
			// Where the child's set-up leaves no /proc (an empty root),
			// the descriptors are closed all the same.
			var args []string
			for _, fd := range leaked {
				args = append(args, strconv.Itoa(fd))
			}
			ns := testNS(WithPrivateMount(), WithEmptyRoot())
			if err := ns.Run(context.Background(), fdsClosed, args...); err != nil {
				t.Errorf("with an empty root: %v", err)
			}
			// Nor in the first stage, which stays alive beside the
			// function under WithKillDescendants' subreaper, in the new
			// user namespace that the function is root in.
			ns = testNS(WithPrivateMount(), WithKillDescendants())
			if err := ns.Run(context.Background(), ancestorFdsClosed, append([]string{"2"}, args...)...); err != nil {
				t.Errorf("the first stage under a subreaper: %v", err)
			}
			// Nor in the first stage of a join, the function's parent.
			// (Unprivileged, the function joins the target's user
			// namespace and cannot read them there, nor the test.)
			if asRoot() {
				ns = New(WithJoinProcess(joinTarget(t), joinKinds(syscalls.UTS)...))
				if err := ns.Run(context.Background(), ancestorFdsClosed, append([]string{"1"}, args...)...); err != nil {
					t.Errorf("the first stage of a join: %v", err)
				}
			}
			// Nor where Landlock denies /proc, with a descriptor limit
			// below the descriptors (a program that links cgo, as this
			// test binary does where cgo is on, executes itself again
			// for its privilege steps: privstage_linux.go; without cgo
			// the steps apply to every thread, and the same holds).
			if landlockABI() >= llNeedFS {
				ns := testNS(WithPrivateMount(), WithLandlock(landlockSystem(t, "/proc")), WithRlimit(unix.RLIMIT_NOFILE, 64, 64))
				if err := ns.Run(context.Background(), fdsClosed, args...); err != nil {
					t.Errorf("under Landlock without /proc: %v", err)
				}
			}
		})
	}
}

// ancestorFdsClosed fails if the ancestor of its process args[0]
// generations up (the first stage: 2 under WithKillDescendants' subreaper,
// 1 behind a join) holds any of the descriptors the other args name
// without close-on-exec (/proc/PID/fdinfo).
var ancestorFdsClosed = Register("test-ancestor-fds-closed", func(ctx context.Context, args []string) error {
	up, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	args = args[1:]
	gp := os.Getppid()
	for range up - 1 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", gp))
		if err != nil {
			return err
		}
		v, _ := statusField(b, "PPid:")
		if gp, err = strconv.Atoi(v); err != nil || gp <= 1 {
			return fmt.Errorf("no ancestor %d generations up (%q)", up, v)
		}
	}
	if _, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", gp)); err != nil {
		return fmt.Errorf("the first stage's descriptors cannot be read, the test shows nothing: %w", err)
	}
	var open []string
	for _, a := range args {
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", gp, a))
		if errors.Is(err, os.ErrNotExist) {
			continue // not open
		}
		if err != nil {
			return fmt.Errorf("the first stage's descriptor %s cannot be read, the test shows nothing: %w", a, err)
		}
		_, f, _ := strings.Cut(string(info), "flags:")
		f, _, _ = strings.Cut(f, "\n")
		flags, err := strconv.ParseUint(strings.TrimSpace(f), 8, 64)
		if err != nil {
			return fmt.Errorf("fdinfo of %s: %q", a, info)
		}
		if flags&unix.O_CLOEXEC == 0 {
			open = append(open, a)
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("inherited descriptors %v are open in the first stage (process %d)", open, gp)
	}
	return nil
})

// fdsClosed fails if any of the descriptors args names is open without
// close-on-exec, as fcntl sees it (an O_PATH descriptor too); it needs no
// /proc, and fails if it can list /proc/self/fd.
var fdsClosed = Register("test-fds-closed", func(ctx context.Context, args []string) error {
	if _, err := os.ReadDir("/proc/self/fd"); err == nil {
		return errors.New("/proc/self/fd can be listed: the test would not show what it means to")
	}
	var open []string
	for _, a := range args {
		fd, err := strconv.Atoi(a)
		if err != nil {
			return err
		}
		// Open without close-on-exec: the number may be the process's
		// own by now (the runtime's, opened close-on-exec).
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			open = append(open, a)
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("inherited descriptors %v are open in the function's child", open)
	}
	return nil
})

var failing = Register("test-failing", func(ctx context.Context, args []string) error {
	switch args[0] {
	case "error":
		return errors.New("it went wrong")
	case "panic":
		panic("boom")
	case "exit":
		os.Exit(7)
	case "signal":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintln(os.Stderr, "ignoring SIGTERM")
		time.Sleep(time.Minute)
	case "wait-ctx":
		<-ctx.Done()
		return ctx.Err()
	case "wait-ctx-ready":
		// Catches the signals (Done), then says so on the FIFO args[1].
		done := ctx.Done()
		if f, err := os.OpenFile(args[1], os.O_WRONLY, 0); err == nil {
			f.Write([]byte{1})
			f.Close()
		}
		<-done
		return ctx.Err()
	case "ok":
		return nil
	}
	return nil
})

func TestRunResultsReachCaller(t *testing.T) {
	ctx := context.Background()
	n := testNS(WithPrivateMount())

	err := n.Run(ctx, failing, "error")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Msg != "it went wrong" || ee.Code != 1 {
		t.Errorf("returned error: got %#v", err)
	}

	err = n.Run(ctx, failing, "panic")
	if !errors.As(err, &ee) || ee.Msg != "panic: boom" || !strings.Contains(ee.Stack, "run_test.go") {
		t.Errorf("panic: got %v", err)
	}

	err = n.Run(ctx, failing, "exit")
	if !errors.As(err, &ee) || ee.Code != 7 || ee.ExitCode() != 7 {
		t.Errorf("os.Exit(7): got %v", err)
	}

	err = n.Run(ctx, failing, "signal")
	if !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL || ee.ExitCode() != 137 {
		t.Errorf("killed: got %v", err)
	}

	if err := n.Run(ctx, failing, "ok"); err != nil {
		t.Errorf("ok: got %v", err)
	}
}

func TestRunKillsChildIgnoringTerm(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	grace := 300 * time.Millisecond
	err := testNS(WithPrivateMount(), WithKillGrace(grace)).Run(ctx, failing, "ignore-term")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL {
		t.Errorf("got %v, want a child killed by SIGKILL", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want it to wrap context.DeadlineExceeded", err)
	}
}

func TestRunNormalChildCostsNoGrace(t *testing.T) {
	// With an hour of grace, waiting for it would hang the test.
	n := testNS(WithPrivateMount(), WithKillGrace(time.Hour))
	start := time.Now()
	if err := n.Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 30*time.Minute {
		t.Errorf("Run took %v", d)
	}
}

func TestRunContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// Cancelled once the function looks at its context: before, SIGTERM
	// has its default effect (see signalContext), which a deadline could
	// meet on a loaded machine.
	ready := cancelWhenReady(t, func() { cancel(context.DeadlineExceeded) })
	err := testNS(WithPrivateMount()).Run(ctx, failing, "wait-ctx-ready", ready)
	var ee *ExitError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ee) || ee.Msg != "context canceled" {
		t.Errorf("got %v; want the child's ctx error and DeadlineExceeded", err)
	}
	// Already done: nothing starts.
	if err := testNS().Run(ctx, failing, "ok"); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a done context = %v", err)
	}
}

func TestRunSignalToParentStopsChild(t *testing.T) {
	signal.Ignore(syscall.SIGHUP)
	defer signal.Reset(syscall.SIGHUP)
	// Our own catcher must keep working during and after Run.
	mine := make(chan os.Signal, 1)
	signal.Notify(mine, syscall.SIGUSR1)
	defer signal.Stop(mine)

	errc := make(chan error, 1)
	go func() { errc <- testNS(WithPrivateMount()).Run(context.Background(), failing, "wait-ctx") }()
	time.Sleep(300 * time.Millisecond) // let the child start; a signal before is handled the same way
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrInterrupted) {
			t.Errorf("got %v, want ErrInterrupted", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after SIGTERM")
	}
	if !signal.Ignored(syscall.SIGHUP) {
		t.Error("Run changed the disposition of an ignored SIGHUP")
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case <-mine:
	case <-time.After(10 * time.Second):
		t.Error("the program's own signal handler stopped working")
	}
}

func countFds(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// zombieChildren lists children of this process that are zombies.
func zombieChildren() []int { return proctest.Zombies() }

func TestRunConcurrentLeavesNothing(t *testing.T) {
	n := testNS(WithPrivateMount(), WithPrivateTmp())
	// One Run first: os/signal starts its one goroutine on first use.
	if err := n.Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	runtime.GC() // close what earlier tests left to the garbage collector
	time.Sleep(50 * time.Millisecond)
	fds := countFds(t)
	goroutines := runtime.NumGoroutine()
	before := hostMounts(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arg := "ok"
			if i%10 == 0 {
				arg = "error"
			}
			err := n.Run(context.Background(), failing, arg)
			if (arg == "ok") != (err == nil) {
				errs <- fmt.Errorf("run %d (%s): %v", i, arg, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if z := zombieChildren(); len(z) > 0 {
		t.Errorf("zombies left: %v", z)
	}
	if got := countFds(t); got != fds {
		t.Errorf("fd count %d after, %d before", got, fds)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > goroutines {
		t.Errorf("%d goroutines after, %d before", got, goroutines)
	}
	checkMountsUnchanged(t, before)
}

var reaper = Register("test-reaper", func(ctx context.Context, args []string) error {
	// Orphans: sh exits at once, leaving its background sleeps (of args[0]
	// seconds) to PID 1.
	out, err := exec.Command("sh", "-c", "sleep $1 >/dev/null & echo $!; sleep $1 >/dev/null & echo $!; exit 0", "sh", args[0]).Output()
	if err != nil {
		return fmt.Errorf("orphan maker: %w", err)
	}
	orphans := strings.Fields(string(out))
	if len(orphans) != 2 {
		return fmt.Errorf("orphan maker printed %q, not two pids", out)
	}
	// Meanwhile our own children must keep their exit statuses.
	for i := range 20 {
		err := exec.Command("sh", "-c", "exit 3").Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			return fmt.Errorf("own child %d: status stolen: %v", i, err)
		}
	}
	// Each orphan is gone from /proc once it has exited and been reaped;
	// a zombie stays there.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		left := 0
		for _, pid := range orphans {
			if _, err := os.Stat("/proc/" + pid); err == nil {
				left++
			}
		}
		if left == 0 && len(zombiesIn()) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("orphans %v not reaped: zombies %v", orphans, zombiesIn())
})

func zombiesIn() []string {
	var z []string
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err == nil && strings.Contains(string(b), ") Z ") {
			z = append(z, s)
		}
	}
	return z
}

// TestRunReapsOrphans: PID 1 reaps orphans, by the clock during its
// reaper's warm-up and on SIGCHLD after it (reapOrphansLater), and keeps
// the statuses of its own children; each phase alone too (the warm-up and
// the reaper's tick set in the child through reaperWarmupEnv and
// reaperTickEnv: with a tick of an hour, only SIGCHLD reaps after the
// warm-up).
func TestRunReapsOrphans(t *testing.T) {
	for _, tc := range []struct {
		name, warmup, tick, sleep string
	}{
		{"orphans exit during the warm-up", "", "", "0"},
		{"orphans exit after it", "", "1h", "0.1"},
		{"by the clock only", "1h", "", "0.1"},
		{"on SIGCHLD only", "0s", "1h", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(reaperWarmupEnv, tc.warmup)
			t.Setenv(reaperTickEnv, tc.tick)
			if err := testNS(WithPrivatePID()).Run(context.Background(), reaper, tc.sleep); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// ignoresSIGCHLD, as PID 1, sets SIGCHLD to be ignored, as a program may,
// and checks that it still is once the reaper's warm-up has passed.
var ignoresSIGCHLD = Register("test-ignores-sigchld", func(ctx context.Context, args []string) error {
	signal.Ignore(syscall.SIGCHLD)
	time.Sleep(4 * reaperWarmup)
	if !signal.Ignored(syscall.SIGCHLD) {
		return errors.New("SIGCHLD is caught again after the function set it to be ignored")
	}
	return nil
})

// TestRunReaperKeepsSIGCHLDIgnored: the reaper of PID 1, which starts
// catching SIGCHLD only after its warm-up, does not undo a function's
// signal.Ignore(SIGCHLD) then.
func TestRunReaperKeepsSIGCHLDIgnored(t *testing.T) {
	if err := testNS(WithPrivatePID()).Run(context.Background(), ignoresSIGCHLD); err != nil {
		t.Fatal(err)
	}
}

func TestRunValidation(t *testing.T) {
	long := strings.Repeat("a", 65)
	cases := []struct {
		name string
		n    *Namespace
	}{
		{"empty hostname", New(WithHostname(""))},
		{"long hostname", New(WithHostname(long))},
		{"unicode hostname", New(WithHostname("hôte"))},
		{"negative tmpfs size", New(WithPrivateTmp(TmpfsSize(-1)))},
		{"bad tmpfs mode", New(WithPrivateTmp(TmpfsMode(os.ModeDir | 0o755)))},
		{"negative inodes", New(WithPrivateTmp(TmpfsInodes(-5)))},
		{"zero-size map", New(WithPrivateUser(IDMap{Inside: 0, Outside: 0, Size: 0}))},
		{"negative map", New(WithPrivateUser(IDMap{Inside: -1, Outside: 0, Size: 1}))},
		{"overlapping maps", New(WithPrivateUser(IDMap{Inside: 0, Outside: 0, Size: 10}, IDMap{Inside: 5, Outside: 100, Size: 10}))},
		{"negative grace", New(WithKillGrace(-time.Second))},
		{"init without pid", New(WithMinimalInit())},
		{"time offset before boot", New(WithPrivateTime(-100*365*24*time.Hour, 0))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.n.Run(context.Background(), failing, "ok")
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Run = %v, want ErrInvalid", err)
			}
			if err := c.n.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate = %v, want ErrInvalid", err)
			}
		})
	}
	if err := New().Run(context.Background(), nil); !errors.Is(err, ErrUnknownFunc) {
		t.Errorf("Run(nil) = %v, want ErrUnknownFunc", err)
	}
	if err := New().Run(context.Background(), &Func{name: "test-failing"}); !errors.Is(err, ErrUnknownFunc) {
		t.Errorf("Run of an unregistered Func = %v, want ErrUnknownFunc", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"duplicate": func() { Register("test-failing", func(context.Context, []string) error { return nil }) },
		"empty":     func() { Register("", func(context.Context, []string) error { return nil }) },
		"nil":       func() { Register("test-nil", nil) },
		"nil task":  func() { NewTask[int, int]("test-nil-task", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestRunWithoutPrivilegeSaysWhatToDo(t *testing.T) {
	if asRoot() {
		t.Skip("root can create namespaces without a user namespace; the unprivileged case runs as uid 65534")
	}
	err := New(WithPrivateMount()).Run(context.Background(), failing, "ok")
	if !errors.Is(err, ErrPermission) || !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "WithPrivateUser") {
		t.Errorf("got %v; want ErrPermission and EPERM, suggesting WithPrivateUser()", err)
	}
}

func TestRunPrivateTime(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("kernel has no time namespaces")
	}
	var hostTS unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &hostTS)
	off := 1000 * time.Hour
	got, err := monotonicTask.Run(context.Background(), testNS(WithPrivateTime(off, off)), 0)
	if err != nil {
		t.Fatal(err)
	}
	host := time.Duration(hostTS.Nano())
	if got < host+off || got > host+off+10*time.Minute {
		t.Errorf("CLOCK_MONOTONIC inside = %v, host %v; want it shifted by %v", got, host, off)
	}
}

var monotonicTask = NewTask("test-monotonic", func(ctx context.Context, _ int) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
})

// cancelWhenReady makes a FIFO and returns its path: once the
// "wait-ctx-ready" function has opened it and written its byte, cancel is
// called.
func cancelWhenReady(t *testing.T, cancel func()) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ready")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0) // does not wait for a writer
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	go func() {
		var b [1]byte
		if n, _ := f.Read(b[:]); n == 1 {
			cancel()
		}
	}()
	return path
}
