//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Regression tests for faults found by the adversarial suite (stress/).

// garbageReport writes a malformed frame to its job socket (fd 3), then
// returns n bytes of output, far more than the socket buffer holds.
var garbageReport = NewTask("adv-garbage-report", func(ctx context.Context, n int) (string, error) {
	if _, err := unix.Write(int(child.sock.Fd()), []byte("\x00\x00\x00\x02xx")); err != nil {
		return "", err
	}
	return strings.Repeat("x", n), nil
})

// garbageThenNil writes a malformed frame to its job socket and returns nil.
var garbageThenNil = Register("adv-garbage-nil", func(ctx context.Context, args []string) error {
	_, err := unix.Write(int(child.sock.Fd()), []byte("\xff\xff\xff\xff"))
	return err
})

// TestMalformedReportNeitherHangsNorPasses: a child that corrupts its
// report stream must not block Run (the parent drains the socket, so the
// child can finish writing and exit), and the corruption is an ErrProtocol
// error, not a success.
func TestMalformedReportNeitherHangsNorPasses(t *testing.T) {
	for _, n := range []int{0, 8 << 20} {
		// The deadline only guards against a hang; the Run takes
		// milliseconds.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := garbageReport.Run(ctx, testNS(WithPrivateMount()), n)
		if ctx.Err() != nil {
			t.Errorf("output of %d bytes after a malformed frame: Run hung until its deadline: %v", n, err)
		} else if !errors.Is(err, ErrProtocol) {
			t.Errorf("output of %d bytes after a malformed frame: %v; want ErrProtocol", n, err)
		}
		cancel()
	}
	if err := testNS(WithPrivateMount()).Run(context.Background(), garbageThenNil); !errors.Is(err, ErrProtocol) {
		t.Errorf("function that returned nil after a malformed frame: %v; want ErrProtocol", err)
	}
}

// A Command's child gets Pdeathsig, which the kernel sends when the OS
// thread that started the child exits. Do throws its thread away: it must
// never pick a thread that has children, or it kills them.

