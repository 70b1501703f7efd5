//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/internal/rawproc"
	"golang.org/x/sys/unix"
)

// The raw clone shares the caller's memory until execve where
// rawproc.VMClone (see internal/rawproc/vmclone.go). These tests check that
// nothing of it is observable to the caller: not under concurrency, nor
// while the GC runs and signals arrive, nor when a step fails halfway.

// gcTree is a pointer-rich structure whose every node carries a checksum of
// its subtree: a write into the Go heap that the program did not make, or a
// pointer the GC lost, breaks it.
type gcTree struct {
	left, right *gcTree
	val, sum    uint64
}

func newGCTree(depth int, seed uint64) *gcTree {
	t := &gcTree{val: seed*2654435761 + uint64(depth)}
	t.sum = t.val
	if depth > 0 {
		t.left, t.right = newGCTree(depth-1, seed*3+1), newGCTree(depth-1, seed*3+2)
		t.sum += t.left.sum ^ t.right.sum
	}
	return t
}

func (t *gcTree) ok() bool {
	if t == nil {
		return true
	}
	sum := t.val
	if t.left != nil {
		sum += t.left.sum ^ t.right.sum
	}
	return sum == t.sum && t.left.ok() && t.right.ok()
}

// gcTorture allocates and checks trees, and collects garbage, until stop
// is closed; it counts the corrupted trees in bad.
func gcTorture(stop <-chan struct{}, bad *atomic.Int64, wg *sync.WaitGroup) {
	defer wg.Done()
	var ring [8]*gcTree
	for i := uint64(0); ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if t := ring[i%8]; t != nil && !t.ok() {
			bad.Add(1)
		}
		ring[i%8] = newGCTree(9, i)
		if i%16 == 0 {
			runtime.GC()
		}
	}
}

// signalStorm sends SIGUSR1 (caught through os/signal) and SIGURG (the
// runtime's preemption signal) to this process until stop is closed.
func signalStorm(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	for {
		select {
		case <-stop:
			return
		case <-ch:
		default:
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGUSR1)
		_ = syscall.Kill(os.Getpid(), syscall.SIGURG)
		time.Sleep(50 * time.Microsecond)
	}
}

// vforkStarts is the number of starts of TestStartProcessSharedMemory:
// $NAMESPACE_VFORK_STARTS, or a number that keeps make test short (the
// stress suite runs 10,000).
func vforkStarts(t *testing.T) int {
	if v := os.Getenv("NAMESPACE_VFORK_STARTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("NAMESPACE_VFORK_STARTS=%q: want a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return 60
	}
	return 400
}

// startKinds are the ways the tests start a process, one for each path of
// the raw clone: suspended parent (CLONE_VFORK), id-map gate, hold,
// failures in the set-up and in execve.
var startKinds = []string{"vfork", "user-gate", "prepare-start", "prepare-abort", "step-fails", "no-program"}

// startOnce starts /bin/true in the way kind and checks the outcome.
func startOnce(kind string) error {
	files := []*os.File{nil, nil, nil}
	switch kind {
	case "vfork":
		return waitSuccess(testNS(WithPrivateMount(), WithPrivatePID(), WithPrivateTmp()).StartProcess("/bin/true", nil, &os.ProcAttr{Files: files}))
	case "user-gate":
		return waitSuccess(New(WithPrivateUser(), WithPrivateMount(), WithPrivateTmp()).StartProcess("/bin/true", nil, &os.ProcAttr{Files: files}))
	case "prepare-start", "prepare-abort":
		p, err := testNS(WithPrivateMount(), WithPrivateNet()).Prepare("/bin/true", nil, &os.ProcAttr{Files: files})
		if err != nil {
			return err
		}
		if kind == "prepare-abort" {
			return p.Abort()
		}
		return waitSuccess(p.Start())
	case "step-fails":
		// The mounts are made, then entering the directory fails.
		_, err := testNS(WithPrivateMount(), WithPrivateTmp()).StartProcess("/bin/true", nil, &os.ProcAttr{Dir: "/no/such/dir", Files: files})
		var se *SetupError
		if !errors.As(err, &se) || se.Step != stepWorkDirName || !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("a missing directory: %v, want a *SetupError of step %q wrapping ENOENT", err, stepWorkDirName)
		}
		return nil
	case "no-program":
		_, err := testNS(WithPrivateMount()).StartProcess("/no/such/program", nil, &os.ProcAttr{Files: files})
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Op != "exec" || !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("a missing program: %v, want an exec *os.PathError wrapping ENOENT", err)
		}
		return nil
	}
	return fmt.Errorf("unknown kind %q", kind)
}

