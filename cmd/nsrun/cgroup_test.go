//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// cgroupHogEnv makes the test binary allocate memory until it is killed,
// as the command of TestCgroupMemoryKill.
const cgroupHogEnv = "LINUXNS_TEST_CGROUP_HOG"

func init() {
	switch os.Getenv(cgroupHogEnv) {
	case "memory":
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
			_ = keep[len(keep)-1] // kept: the memory stays charged
		}
	case "fork":
		// Forks until the kernel refuses (raw clone: the copies run no Go
		// code), and says how many and why.
		n, e := 0, syscall.Errno(0)
		for ; n < 1000; n++ {
			r1, _, err := syscall.RawSyscall6(unix.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
			if err != 0 {
				e = err
				break
			}
			if r1 == 0 {
				for {
					syscall.RawSyscall6(unix.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
				}
			}
		}
		fmt.Printf("forked %d: %d\n", n, int(e))
		os.Exit(0)
	}
}

// cgroupParent returns the cgroup v2 directory under which nsrun makes
// COMMAND's cgroup by default, and whether ctl is enabled for its
// children ("" if there is no cgroup v2 hierarchy).
func cgroupParent(t *testing.T, ctl string) (string, bool) {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	mnt := ""
	for _, l := range strings.Split(string(mi), "\n") {
		if pre, post, ok := strings.Cut(l, " - "); ok && strings.HasPrefix(post, "cgroup2 ") {
			if f := strings.Fields(pre); len(f) >= 5 {
				mnt = f[4]
				break
			}
		}
	}
	if mnt == "" {
		return "", false
	}
	b, _ := os.ReadFile("/proc/self/cgroup")
	own := "/"
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			own = p
		}
	}
	dir := filepath.Join(mnt, own)
	if own != "/" {
		dir = filepath.Dir(dir)
	}
	sc, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	return dir, strings.Contains(" "+strings.TrimSpace(string(sc))+" ", " "+ctl+" ")
}

// TestCgroupFlagsInvalid: limits that are not positive, and --join-cgroup
// with a limit, are usage errors (exit 125) before anything starts.
func TestCgroupFlagsInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--memory", "0"}, {"--memory", "-5"}, {"--memory", "12Q"}, {"--pids", "0"}, {"--pids", "-1"},
		{"--cpus", "0"}, {"--cpus", "-1"}, {"--cpus", "0.001"}, {"--cgroup-parent", ""},
		{"--join-cgroup", "/sys/fs/cgroup/x", "--memory", "1G"},
	} {
		out, code := result(t, command(t, append(args, "--", "true")...))
		if code != exitFailed || !strings.Contains(out, "nsrun:") {
			t.Errorf("nsrun %v: exit %d, %q; want 125 and a message", args, code, out)
		}
	}
	c, err := parseArgs([]string{"--memory", "64M", "--pids", "10", "--cpus", "0.5", "true"})
	if err != nil || !c.needsParent() || len(c.options(0, 0)) != 3 {
		t.Fatalf("parse: %v; needsParent %v", err, c != nil && c.needsParent())
	}
}

// TestCgroupUnsupportedHere: without the memory controller of cgroup v2
// (a cgroup v1 host), --memory fails with a message saying so, exit 125,
// and COMMAND does not run.
func TestCgroupUnsupportedHere(t *testing.T) {
	if dir, ok := cgroupParent(t, "memory"); ok {
		t.Skipf("this host has the cgroup v2 memory controller at %s: the limits themselves are tested", dir)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	out, code := result(t, nsrun(t, "--memory", "64M", "--", "sh", "-c", "touch "+marker))
	if code != exitFailed || !(strings.Contains(out, "cgroup v2") || strings.Contains(out, "memory controller")) {
		t.Fatalf("exit %d, %q; want 125 and a message naming cgroup v2 or its memory controller", code, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("COMMAND ran")
	}
}

// TestCgroupMemoryKill: a memory hog under --memory is killed; nsrun
// exits 137 and says it was the memory limit; its cgroup is gone.
func TestCgroupMemoryKill(t *testing.T) {
	parent, ok := cgroupParent(t, "memory")
	if !ok {
		t.Skip("no cgroup v2 memory controller here (a cgroup v1 host): tested in the kernel matrix (make test-kernels)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := filepath.Glob(filepath.Join(parent, "namespace-*"))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := nsrun(t, "--memory", "32M", "--json-status-fd", "3", "--", self)
	cmd.Env = append(os.Environ(), cgroupHogEnv+"=memory")
	cmd.ExtraFiles = []*os.File{w}
	out, code := result(t, cmd)
	w.Close()
	if code != 137 || !strings.Contains(out, "memory limit") {
		t.Fatalf("exit %d, %q; want 137 and the memory limit named", code, out)
	}
	// --json-status-fd: the end record has what the cgroup counted.
	dec := json.NewDecoder(r)
	var start, end map[string]int64
	if err := dec.Decode(&start); err != nil {
		t.Errorf("start record: %v", err)
	}
	if err := dec.Decode(&end); err != nil || end["exit-code"] != 137 || end["oom-kills"] < 1 ||
		end["memory-peak"] < 16<<20 || end["memory-peak"] > 64<<20 || end["cpu-time-usec"] <= 0 {
		t.Errorf("end record %v (%v); want exit-code 137, oom-kills ≥ 1, memory-peak near the 32 MiB limit, cpu-time-usec > 0", end, err)
	}
	after, _ := filepath.Glob(filepath.Join(parent, "namespace-"+strconv.Itoa(cmd.Process.Pid)+"-*"))
	if len(after) > 0 {
		t.Errorf("cgroups left: %v (before: %v)", after, before)
	}
}

// TestCgroupPidsHeld: a fork loop under --pids is held at the limit
// (EAGAIN), and what it left is killed with its cgroup.
func TestCgroupPidsHeld(t *testing.T) {
	parent, ok := cgroupParent(t, "pids")
	if !ok {
		t.Skip("no cgroup v2 pids controller here (a cgroup v1 host): tested in the kernel matrix (make test-kernels)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := nsrun(t, "--pids", "30", "--", self)
	cmd.Env = append(os.Environ(), cgroupHogEnv+"=fork")
	out, code := result(t, cmd)
	var n, e int
	if _, err := fmt.Sscanf(out, "forked %d: %d", &n, &e); err != nil || code != 0 {
		t.Fatalf("exit %d, %q: %v", code, out, err)
	}
	if syscall.Errno(e) != syscall.EAGAIN || n == 0 || n >= 30 {
		t.Fatalf("forked %d, then %v; want fewer than 30, then EAGAIN", n, syscall.Errno(e))
	}
	if left, _ := filepath.Glob(filepath.Join(parent, "namespace-"+strconv.Itoa(cmd.Process.Pid)+"-*")); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}
