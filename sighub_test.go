//go:build linux

package namespace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sigHubEnv makes TestSigHubHelper a program of its own: a Pool is open and
// idle (or, in the modes "live" and "live-own", runs a function) when its
// parent sends it signals.
const sigHubEnv = "LINUXNS_TEST_SIGHUB"

// sigHubCaught are the signals a program catches itself in mode "own": the
// four the hub forwards, and one it does not.
var sigHubCaught = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1}

// sigCounter catches SIGTERM itself, says it is ready on the FIFO args[0],
// and counts the SIGTERMs that arrive until 500 ms after the first.
var sigCounter = Register("test-sighub-count", func(ctx context.Context, args []string) error {
	c := make(chan os.Signal, 8)
	signal.Notify(c, syscall.SIGTERM)
	f, err := os.OpenFile(args[0], os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	f.Write([]byte{1})
	f.Close()
	<-c
	return fmt.Errorf("term %d", 1+countSignals(c, 500*time.Millisecond))
})

// countSignals counts what c receives until it has been quiet for quiet.
func countSignals(c <-chan os.Signal, quiet time.Duration) int {
	n := 0
	for {
		select {
		case <-c:
			n++
		case <-time.After(quiet):
			return n
		}
	}
}

// TestSigHubHelper is the program that TestSigHub* start. It prints
// "ready" once a Run has passed through the Pool and the Pool is full
// again (or, for "live" modes, once a pooled function runs), then reports
// what became of the signals.
func TestSigHubHelper(t *testing.T) {
	mode, ok := os.LookupEnv(sigHubEnv)
	if !ok {
		t.Skip("a helper: runs as TestSigHub*'s child")
	}
	var mine chan os.Signal
	switch mode {
	case "own":
		mine = make(chan os.Signal, 16)
		signal.Notify(mine, sigHubCaught...)
	case "live-own":
		mine = make(chan os.Signal, 16)
		signal.Notify(mine, syscall.SIGTERM)
	case "ignore":
		signal.Ignore(syscall.SIGHUP)
	}
	p := testPool(t, 1, WithPrivateMount(), WithKillGrace(10*time.Second))
	defer p.Close()
	if err := p.Run(context.Background(), failing, "ok"); err != nil {
		fmt.Println("run:", err)
		return
	}
	poolIdle(t, p, 1)
	switch mode {
	case "live":
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background(), failing, "wait-ctx") }()
		time.Sleep(300 * time.Millisecond) // the child has the job; a signal before is handled the same way
		fmt.Println("ready")
		err := <-errc
		fmt.Println("run:", errors.Is(err, ErrInterrupted))
		// A signal sent again would end the program before this.
		time.Sleep(500 * time.Millisecond)
		fmt.Println("survived")
	case "live-own":
		readyc := make(chan struct{})
		fifo := cancelWhenReady(t, func() { close(readyc) })
		errc := make(chan error, 1)
		go func() { errc <- p.Run(context.Background(), sigCounter, fifo) }()
		<-readyc
		fmt.Println("ready")
		err := <-errc
		var ee *ExitError
		if errors.As(err, &ee) {
			fmt.Println("child:", ee.Msg)
		}
		fmt.Println("run:", errors.Is(err, ErrInterrupted))
		fmt.Println("got", countSignals(mine, 500*time.Millisecond))
		fmt.Println("survived")
	case "own":
		fmt.Println("ready")
		got := map[os.Signal]int{}
		got[<-mine]++
		for quiet := time.After(time.Second); ; {
			select {
			case sig := <-mine:
				got[sig]++
				quiet = time.After(time.Second)
				continue
			case <-quiet:
			}
			break
		}
		for _, sig := range sigHubCaught {
			fmt.Printf("got %d %v\n", got[sig], sig)
		}
		// The Pool still serves Runs afterwards.
		fmt.Println("run after:", p.Run(context.Background(), failing, "ok"))
	case "ignore":
		fmt.Println("ready")
		time.Sleep(500 * time.Millisecond)
		fmt.Println("ignored:", signal.Ignored(syscall.SIGHUP))
		fmt.Println("survived")
	case "closed":
		// The Pool and its Runs are over: the signals are the program's.
		p.Close()
		if err := testNS(WithPrivateMount()).Run(context.Background(), failing, "ok"); err != nil {
			fmt.Println("run:", err)
			return
		}
		fmt.Println("ready")
		time.Sleep(time.Minute)
		fmt.Println("survived")
	default: // no handler of its own, the Pool open and idle
		fmt.Println("ready")
		time.Sleep(time.Minute)
		fmt.Println("survived")
	}
}

// sigHubChild runs TestSigHubHelper in mode, sends it sigs 100 ms apart
// once it is ready, and returns its output and exit state.
func sigHubChild(t *testing.T, mode string, sigs ...syscall.Signal) (string, *os.ProcessState) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSigHubHelper$", "-test.v=false")
	cmd.Env = append(os.Environ(), sigHubEnv+"="+mode)
	var stderr bytes.Buffer // SIGQUIT's stack dump, or why it failed
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper ended before it was ready: %q; stderr:\n%s", lines, stderr.String())
		}
		lines = append(lines, strings.TrimSpace(line))
		if strings.TrimSpace(line) == "ready" {
			break
		}
	}
	for i, sig := range sigs {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	rest, _ := bufio.NewReader(r).ReadString(0)
	cmd.Wait()
	errs := stderr.String()
	if len(errs) > 2000 {
		errs = errs[:2000] + "..."
	}
	return strings.Join(append(lines, strings.TrimSpace(rest), "stderr: "+errs), "\n"), cmd.ProcessState
}

