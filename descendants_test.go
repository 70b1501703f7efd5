//go:build linux

package namespace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// The helper of TestKillDescendants: the test binary started again with
// these variables runs one verb that starts a detached grandchild (`sleep
// MARKER` in a session of its own), prints "ready" and blocks, until the
// test SIGKILLs it.
const (
	envDescVerb = "LINUXNS_TEST_DESCENDANTS_VERB"
	envDescKill = "LINUXNS_TEST_DESCENDANTS_KILL" // "1": WithKillDescendants
)

// detachedScript starts `sleep $0` in a session of its own, with no
// descriptor of the shell, says so, and waits; $0 is the marker.
const detachedScript = `setsid sleep "$0" </dev/null >/dev/null 2>&1 & echo ready; while :; do sleep 1; done`

// startDetached starts `sleep marker` in a session of its own, as a daemon
// would, and does not wait for it.
func startDetached(marker string) error {
	cmd := exec.Command("sleep", marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd.Start()
}

var spawnDetached = Register("test-spawn-detached", func(ctx context.Context, args []string) error {
	if err := startDetached(args[0]); err != nil {
		return err
	}
	fmt.Println("ready")
	<-make(chan struct{})
	return nil
})

// descendantsHelper is the helper's part: it does not return.
func descendantsHelper(verb string, kill bool) {
	marker := os.Args[len(os.Args)-1]
	opts := []Option{WithPrivateTmp()}
	if kill {
		opts = append(opts, WithKillDescendants())
	}
	n := testNS(opts...)
	var err error
	switch verb {
	case "Run":
		err = n.Run(context.Background(), spawnDetached, marker)
	case "Setup":
		if err = n.Setup(); err == nil {
			// Inside.
			if err = startDetached(marker); err == nil {
				fmt.Println("ready")
				<-make(chan struct{})
			}
		}
	case "Command":
		cmd := n.Command(context.Background(), "sh", "-c", detachedScript, marker)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err = cmd.Run()
	case "StartProcess", "Prepare":
		argv := []string{"sh", "-c", detachedScript, marker}
		attr := &os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}}
		var p *os.Process
		if verb == "Prepare" {
			var pp *Prepared
			if pp, err = n.Prepare("/bin/sh", argv, attr); err == nil {
				p, err = pp.Start()
			}
		} else {
			p, err = n.StartProcess("/bin/sh", argv, attr)
		}
		if err == nil {
			_, err = p.Wait()
		}
	default:
		err = fmt.Errorf("unknown verb %q", verb)
	}
	fmt.Fprintf(os.Stderr, "descendants helper %s: %v\n", verb, err)
	os.Exit(3)
}

// TestKillDescendants SIGKILLs, from the test, a process that has started
// a child with each verb, whose job started a detached grandchild: with
// WithKillDescendants the grandchild is ended; without it, it outlives
// everything (the defect that WithKillDescendants addresses without a PID
// namespace), and the test kills it.
func TestKillDescendants(t *testing.T) {
	if verb := os.Getenv(envDescVerb); verb != "" {
		descendantsHelper(verb, os.Getenv(envDescKill) == "1")
	}
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid(1)")
	}
	for _, verb := range []string{"Run", "Setup", "Command", "StartProcess", "Prepare"} {
		for _, kill := range []bool{true, false} {
			name := verb
			if !kill {
				name += "/without"
			}
			t.Run(name, func(t *testing.T) { testKillDescendants(t, verb, kill) })
		}
	}
}

