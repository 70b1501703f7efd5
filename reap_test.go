//go:build linux

package namespace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// startManyAsPID1 starts args[0] processes in all from args[1] goroutines,
// every fourth with os/exec and the others with StartProcess, and waits for
// each: as PID 1 the child reaps orphans at the same time, and must not take
// the exit status of any of them.
var startManyAsPID1 = Register("test-start-many-as-pid1", func(ctx context.Context, args []string) error {
	total, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	workers, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	if os.Getpid() != 1 {
		return fmt.Errorf("the child is pid %d, want 1", os.Getpid())
	}
	n := New()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		} else if len(failures) == 10 {
			failures = append(failures, "…")
		}
	}
	var lost atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				code := int(i % 7)
				script := "exit " + strconv.Itoa(code)
				if i%4 == 0 {
					cmd := exec.Command("/bin/sh", "-c", script)
					err := cmd.Run()
					if got := cmd.ProcessState.ExitCode(); cmd.ProcessState == nil || got != code {
						lost.Add(1)
						fail("os/exec %d: status %v, err %v; want exit %d", i, cmd.ProcessState, err, code)
					}
					continue
				}
				p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", script}, nil)
				if err != nil {
					fail("StartProcess %d: %v", i, err)
					lost.Add(1)
					continue
				}
				st, err := p.Wait()
				if err != nil || st.ExitCode() != code {
					lost.Add(1)
					fail("StartProcess %d: Wait = %v, %v; want exit %d", i, st, err, code)
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d processes lost their exit status:\n%s", lost.Load(), total, strings.Join(failures, "\n"))
	}
	return nil
})

// TestPID1ReaperStealsNoStatus: inside Run with WithPrivatePID, the child is
// PID 1 and reaps orphans; the processes that its function starts itself,
// with StartProcess or os/exec, concurrently, keep their exit statuses.
func TestPID1ReaperStealsNoStatus(t *testing.T) {
	if err := testNS(WithPrivatePID()).Run(context.Background(), startManyAsPID1, "1000", "8"); err != nil {
		t.Fatal(err)
	}
}
