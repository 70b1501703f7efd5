//go:build linux

package namespace

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linuxns/namespace/syscalls"
	"golang.org/x/sys/unix"
)

// envHijackPlanter makes the test binary the owner of the mount namespace
// in TestJoinMountNamespaceSelfExe and TestHandleMountNamespaceSelfExe.
const envHijackPlanter = "LINUXNS_TEST_HIJACK_PLANTER"

// TestJoinHijackPlanter runs as the owner of a mount namespace that a
// caller will join: it plants a program of its own, hides /proc under a
// tmpfs whose self/exe names, once the test has called plant, that
// program, and waits. Every other entry
// of the tmpfs links to the real /proc, bound aside (self's entries to the
// reader's own; the next pids in advance), so that only self/exe differs.
// A joining child that executes /proc/self/exe looked up there runs the
// planted program, which writes /tmp/hijacked.
func TestJoinHijackPlanter(t *testing.T) {
	if os.Getenv(envHijackPlanter) == "" {
		t.Skip("helper of TestJoinMountNamespaceSelfExe")
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile("/tmp/planted", []byte("#!/bin/sh\necho hijacked > /tmp/hijacked\n"), 0o755))
	must(os.Mkdir("/tmp/realproc", 0o755))
	must(unix.Mount("/proc", "/tmp/realproc", "", unix.MS_BIND|unix.MS_REC, ""))
	last, err := os.ReadFile("/proc/sys/kernel/ns_last_pid")
	must(err)
	next, err := strconv.Atoi(strings.TrimSpace(string(last)))
	must(err)
	entries, err := os.ReadDir("/tmp/realproc")
	must(err)
	self, err := os.ReadDir("/tmp/realproc/self")
	must(err)
	must(unix.Mount("planted", "/proc", "tmpfs", 0, ""))
	for _, e := range entries {
		if e.Name() != "self" {
			must(os.Symlink("/tmp/realproc/"+e.Name(), "/proc/"+e.Name()))
		}
	}
	for pid := next; pid < next+20000; pid++ {
		if err := os.Symlink("/tmp/realproc/"+strconv.Itoa(pid), "/proc/"+strconv.Itoa(pid)); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
	}
	must(os.Mkdir("/proc/self", 0o755))
	for _, e := range self {
		if e.Name() != "exe" {
			must(os.Symlink("/tmp/realproc/self/"+e.Name(), "/proc/self/"+e.Name()))
		}
	}
	// Honest at first: the test swaps it for /tmp/planted (plant).
	must(os.Symlink("/tmp/realproc/self/exe", "/proc/self/exe"))
	must(os.WriteFile("/tmp/ready", []byte("ready\n"), 0o644))
	time.Sleep(time.Hour) // killed by the test
}

// startPlanter starts TestJoinHijackPlanter with start (a Namespace's
// StartProcess, or a Handle's).
func startPlanter(t *testing.T, start func(path string, argv []string, attr *os.ProcAttr) (*os.Process, error)) *os.Process {
	t.Helper()
	// The cloned child's /proc/self/exe: the test binary may be under the
	// private /tmp.
	p, err := start(selfExe, []string{"namespace.test", "-test.run=^TestJoinHijackPlanter$"},
		&os.ProcAttr{Env: append(os.Environ(), envHijackPlanter+"=1"), Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill(); _, _ = p.Wait() })
	return p
}

// hijackWitness runs in the joined mount namespace: it records that it
// ran and whether the planted program had.
var hijackWitness = Register("join-hijack-witness", func(ctx context.Context, args []string) error {
	if _, err := os.Stat("/tmp/hijacked"); err == nil {
		return errors.New("the planted program ran")
	}
	return os.WriteFile("/tmp/witness-ran", []byte("ran\n"), 0o644)
})

// hijackTask is hijackWitness as a Task, whose result says it ran.
var hijackTask = NewTask("join-hijack-task", func(ctx context.Context, in string) (string, error) {
	if _, err := os.Stat("/tmp/hijacked"); err == nil {
		return "", errors.New("the planted program ran")
	}
	return in + " ran", nil
})