// A program without a handler of its own takes the default action of a
// terminating signal while a Pool is open and idle, as it would without
// the package: it is killed by that signal (SIGQUIT: the Go runtime's
// stack dump and exit status 2).
func TestSigHubIdlePoolDefaultAction(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			if signal.Ignored(sig) {
				t.Skipf("%v is ignored in this process (inherited, as SIGHUP under nohup): the helper inherits that, and the program's own handling of it is to ignore it (TestSigHubIgnoredStaysIgnored)", sig)
			}
			out, ps := sigHubChild(t, "default", sig)
			ws := ps.Sys().(syscall.WaitStatus)
			if sig == syscall.SIGQUIT {
				if !ws.Exited() || ws.ExitStatus() != 2 || !strings.Contains(out, "ready") {
					t.Errorf("helper ended with %v, want the Go runtime's exit status 2; output:\n%s", ps, out)
				}
				return
			}
			if !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("helper ended with %v, want killed by %v; output:\n%s", ps, sig, out)
			}
		})
	}
}

// A program that catches the signals itself gets each exactly once while
// a Pool is open and idle, keeps running, and the Pool still serves Runs.
func TestSigHubIdlePoolOwnHandler(t *testing.T) {
	out, ps := sigHubChild(t, "own", syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1)
	if !ps.Success() {
		t.Fatalf("helper ended with %v; output:\n%s", ps, out)
	}
	if !strings.Contains(out, "run after: <nil>") {
		t.Errorf("the Pool failed after the signals; output:\n%s", out)
	}
	for _, sig := range sigHubCaught {
		if want := fmt.Sprintf("got 1 %v\n", sig); !strings.Contains(out+"\n", want) {
			t.Errorf("want %q: the program's handler got each signal exactly once; output:\n%s", strings.TrimSpace(want), out)
		}
	}
}

// A signal the program ignores stays ignored while a Pool is open: the
// hub neither catches it nor changes signal.Ignored.
func TestSigHubIgnoredStaysIgnored(t *testing.T) {
	out, ps := sigHubChild(t, "ignore", syscall.SIGHUP)
	if !ps.Success() || !strings.Contains(out, "ignored: true") || !strings.Contains(out, "survived") {
		t.Errorf("helper ended with %v; want SIGHUP still ignored and the program alive; output:\n%s", ps, out)
	}
}

// Once the Pool is closed and the last Run is over, the program's signal
// handling is what it was: the default action.
func TestSigHubReleasedAfterClose(t *testing.T) {
	if signal.Ignored(syscall.SIGTERM) {
		t.Skip("SIGTERM is ignored in this process (inherited): the helper would inherit that")
	}
	out, ps := sigHubChild(t, "closed", syscall.SIGTERM)
	ws := ps.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("helper ended with %v, want killed by SIGTERM; output:\n%s", ps, out)
	}
}

// A signal while a pooled Run is live stops that Run's child and is not
// sent again: the program goes on.
func TestSigHubLiveRun(t *testing.T) {
	out, ps := sigHubChild(t, "live", syscall.SIGTERM)
	if !ps.Success() || !strings.Contains(out, "run: true") || !strings.Contains(out, "survived") {
		t.Errorf("helper ended with %v; want the Run interrupted and the program alive; output:\n%s", ps, out)
	}
}

// A signal while a pooled Run is live, in a program that catches it too:
// the child gets SIGTERM exactly once (from the Run), and the program's
// own handler gets the signal exactly once, as it would without the
// package (os/signal gives a signal to every channel that asked for it).
func TestSigHubLiveRunOwnHandler(t *testing.T) {
	out, ps := sigHubChild(t, "live-own", syscall.SIGTERM)
	if !ps.Success() || !strings.Contains(out, "run: true") || !strings.Contains(out, "survived") {
		t.Fatalf("helper ended with %v; want the Run interrupted and the program alive; output:\n%s", ps, out)
	}
	if !strings.Contains(out, "child: term 1\n") {
		t.Errorf("want the child to get SIGTERM exactly once; output:\n%s", out)
	}
	if !strings.Contains(out, "got 1\n") {
		t.Errorf("want the program's handler to get SIGTERM exactly once; output:\n%s", out)
	}
}

// The hub holds nothing once no Run is live, whether a Pool is open or
// not: no registration, no Run.
func TestSigHubReleased(t *testing.T) {
	p := testPool(t, 1, WithPrivateMount())
	if err := p.Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	if err := testNS(WithPrivateMount()).Run(context.Background(), failing, "ok"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		if hub.ep != nil || len(hub.live) != 0 {
			t.Errorf("%s: the hub holds a registration (%v) or Runs (%d)", when, hub.ep != nil, len(hub.live))
		}
	}
	check("pool open and idle")
	p.Close()
	check("pool closed")
}
