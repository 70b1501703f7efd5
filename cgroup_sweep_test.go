//go:build linux

package namespace

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A caller killed (SIGKILL) while its child runs leaves the child's cgroup,
// with what is in it; the next process to make a cgroup under the same
// parent kills what is there and removes it. Cgroups that are not certainly
// a dead maker's are left: a live maker's, one from another pid
// namespace, a name that does not parse, and (as root) a dead maker's name
// on a directory of another user.
func TestCgroupSweepAfterCallerKilled(t *testing.T) {
	parent := cgroupParentFor(t, "pids")
	if !asRoot() {
		needUserNS(t)
	}
	self, ok := selfMaker()
	if !ok {
		t.Fatal("this process cannot name itself in its cgroups (no /proc of its own?)")
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), cgroupHogEnv+"=orphan")
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	sleepPid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("the helper said %q", line)
	}
	pidfd, err := unix.PidfdOpen(sleepPid, 0)
	if err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	_ = helper.Process.Kill()
	_ = helper.Wait()
	stale, _ := filepath.Glob(filepath.Join(parent, "namespace-"+strconv.Itoa(helper.Process.Pid)+"-*"))
	if len(stale) != 1 {
		t.Fatalf("cgroups of the killed caller: %v, want one", stale)
	}
	if populatedPath(stale[0]) != 1 {
		t.Errorf("%s is not populated: the sleep should be in it still", stale[0])
	}

	// Next to it, cgroups that are not a dead maker's.
	me := strconv.Itoa(os.Getpid())
	keep := []string{
		fmt.Sprintf("namespace-%s-999999-%d-%d-%d", me, self.start, self.pidNS, self.timNS), // live: this process
		fmt.Sprintf("namespace-%d-1-1-%d-%d", helper.Process.Pid, self.pidNS+1, self.timNS), // another pid namespace
		fmt.Sprintf("namespace-%d-1-1-%d-%d", helper.Process.Pid, self.pidNS, self.timNS+1), // another time namespace
		"namespace-" + me + "-1-2", // short form
		fmt.Sprintf("namespace-%d-01-1-%d-%d", helper.Process.Pid, self.pidNS, self.timNS), // not canonical
		fmt.Sprintf("namespace-test-sweep-%s", me),                                         // not ours at all
	}
	if asRoot() {
		keep = append(keep, fmt.Sprintf("namespace-%d-2-1-%d-%d", helper.Process.Pid, self.pidNS, self.timNS)) // chowned below
	}
	for i, name := range keep {
		dir := filepath.Join(parent, name)
		keep[i] = dir
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(dir)
	}
	if asRoot() {
		if err := os.Chown(keep[len(keep)-1], 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}

	// The next run under the same parent sweeps (this process's first
	// there: forget that earlier tests swept it).
	sweptParents.Delete(parent)
	opts := []Option{WithPrivateUTS(), WithPidsLimit(64), WithCgroupParent(parent)}
	if !asRoot() {
		opts = append(opts, WithPrivateUser())
	}
	p, err := New(opts...).StartProcess("/bin/true", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ProcessCgroup(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale[0]); !os.IsNotExist(err) {
		t.Errorf("%s is still there (%v)", stale[0], err)
	}
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 10000); n != 1 {
		t.Errorf("the sleep left in the cgroup (pid %d) was not killed (%v)", sleepPid, err)
	}
	for _, dir := range keep {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("the sweep removed %s: %v", dir, err)
		}
	}
	// Called again: nothing of the above is removed, nothing is reported.
	pfd, err := unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pfd)
	if removed := sweepCgroups(pfd, parent); slices.ContainsFunc(removed, func(d string) bool { return slices.Contains(keep, d) }) {
		t.Errorf("a second sweep removed %v", removed)
	}
}

func TestParseCgroupName(t *testing.T) {
	name := cgroupName(7)
	m, ok := parseCgroupName(name)
	self, selfOK := selfMaker()
	if selfOK && (!ok || m != self) {
		t.Errorf("parseCgroupName(%q) = %+v %v, want %+v", name, m, ok, self)
	}
	for _, bad := range []string{"namespace-1-2", "namespace-1-2-3-4", "namespace-1-2-3-4-5-6", "namespace-0-1-1-1-1", "namespace-+1-1-1-1-1",
		"namespace-1-1-1-1-x", "namespace-99999999-1-1-1-1", "nsp-1-1-1-1-1", "namespace-1--1-1-1"} {
		if m, ok := parseCgroupName(bad); ok {
			t.Errorf("parseCgroupName(%q) = %+v, want no maker", bad, m)
		}
	}
}

// populatedPath is populated for the cgroup at dir.
func populatedPath(dir string) int64 {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	defer unix.Close(fd)
	return populated(fd)
}