// TestStartProcessSharedMemory starts processes in every way from several
// goroutines at once while another churns the heap and the GC and signals
// arrive, and checks every outcome, the callers' stacks, the heap, the
// host's mount table and that no process is left.
func TestStartProcessSharedMemory(t *testing.T) {
	before := hostMounts(t)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var bad atomic.Int64
	bg.Add(2)
	go gcTorture(stop, &bad, &bg)
	go signalStorm(stop, &bg)

	const workers = 4
	total := vforkStarts(t)
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A canary on this goroutine's stack, and one on the heap.
			var canary [64]uint64
			for i := range canary {
				canary[i] = uint64(w)<<32 | uint64(i)*0x9e3779b9
			}
			heap := newGCTree(6, uint64(w))
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					break
				}
				kind := startKinds[int(i)%len(startKinds)]
				if err := startOnce(kind); err != nil {
					errs <- fmt.Errorf("start %d (%s): %w", i, kind, err)
					return
				}
				for j := range canary {
					if canary[j] != uint64(w)<<32|uint64(j)*0x9e3779b9 {
						errs <- fmt.Errorf("start %d (%s): the caller's stack changed at word %d", i, kind, j)
						return
					}
				}
				if !heap.ok() {
					errs <- fmt.Errorf("start %d (%s): the caller's heap changed", i, kind)
					return
				}
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("%d trees of the GC goroutine corrupted", n)
	}
	checkMountsUnchanged(t, before)
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
	t.Logf("%d starts (CLONE_VM: %v)", total, rawproc.VMClone)
}

// TestStartProcessFailsHalfway: a step that fails after others have
// succeeded is reported as a *SetupError naming it, in each path of the raw
// clone, and the caller's memory is as it was: a buffer the child was given
// (the working directory's) is the only one it may have written.
func TestStartProcessFailsHalfway(t *testing.T) {
	before := hostMounts(t)
	for _, user := range []bool{false, true} {
		for _, hold := range []bool{false, true} {
			t.Run(fmt.Sprintf("user=%v/prepare=%v", user, hold), func(t *testing.T) {
				opts := []Option{WithPrivateMount(), WithPrivateTmp(), WithHostname("halfway")}
				if user {
					opts = append([]Option{WithPrivateUser()}, opts...)
				}
				n := testNS(opts...)
				guard := make([]byte, 1<<16)
				for i := range guard {
					guard[i] = byte(i * 7)
				}
				attr := &os.ProcAttr{Dir: "/no/such/dir", Files: []*os.File{nil, nil, nil}}
				var err error
				if hold {
					_, err = n.Prepare("/bin/true", nil, attr)
				} else {
					_, err = n.StartProcess("/bin/true", nil, attr)
				}
				var se *SetupError
				if !errors.As(err, &se) || se.Step != stepWorkDirName || !errors.Is(err, syscall.ENOENT) {
					t.Fatalf("got %v, want a *SetupError of step %q wrapping ENOENT", err, stepWorkDirName)
				}
				for i := range guard {
					if guard[i] != byte(i*7) {
						t.Fatalf("the caller's heap changed at byte %d", i)
					}
				}
				// The same namespace starts a process afterwards.
				attr.Dir = ""
				p, err := n.StartProcess("/bin/true", nil, attr)
				if err != nil {
					t.Fatal(err)
				}
				if st, err := p.Wait(); err != nil || !st.Success() {
					t.Fatalf("after the failure: %v %v", st, err)
				}
			})
		}
	}
	checkMountsUnchanged(t, before)
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

// kcmpVM is KCMP_VM of kcmp(2): do two processes share their address space?
const kcmpVM = 1

// sharesVM reports whether process pid shares this process's address space
// (kcmp(2) KCMP_VM).
func sharesVM(t *testing.T, pid int) bool {
	t.Helper()
	r, _, e := syscall.Syscall6(unix.SYS_KCMP, uintptr(os.Getpid()), uintptr(pid), kcmpVM, 0, 0, 0)
	if e == syscall.ENOSYS {
		t.Skip("kcmp(2) is not available (CONFIG_KCMP)")
	}
	if e != 0 {
		t.Fatalf("kcmp: %v", e)
	}
	return r == 0
}

// TestPrepareSharesMemoryUntilExec: a held child shares the caller's
// address space where rawproc.VMClone (CLONE_VM, not a copy), and a
// minimal init, which outlives the execve, does not; after Start the
// program has its own.
func TestPrepareSharesMemoryUntilExec(t *testing.T) {
	files := []*os.File{nil, nil, nil}
	for _, c := range []struct {
		name string
		n    *Namespace
		want bool
	}{
		{"mount", testNS(WithPrivateMount()), rawproc.VMClone},
		{"user", New(WithPrivateUser(), WithPrivateMount()), rawproc.VMClone},
		{"init", testNS(WithPrivatePID(), WithMinimalInit()), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.n.Prepare("/bin/sleep", []string{"sleep", "10"}, &os.ProcAttr{Files: files})
			if err != nil {
				t.Fatal(err)
			}
			if got := sharesVM(t, p.Pid); got != c.want {
				_ = p.Abort()
				t.Fatalf("held child shares the caller's memory: %v, want %v", got, c.want)
			}
			proc, err := p.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = proc.Kill(); _, _ = proc.Wait() }()
			if sharesVM(t, proc.Pid) {
				t.Errorf("the program shares the caller's memory after execve")
			}
		})
	}
	if !rawproc.VMClone {
		t.Logf("%s: no CLONE_VM clone; the held child is a copy", runtime.GOARCH)
	}
}

