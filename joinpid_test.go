//go:build linux

package namespace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linuxns/namespace/syscalls"
)

// joinedPIDFunc checks that it runs in the PID namespace whose
// /proc/PID/ns/pid link is args[0], and that it has a pid of its own there
// (NSpid: one more level than args[1] says the caller has).
var joinedPIDFunc = Register("join-test-pid", func(ctx context.Context, args []string) error {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return err
	}
	if ns != args[0] {
		return fmt.Errorf("in pid namespace %s, want %s", ns, args[0])
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	nspid, _ := statusField(b, "NSpid:")
	levels, _ := strconv.Atoi(args[1])
	if f := strings.Fields(nspid); len(f) != levels+1 || f[len(f)-1] == "1" {
		return fmt.Errorf("NSpid %q: want %d levels, the last a pid other than 1", nspid, levels+1)
	}
	return nil
})

// pidTarget starts a process in a new PID namespace (and a user
// namespace when unprivileged) and returns it and the id of its PID
// namespace; withProc mounts a /proc of that namespace in a new mount
// namespace, as a container has.
func pidTarget(t *testing.T, withProc bool) (*os.Process, string) {
	t.Helper()
	needUserNS(t)
	// A PID 1 that reaps, as a container has: a job whose relay is
	// killed is re-parented to it.
	opts := []Option{WithPrivatePID(), WithMinimalInit()}
	if !withProc {
		opts = append(opts, WithoutProc())
	}
	target, err := testNS(opts...).StartProcess("/bin/sleep", []string{"sleep", "1000"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = target.Kill(); _, _ = target.Wait() })
	return target, nsLink(t, strconv.Itoa(target.Pid), "pid")
}

// pidLevels returns how many pid namespaces the calling process is in.
func pidLevels(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := statusField(b, "NSpid:")
	return strconv.Itoa(len(strings.Fields(v)))
}

// TestJoinPIDRun: Run and Task.Run join the PID namespace of a process,
// where the function has a pid of its own.
func TestJoinPIDRun(t *testing.T) {
	target, want := pidTarget(t, false)
	kinds := joinKinds(syscalls.PID)
	levels := pidLevels(t)
	n := New(WithJoinProcess(target.Pid, kinds...))
	if err := n.Run(context.Background(), joinedPIDFunc, want, levels); err != nil {
		t.Errorf("Run: %v", err)
	}
	// By files, with the mount namespace (whose /proc is the target's) too.
	p := strconv.Itoa(target.Pid)
	opts := []Option{WithJoin(syscalls.PID, "/proc/"+p+"/ns/pid")}
	if !asRoot() {
		opts = append(opts, WithJoin(syscalls.User, "/proc/"+p+"/ns/user"))
	}
	if err := New(opts...).Run(context.Background(), joinedPIDFunc, want, levels); err != nil {
		t.Errorf("Run by files: %v", err)
	}
}

// TestJoinPIDAndMountRun: Run joins the PID and mount namespaces of a
// process whose /proc is its PID namespace's, where the function's
// parents are not visible: the check of its parents reads the caller's
// /proc, opened before the joins.
func TestJoinPIDAndMountRun(t *testing.T) {
	target, want := pidTarget(t, true)
	kinds := joinKinds(syscalls.PID, syscalls.Mount)
	if err := New(WithJoinProcess(target.Pid, kinds...)).Run(context.Background(), joinedPIDFunc, want, "0"); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// pidTask returns the id of its PID namespace and its NSpid as its /proc
// shows them.
var pidTask = NewTask("join-test-pid-task", func(ctx context.Context, _ struct{}) ([2]string, error) {
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return [2]string{}, err
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return [2]string{}, err
	}
	v, _ := statusField(b, "NSpid:")
	return [2]string{ns, v}, nil
})

