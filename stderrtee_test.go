//go:build linux

package namespace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// earlyDeathEnv makes the test binary panic before Init (main_test.go),
// with the variable's value: a child that dies before it runs its job.
const earlyDeathEnv = "LINUXNS_TEST_EARLY_DEATH"

var stderrProbe = Register("test-stderr-probe", func(ctx context.Context, args []string) error {
	_, err := os.Stderr.WriteString("function's own line\n")
	return err
})

// A Run child that dies before it runs its function is diagnosed with its
// status and the end of what it wrote on its standard error, which the
// caller's standard error got too, unchanged; once the function runs, its
// standard error is the caller's own again (the function's output is not
// kept). Also through the re-execution into a time namespace.
func TestChildStderrDiagnosis(t *testing.T) {
	base := []Option{WithPrivateUTS()}
	if !asRoot() {
		needUserNS(t)
		base = append(base, WithPrivateUser())
	}
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"direct", nil},
		{"time namespace", []Option{WithPrivateTime(0, 0)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := New(append(c.opts, base...)...)
			caller, err := os.CreateTemp(t.TempDir(), "stderr")
			if err != nil {
				t.Fatal(err)
			}
			defer caller.Close()
			saved := os.Stderr
			os.Stderr = caller
			defer func() { os.Stderr = saved }()

			// The function runs: its line goes to the caller's standard
			// error, and Run succeeds.
			if err := n.Run(context.Background(), stderrProbe); err != nil {
				os.Stderr = saved
				t.Fatalf("Run: %v", err)
			}

			marker := "early-death-" + strconv.Itoa(os.Getpid()) + "-" + strings.ReplaceAll(c.name, " ", "-")
			t.Setenv(earlyDeathEnv, marker)
			err = n.Run(context.Background(), stderrProbe)
			os.Stderr = saved
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != 2 || errors.Is(err, ErrNoInit) {
				t.Fatalf("Run of a child that panics before Init: %v; want an *ExitError with status 2, not ErrNoInit", err)
			}
			if !strings.Contains(ee.Stderr, "panic: "+marker) || !strings.Contains(ee.Stderr, "about to fail: "+marker) {
				t.Errorf("ExitError.Stderr = %q; want the child's panic", ee.Stderr)
			}
			if len(ee.Stderr) > stderrTail {
				t.Errorf("ExitError.Stderr has %d bytes, more than %d", len(ee.Stderr), stderrTail)
			}
			if !strings.Contains(err.Error(), "panic: "+marker) {
				t.Errorf("the error's text lacks the child's standard error: %v", err)
			}
			got, _ := os.ReadFile(caller.Name())
			if !bytes.Contains(got, []byte("function's own line\n")) || !bytes.Contains(got, []byte("about to fail: "+marker+"\npanic: "+marker)) {
				t.Errorf("the caller's standard error got %q; want the function's line and the child's panic", got)
			}
		})
	}
}

// The kept text is the end of what the child wrote, at most stderrTail
// bytes.
func TestStderrTeeKeepsTheEnd(t *testing.T) {
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tee := newStderrTee(out)
	if tee == nil {
		t.Fatal("no pipe")
	}
	w := tee.w
	wfd, err := dupFile(w)
	if err != nil {
		t.Fatal(err)
	}
	tee.start() // closes tee.w; wfd is the child's end
	big := strings.Repeat("x", 3*stderrTail) + "the end"
	if _, err := wfd.WriteString(big); err != nil {
		t.Fatal(err)
	}
	wfd.Close()
	got := tee.finish()
	if len(got) != stderrTail || !strings.HasSuffix(got, "the end") {
		t.Errorf("kept %d bytes ending %q; want %d ending with the last write", len(got), got[max(0, len(got)-10):], stderrTail)
	}
	if b, _ := os.ReadFile(out.Name()); string(b) != big {
		t.Errorf("the copy has %d bytes, want all %d", len(b), len(big))
	}
	if tee.finish() != got {
		t.Error("a second finish differs")
	}
}

// Command leaves its Stderr as the caller set it: a buffer gets what the
// child wrote when its set-up or its exec failed.
func TestCommandStderrUnchanged(t *testing.T) {
	var opts []Option
	if !asRoot() {
		needUserNS(t)
		opts = append(opts, WithPrivateUser())
	}
	cmd := New(append(opts, WithPrivateUTS())...).Command(context.Background(), "/nonexistent/program")
	var buf bytes.Buffer
	cmd.Stderr = &buf
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 127 || !strings.Contains(buf.String(), "/nonexistent/program") {
		t.Errorf("Command of a missing program: %v, standard error %q; want status 127 and the program named in the caller's buffer", err, buf.String())
	}
}

// dupFile returns a copy of f's descriptor.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// stderrIs fails unless its standard error is the file args[0] names
// ("DEV:INO"): the caller's own, not the tee's pipe.
var stderrIs = Register("test-stderr-is", func(ctx context.Context, args []string) error {
	var st unix.Stat_t
	if err := unix.Fstat(2, &st); err != nil {
		return err
	}
	if got := fmt.Sprintf("%d:%d", st.Dev, st.Ino); got != args[0] {
		return fmt.Errorf("the function's standard error is %s, not the caller's %s", got, args[0])
	}
	return nil
})

// TestFunctionStderrIsCallers: the function's standard error is the
// caller's own file, also where the child executes the program again
// before it runs the function (a time namespace, WithKillDescendants'
// subreaper, the privilege stage of a program that links cgo, as this test
// binary does where cgo is on).
func TestFunctionStderrIsCallers(t *testing.T) {
	var base []Option
	if !asRoot() {
		needUserNS(t)
		base = append(base, WithPrivateUser())
	}
	caller, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(caller.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"direct", []Option{WithPrivateUTS()}},
		{"time namespace", []Option{WithPrivateTime(0, 0)}},
		{"subreaper", []Option{WithPrivateMount(), WithKillDescendants()}},
		{"privilege steps", []Option{WithPrivateUTS(), WithNoNewPrivs()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "privilege steps" && allThreadsWork() {
				t.Skip("this program does not link cgo: its child has no privilege stage (privstage_linux.go)")
			}
			saved := os.Stderr
			os.Stderr = caller
			err := New(append(c.opts, base...)...).Run(context.Background(), stderrIs, id)
			os.Stderr = saved
			if err != nil {
				t.Error(err)
			}
		})
	}
}