// TestCgroupChildSharesMemory: a child born in a cgroup (clone3 with
// CLONE_INTO_CGROUP) shares the caller's address space until execve where
// rawproc.VMClone, as any other, and is in its cgroup from its first
// instruction; a minimal init in a cgroup is a copy. Cgroup v2 hosts only
// (the kernel matrix).
func TestCgroupChildSharesMemory(t *testing.T) {
	parent := cgroupParentFor(t)
	files := []*os.File{nil, nil, nil}
	for _, c := range []struct {
		name string
		n    *Namespace
		want bool
	}{
		{"mount", testNS(WithCgroupParent(parent), WithPrivateMount()), rawproc.VMClone},
		{"user", New(WithCgroupParent(parent), WithPrivateUser(), WithPrivateMount()), rawproc.VMClone},
		{"init", testNS(WithCgroupParent(parent), WithPrivatePID(), WithMinimalInit()), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.n.Prepare("/bin/sleep", []string{"sleep", "10"}, &os.ProcAttr{Files: files})
			if err != nil {
				t.Fatal(err)
			}
			shares := sharesVM(t, p.Pid)
			cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid))
			if err != nil {
				_ = p.Abort()
				t.Fatal(err)
			}
			under := "0::" + filepath.Join(relCgroup(t, parent), "namespace-")
			if !strings.HasPrefix(string(cg), under) && !strings.Contains(string(cg), "\n"+under) {
				t.Errorf("the held child is in %q, want a cgroup %s...", cg, under)
			}
			if shares != c.want {
				_ = p.Abort()
				t.Fatalf("held child shares the caller's memory: %v, want %v", shares, c.want)
			}
			proc, err := p.Start()
			if err != nil {
				t.Fatal(err)
			}
			if sharesVM(t, proc.Pid) {
				t.Errorf("the program shares the caller's memory after execve")
			}
			_ = proc.Kill()
			_, _ = proc.Wait()
			if _, err := ProcessCgroup(context.Background(), proc); err != nil {
				t.Fatal(err)
			}
			checkNoCgroupLeft(t, parent)
		})
	}
}