// TestJoinPIDTask: Task.Run joins a PID namespace, and returns what it saw.
func TestJoinPIDTask(t *testing.T) {
	target, want := pidTarget(t, false)
	kinds := joinKinds(syscalls.PID)
	got, err := pidTask.Run(context.Background(), New(WithJoinProcess(target.Pid, kinds...)), struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	levels, _ := strconv.Atoi(pidLevels(t))
	if f := strings.Fields(got[1]); got[0] != want || len(f) != levels+1 || f[len(f)-1] == "1" {
		t.Errorf("the task saw pid namespace %s and NSpid %q; want %s, %d levels", got[0], got[1], want, levels+1)
	}
}

// JoinPIDSetupEnv makes the test binary the helper of TestJoinPIDSetup:
// it joins the PID namespace (and the user namespace, unprivileged) of
// the process whose pid is the variable's value with Setup, and prints
// its PID namespace and NSpid.
const JoinPIDSetupEnv = "LINUXNS_TEST_JOIN_PID_SETUP"

func joinPIDSetupHelper(v string) {
	pid, _ := strconv.Atoi(v)
	kinds := joinKinds(syscalls.PID)
	if err := New(WithJoinProcess(pid, kinds...)).Setup(); err != nil {
		fmt.Printf("setup: %v\n", err)
		os.Exit(3)
	}
	ns, _ := os.Readlink("/proc/self/ns/pid")
	b, _ := os.ReadFile("/proc/self/status")
	v, _ = statusField(b, "NSpid:")
	fmt.Printf("%s\n%s\n", ns, v)
	os.Exit(0)
}

// TestJoinPIDSetup: Setup moves the program into the PID namespace of a
// running process.
func TestJoinPIDSetup(t *testing.T) {
	target, want := pidTarget(t, false)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), JoinPIDSetupEnv+"="+strconv.Itoa(target.Pid))
	out, err := cmd.CombinedOutput()
	levels, _ := strconv.Atoi(pidLevels(t))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 || lines[0] != want || len(strings.Fields(lines[1])) != levels+1 {
		t.Errorf("Setup joining a PID namespace: %q %v; want %s and %d levels of NSpid", out, err, want, levels+1)
	}
}

// TestHandleRunPID: a Handle with a PID namespace runs functions in it.
func TestHandleRunPID(t *testing.T) {
	needUserNS(t)
	h, err := testNS(WithPrivatePID()).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	want, err := os.Readlink("/proc/" + strconv.Itoa(h.Pid()) + "/ns/pid_for_children")
	if err != nil {
		t.Fatal(err)
	}
	// The held mount namespace's /proc is the held PID namespace's.
	if err := h.Run(context.Background(), joinedPIDFunc, want, "0"); err != nil {
		t.Errorf("Handle.Run: %v", err)
	}
}

// TestJoinPool: a Pool's children join the namespaces (user and mount
// and UTS; and, in another Pool, a PID namespace) when they start, and its
// Runs and Task.Runs run there.
func TestJoinPool(t *testing.T) {
	pid := joinTarget(t)
	p := strconv.Itoa(pid)
	pool, err := New(WithJoinProcess(pid)).Pool(2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	want := "joined jn-" + strconv.Itoa(os.Getpid()) + " " + nsLink(t, p, "mnt")
	for i := range 4 {
		poolIdle(t, pool, 1) // a child that joined when it started
		if err := pool.Run(context.Background(), joinedFunc, want); err != nil {
			t.Errorf("Pool.Run %d: %v", i, err)
		}
	}
	target, pidNS := pidTarget(t, true)
	before := inPIDNamespace(pidNS)
	kinds := joinKinds(syscalls.PID, syscalls.Mount)
	pidPool, err := New(WithJoinProcess(target.Pid, kinds...)).Pool(2)
	if err != nil {
		t.Fatal(err)
	}
	defer pidPool.Close()
	for i := range 4 {
		poolIdle(t, pidPool, 1)
		got, err := pidTask.Run(context.Background(), pidPool, struct{}{})
		if err != nil || got[0] != pidNS || len(strings.Fields(got[1])) != 1 || got[1] == "1" {
			t.Errorf("Task.Run %d on a Pool joining a PID namespace: %q %v, want %s and a pid other than 1", i, got, err, pidNS)
		}
	}
	// Close ends the children waiting in the joined PID namespace: what
	// was there before is left.
	start := time.Now()
	pidPool.Close()
	pool.Close()
	t.Logf("Close: %v", time.Since(start))
	var in []int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if in = inPIDNamespace(pidNS); slices.Equal(in, before) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(in, before) {
		t.Errorf("processes in the joined PID namespace after Close: %v, want %v (target %d)", in, before, target.Pid)
	}
}

// inPIDNamespace lists the processes in the PID namespace ns.
func inPIDNamespace(ns string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && l == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestJoinPIDRelayDeath: the process in front of a program in a joined
// PID namespace (outside it) takes the program along when it dies.
func TestJoinPIDRelayDeath(t *testing.T) {
	target, pidNS := pidTarget(t, false)
	before := inPIDNamespace(pidNS)
	kinds := joinKinds(syscalls.PID)
	p, err := New(WithJoinProcess(target.Pid, kinds...)).StartProcess("/bin/sleep", []string{"sleep", "1000"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(inPIDNamespace(pidNS)) == len(before); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the program did not start in the joined PID namespace")
		}
	}
	_ = p.Kill()
	_, _ = p.Wait()
	var in []int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if in = inPIDNamespace(pidNS); slices.Equal(in, before) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(in, before) {
		t.Errorf("in the joined PID namespace after its relay was killed: %v, want %v", in, before)
	}
}
