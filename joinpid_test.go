//go:build linux

package namespace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

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
	opts := []Option{WithPrivatePID()}
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
	kinds := []syscalls.Type{syscalls.PID}
	if !asRoot() {
		kinds = append(kinds, syscalls.User)
	}
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
	kinds := []syscalls.Type{syscalls.PID, syscalls.Mount}
	if !asRoot() {
		kinds = append(kinds, syscalls.User)
	}
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
	kinds := []syscalls.Type{syscalls.PID}
	if !asRoot() {
		kinds = append(kinds, syscalls.User)
	}
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
	kinds := []syscalls.Type{syscalls.PID}
	if !asRoot() {
		kinds = append(kinds, syscalls.User)
	}
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