// plantedRoot waits until the process pid has planted its program and
// returns the root of its mount namespace, seen from here.
func plantedRoot(t *testing.T, pid int) string {
	t.Helper()
	root := "/proc/" + strconv.Itoa(pid) + "/root"
	for deadline := time.Now().Add(10 * time.Second); ; {
		if b, _ := os.ReadFile(root + "/tmp/ready"); strings.TrimSpace(string(b)) == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the namespace's owner did not plant its program")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return root
}

// plant points the tmpfs's self/exe under root at the planted program.
func plant(t *testing.T, root string) {
	t.Helper()
	if err := os.Remove(root + "/proc/self/exe"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/tmp/planted", root+"/proc/self/exe"); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(root + "/proc/self/exe"); err != nil || l != "/tmp/planted" {
		t.Fatalf("the planted /proc/self/exe: %q, %v", l, err)
	}
}

// checkNotHijacked runs each of runs under the substituted /proc first
// with its honest self/exe, where the function must run, then with the
// planted one, where the planted program must not run: the function runs,
// or the child, finding that /proc/self/exe names another program than
// its parent's, refuses the job (fails closed).
func checkNotHijacked(t *testing.T, root string, runs map[string]func() error) {
	t.Helper()
	for _, planted := range []bool{false, true} {
		if planted {
			plant(t, root)
		}
		for name, run := range runs {
			os.Remove(root + "/tmp/witness-ran")
			err := run()
			if b, _ := os.ReadFile(root + "/tmp/hijacked"); len(b) != 0 {
				t.Fatalf("%s: the planted /proc/self/exe of the joined mount namespace was executed (error: %v)", name, err)
			}
			switch {
			case err != nil && !planted:
				t.Errorf("%s, under a substituted /proc: %v", name, err)
			case err != nil:
				t.Logf("%s, /proc/self/exe planted: refused: %v", name, err)
			case name == "Task.Run":
			default:
				if b, _ := os.ReadFile(root + "/tmp/witness-ran"); string(b) != "ran\n" {
					t.Errorf("%s: the function did not run in the joined mount namespace", name)
				}
			}
		}
	}
}

// TestJoinMountNamespaceSelfExe is the hijack of the program's re-execution
// by the owner of a joined mount namespace: a /proc whose self/exe names
// a planted program. Run and Task.Run with a joined mount namespace must
// execute the program's own file, opened before the join, never the one
// that /proc/self/exe names there.
func TestJoinMountNamespaceSelfExe(t *testing.T) {
	needUserNS(t)
	before := hostMounts(t)
	defer checkMountsUnchanged(t, before)
	p := startPlanter(t, testNS(WithPrivateTmp()).StartProcess)
	root := plantedRoot(t, p.Pid)
	kinds := joinKinds(syscalls.Mount)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := New(WithJoinProcess(p.Pid, kinds...))
	checkNotHijacked(t, root, map[string]func() error{
		"Run": func() error { return n.Run(ctx, hijackWitness) },
		"Task.Run": func() error {
			out, err := hijackTask.Run(ctx, n, "task")
			if err == nil && out != "task ran" {
				err = errors.New("Task.Run returned " + strconv.Quote(out))
			}
			return err
		},
	})
}

// TestHandleMountNamespaceSelfExe: a command run by Handle.Command plants
// its program over /proc in the Handle's mount namespace; Handle.Run must
// still execute the program's own file.
func TestHandleMountNamespaceSelfExe(t *testing.T) {
	needUserNS(t)
	before := hostMounts(t)
	defer checkMountsUnchanged(t, before)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := testNS(WithPrivateTmp()).Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	startPlanter(t, h.StartProcess)
	root := "/proc/" + strconv.Itoa(h.Pid()) + "/root"
	plantedRoot(t, h.Pid())
	checkNotHijacked(t, root, map[string]func() error{
		"Handle.Run": func() error { return h.Run(ctx, hijackWitness) },
	})
}