// TestDoAvoidsThreadWithChildren hands Do's thread selection a thread that
// has a child: the body must run on another thread.
func TestDoAvoidsThreadWithChildren(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			done <- err
			return
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		if !threadHasChildren() {
			done <- errors.New("threadHasChildren is false on the thread that started a child")
			return
		}
		tid := unix.Gettid()
		ran := make(chan int, 1)
		throwaway(func() { ran <- unix.Gettid() }, nil)
		if got := <-ran; got == tid {
			done <- errors.New("the throw-away body ran on the thread that has a child")
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// threadChildren checks threadHasChildren's answers in a process that
// starts with no child at all (waitid's ECHILD) and then has some (the
// list of /proc/thread-self/children).
var threadChildren = Register("adv-thread-children", func(ctx context.Context, args []string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if threadHasChildren() {
		return errors.New("true in a process without children")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		return err
	}
	if !threadHasChildren() {
		return errors.New("false on the thread that started a running child")
	}
	_ = cmd.Process.Kill()
	// A zombie is still a child: wait (without reaping) until it is one.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		return err
	}
	if !threadHasChildren() {
		return errors.New("false on the thread whose child is a zombie")
	}
	_ = cmd.Wait()
	if threadHasChildren() {
		return errors.New("true once the only child was reaped")
	}
	// Another thread's child: the process has one, this thread none.
	other := make(chan *exec.Cmd)
	go func() {
		runtime.LockOSThread() // its thread ends with the goroutine, after the child
		c := exec.Command("sleep", "60")
		if c.Start() != nil {
			other <- nil
			return
		}
		other <- c
		_ = c.Wait()
	}()
	c := <-other
	if c == nil {
		return errors.New("start a child on another thread")
	}
	defer c.Process.Kill()
	if threadHasChildren() {
		return errors.New("true on a thread whose process has a child of another thread's")
	}
	// Without /proc (an empty tmpfs over it, in this child's mount
	// namespace) the answers are the same.
	if err := unix.Mount("none", "/proc", "tmpfs", 0, "size=4k"); err != nil {
		return fmt.Errorf("hide /proc: %w", err)
	}
	if _, err := os.Stat("/proc/thread-self/children"); !os.IsNotExist(err) {
		return fmt.Errorf("/proc/thread-self/children still there: %v", err)
	}
	if threadHasChildren() {
		return errors.New("without /proc: true on a thread whose process has a child of another thread's")
	}
	mine := exec.Command("sleep", "60")
	if err := mine.Start(); err != nil {
		return err
	}
	defer func() { _ = mine.Process.Kill(); _ = mine.Wait() }()
	if !threadHasChildren() {
		return errors.New("without /proc: false on the thread that started a running child")
	}
	return nil
})

// TestThreadHasChildren: Do and Exec choose their throw-away thread by
// threadHasChildren; a false "no children" would let the thread's end kill
// a child (Pdeathsig), a false "children" only costs another thread.
func TestThreadHasChildren(t *testing.T) {
	if err := testNS(WithPrivateMount()).Run(context.Background(), threadChildren); err != nil {
		t.Fatal(err)
	}
}

// TestCommandSurvivesConcurrentDo runs Commands while other goroutines call
// Do: no command may be killed by the end of a Do thread.
func TestCommandSurvivesConcurrentDo(t *testing.T) {
	if !asRoot() {
		t.Skip("Do needs CAP_SYS_ADMIN (it cannot create a user namespace); run as root")
	}
	stop := make(chan struct{})
	var dos sync.WaitGroup
	for range 2 {
		dos.Add(1)
		go func() {
			defer dos.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := New(WithPrivateUTS()).Do(func() error { return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var cmds sync.WaitGroup
	for i := range 20 {
		cmds.Add(1)
		go func() {
			defer cmds.Done()
			cmd := New(WithPrivateMount()).Command(context.Background(), "sleep", "0.3")
			if err := cmd.Run(); err != nil {
				t.Errorf("Command %d while Do runs: %v", i, err)
			}
		}()
	}
	cmds.Wait()
	close(stop)
	dos.Wait()
}

// bigResult returns a result too large for a frame when asked for "big".
var bigResult = NewTask("adv-big-result", func(ctx context.Context, in string) (string, error) {
	if in == "big" {
		return strings.Repeat("y", maxFrame), nil
	}
	return "small", nil
})

// TestTaskOversizedInputAndOutput: an input too large for a job is refused
// before any child starts; an output too large for a frame is reported as
// such, not as a bare exit status.
func TestTaskOversizedInputAndOutput(t *testing.T) {
	ns := testNS(WithPrivateMount())
	_, err := bigResult.Run(context.Background(), ns, strings.Repeat("x", maxFrame))
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "nothing was started") {
		t.Errorf("input of 64 MiB: %v; want ErrProtocol before a child starts", err)
	}
	_, err = bigResult.Run(context.Background(), ns, "big")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 125 || !strings.Contains(ee.Msg, "result cannot be sent") {
		t.Errorf("output of 64 MiB: %v; want exit status 125 and why", err)
	}
	if got, err := bigResult.Run(context.Background(), ns, "small"); err != nil || got != "small" {
		t.Errorf("small output: %q, %v", got, err)
	}
}

// helloFlood asks for its job again and again, without end, as no child
// of the package does.
var helloFlood = Register("adv-hello-flood", func(ctx context.Context, args []string) error {
	for {
		if err := writeFrame(child.sock, message{Type: msgHello, Msg: "again"}); err != nil {
			return err
		}
	}
})

// TestHelloFloodEndsRun: a child that asks for its job more often than any
// stage does is stopped with ErrProtocol, from Run and from a Pool (whose
// child does not read its socket while its function runs, so that the
// answers filled it). Before, Run answered every hello until ctx ended,
// and the Pool's reader blocked on the full socket.
func TestHelloFloodEndsRun(t *testing.T) {
	for _, size := range []int{0, 4 << 20} { // a job smaller, and larger, than the socket's buffer
		// The deadline only guards against a hang.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := testNS(WithPrivateMount()).Run(ctx, helloFlood, strings.Repeat("a", size))
		if ctx.Err() != nil {
			t.Errorf("Run, %d bytes of arguments: it waited for its deadline: %v", size, err)
		} else if !errors.Is(err, ErrProtocol) {
			t.Errorf("Run, %d bytes of arguments: %v; want ErrProtocol", size, err)
		}
		cancel()
	}
	p := testPool(t, 1, WithPrivateMount())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.Run(ctx, helloFlood)
	if ctx.Err() != nil || err == nil {
		t.Errorf("Pool.Run: %v (context: %v); want the child ended", err, ctx.Err())
	}
}