func testKillDescendants(t *testing.T, verb string, kill bool) {
	before := hostMounts(t)
	marker := fmt.Sprintf("%d.%06d", 1000+os.Getpid()%1000, rand.IntN(1000000))
	// Whatever happens, nothing with the marker outlives the test.
	defer func() {
		for _, pid := range proctest.WithArg(marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(self, "-test.run=^TestKillDescendants$", marker)
	helper.Env = append(os.Environ(), envDescVerb+"="+verb, envDescKill+"=0")
	if kill {
		helper.Env[len(helper.Env)-1] = envDescKill + "=1"
	}
	helper.Stderr = os.Stderr
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("helper: %q, want ready", line)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	var pid int
	if !proctest.WaitFor(func() bool { pid = proctest.Sleeper(marker); return pid != 0 }) {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("the grandchild `sleep %s` never started", marker)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd of the grandchild %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	others := func() []int {
		return slices.DeleteFunc(proctest.WithArg(marker), func(p int) bool { return p == pid })
	}
	chain := others()

	// SIGKILL: no code of the helper runs.
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()

	if kill {
		if !proctest.WaitFor(func() bool { return proctest.Exited(pidfd) }) {
			t.Errorf("%s WithKillDescendants: the grandchild %d outlived its SIGKILLed ancestor %v by a minute", verb, pid, chain)
		}
		if !proctest.WaitFor(func() bool { return len(proctest.WithArg(marker)) == 0 }) {
			t.Errorf("%s WithKillDescendants: processes left: %v", verb, proctest.WithArg(marker))
		}
	} else {
		// Everything between the helper and the grandchild dies with the
		// helper; the grandchild lives on.
		if !proctest.WaitFor(func() bool { return len(others()) == 0 }) {
			t.Errorf("%s: the processes between the helper and the grandchild outlived it: %v", verb, others())
		}
		if proctest.Exited(pidfd) {
			t.Errorf("%s without WithKillDescendants: the grandchild %d died with its ancestors; the test shows nothing", verb, pid)
		}
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		if !proctest.WaitFor(func() bool { return proctest.Exited(pidfd) }) {
			t.Errorf("the grandchild %d survived SIGKILL", pid)
		}
	}
	checkMountsUnchanged(t, before)
}

// TestKillDescendantsWhenTheChildEnds: with WithKillDescendants, the
// processes that the child started end when it ends by itself, for every
// verb, and the child's outcome is reported as usual.
func TestKillDescendantsWhenTheChildEnds(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid(1)")
	}
	n := testNS(WithPrivateTmp(), WithKillDescendants())
	check := func(what, marker string) {
		t.Helper()
		if !proctest.WaitFor(func() bool { return len(proctest.WithArg(marker)) == 0 }) {
			t.Errorf("%s: processes left after the child ended: %v", what, proctest.WithArg(marker))
			for _, pid := range proctest.WithArg(marker) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	script := `setsid sleep "$0" </dev/null >/dev/null 2>&1 & exit 7`

	m := fmt.Sprintf("%d.%06d", 1000+os.Getpid()%1000, rand.IntN(1000000))
	err := n.Run(context.Background(), spawnAndReturn, m)
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	check("Run", m)

	// Cancelled: the child gets SIGTERM through the subreaper, and its
	// grandchild goes with it.
	m += "0"
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx, spawnAndReturn, m, "block") }()
	if !proctest.WaitFor(func() bool { return proctest.Sleeper(m) != 0 }) {
		t.Error("cancelled Run: the grandchild never started")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Run = %v, want context.Canceled", err)
	}
	check("cancelled Run", m)

	// A pooled child: the prepared children wait under their subreapers.
	pn := testPool(t, 1, WithPrivateTmp(), WithKillDescendants())
	for i := range 3 {
		pm := m + strconv.Itoa(i+2)
		if err := pn.Run(context.Background(), spawnAndReturn, pm); err != nil {
			t.Errorf("pooled Run %d: %v", i, err)
		}
		check("pooled Run", pm)
	}
	if err := pn.Close(); err != nil {
		t.Errorf("pool Close: %v", err)
	}

	m += "1"
	err = n.Command(context.Background(), "sh", "-c", script, m).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("Command: %v, want exit status 7", err)
	}
	check("Command", m)

	m += "2"
	p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", script, m}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait()
	if err != nil || st.ExitCode() != 7 {
		t.Errorf("StartProcess: %v %v, want exit status 7", st, err)
	}
	check("StartProcess", m)
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

// TestKillDescendantsWithOtherOptions: the subreaper keeps the child's
// time namespace (Run executes the program once more under it, Command
// forks the command through it) and its exit status; with WithPrivatePID
// there is none (the namespace ends the descendants).
func TestKillDescendantsWithOtherOptions(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("kernel has no time namespaces")
	}
	var hostTS unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &hostTS)
	host := time.Duration(hostTS.Nano())
	off := 1000 * time.Hour
	n := testNS(WithPrivateTime(off, off), WithKillDescendants())
	got, err := monotonicTask.Run(context.Background(), n, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got < host+off || got > host+off+10*time.Minute {
		t.Errorf("Run: CLOCK_MONOTONIC inside = %v, host %v; want it shifted by %v", got, host, off)
	}
	out, err := n.Command(context.Background(), "sh", "-c", `read up idle </proc/uptime; echo "${up%%.*}"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if up, _ := strconv.Atoi(strings.TrimSpace(string(out))); time.Duration(up)*time.Second < off {
		t.Errorf("Command: uptime inside %q, want at least %v", out, off)
	}
	if n.plan().KillDescendants != true || testNS(WithPrivatePID(), WithKillDescendants()).plan().KillDescendants {
		t.Error("the plan has a subreaper with WithPrivatePID, or none without it")
	}
}

// TestKillDescendantsRefused: Do and Exec start no process that could
// outlive the caller's, and refuse the option.
func TestKillDescendantsRefused(t *testing.T) {
	n := New(WithKillDescendants())
	if err := n.Do(func() error { return nil }); !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "WithKillDescendants") || !strings.Contains(err.Error(), "Do") {
		t.Errorf("Do: %v, want ErrUnsupported naming Do and WithKillDescendants", err)
	}
	if err := n.Exec("/bin/true", nil, nil); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "WithKillDescendants") || !strings.Contains(err.Error(), "Exec") {
		t.Errorf("Exec: %v, want ErrUnsupported naming Exec and WithKillDescendants", err)
	}
}
