//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// procGuardScript fails unless the fresh /proc's sysctls are read-only:
// core_pattern is not writable, and a write to the hostname (of the UTS
// namespace the test made) fails with EROFS.
const procGuardScript = `test -w /proc/sys/kernel/core_pattern && { echo core_pattern writable; exit 3; }
echo procguard > /proc/sys/kernel/hostname 2>&1 && { echo hostname written; exit 4; }
test -w /proc/sysrq-trigger && { echo sysrq-trigger writable; exit 5; }
exit 0`

var procGuardFunc = Register("proc-guard-test", func(ctx context.Context, args []string) error {
	if unix.Access("/proc/sys/kernel/core_pattern", unix.W_OK) == nil {
		return errors.New("/proc/sys/kernel/core_pattern is writable")
	}
	err := os.WriteFile("/proc/sys/kernel/hostname", []byte("procguard"), 0)
	if !errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("write /proc/sys/kernel/hostname: %v, want EROFS", err)
	}
	return nil
})

// procGuardOptions are the configurations of TestFreshProcReadOnly: a
// fresh /proc over the host's root, under a read-only root with every
// capability dropped (the reviewer's case), and in a new root.
func procGuardOptions() map[string][]Option {
	return map[string][]Option{
		"pid":       {WithPrivatePID(), WithPrivateUTS()},
		"ro-nocaps": {WithReadOnlyRoot(), WithPrivatePID(), WithPrivateUTS(), WithCapabilities(), WithNoNewPrivs()},
		"new-root":  {WithRoot("/"), WithPrivatePID(), WithPrivateUTS()},
	}
}

// TestFreshProcReadOnly checks that /proc/sys and its kin are read-only in
// every fresh /proc, through every verb and executor.
func TestFreshProcReadOnly(t *testing.T) {
	before := hostMounts(t)
	defer checkMountsUnchanged(t, before)
	ctx := context.Background()
	for name, opts := range procGuardOptions() {
		t.Run(name+"/Run", func(t *testing.T) {
			o := opts
			if name == "ro-nocaps" {
				// a Go child of a cgo program (-race) cannot drop
				// capabilities on every thread: the view alone.
				o = o[:3]
			}
			if err := testNS(o...).Run(ctx, procGuardFunc); err != nil {
				t.Error(err)
			}
		})
		t.Run(name+"/Command", func(t *testing.T) {
			out, err := testNS(opts...).Command(ctx, "sh", "-c", procGuardScript).CombinedOutput()
			checkProcGuard(t, out, err)
		})
		t.Run(name+"/MinimalInit", func(t *testing.T) {
			out, err := testNS(append(opts, WithMinimalInit())...).Command(ctx, "sh", "-c", procGuardScript).CombinedOutput()
			checkProcGuard(t, out, err)
		})
		t.Run(name+"/StartProcess", func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			sh, err := exec.LookPath("sh")
			if err != nil {
				t.Skip(err)
			}
			p, err := testNS(opts...).StartProcess(sh, []string{"sh", "-c", procGuardScript}, &os.ProcAttr{Files: []*os.File{nil, w, w}})
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.Wait()
			out := make([]byte, 4096)
			n, _ := r.Read(out)
			if err == nil && !st.Success() {
				err = errors.New(st.String())
			}
			checkProcGuard(t, out[:n], err)
		})
	}
}

func checkProcGuard(t *testing.T, out []byte, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%v\n%s", err, out)
	} else if !strings.Contains(string(out), "Read-only file system") {
		t.Errorf("the write to /proc/sys/kernel/hostname did not fail with EROFS:\n%s", out)
	}
}
