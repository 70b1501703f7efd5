//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Command's exec.Cmd used as os/exec allows (security review).

// TestCommandPathSetAfterCommand: Start executes Cmd.Path as it is then,
// outside any namespace; a Path changed after Command is refused (ErrInvalid)
// and nothing runs on the host's namespaces.
func TestCommandPathSetAfterCommand(t *testing.T) {
	n := testNS(WithHostname("inside"))
	cmd := n.Command(context.Background(), "/bin/true")
	cmd.Path = "/bin/cat"
	cmd.Args = []string{"cat", "/proc/sys/kernel/hostname"}
	out, err := cmd.Output()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), "Path") {
		t.Errorf("Path set after Command: %v, output %q; want ErrInvalid naming Path", err, out)
	}
	if cmd.Process != nil {
		t.Errorf("Path set after Command: a process was started")
	}
}

// TestCommandFailedStartReleases: when Start fails after the library made
// the job socket (here: Dir does not exist), the socket and the goroutine
// that would hand the job over are released once the Cmd is dropped
// (garbage collected), and the caller's descriptors are untouched.
func TestCommandFailedStartReleases(t *testing.T) {
	n := testNS(WithPrivateUTS())
	runtime.GC()
	fds, goroutines := countFds(t), runtime.NumGoroutine()
	for range 20 {
		cmd := n.Command(context.Background(), "/bin/true")
		cmd.Dir = "/nonexistent-linuxns-review"
		if err := cmd.Start(); err == nil {
			_ = cmd.Wait()
			t.Fatal("Start with a missing Dir succeeded")
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		gotFds, gotG := countFds(t), runtime.NumGoroutine()
		if gotFds <= fds && gotG <= goroutines {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 failed Starts and a GC: %d descriptors (was %d), %d goroutines (was %d)", gotFds, fds, gotG, goroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
