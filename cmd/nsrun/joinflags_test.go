//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// target starts `nsrun -u --hostname NAME --tmp -- sh -c 'echo m >
// /tmp/m; exec sleep 1000'` and returns the sleeper's pid.
func target(t *testing.T, name string) int {
	t.Helper()
	info := startWithInfo(t, "-u", "--hostname", name, "--tmp", "--", "sh", "-c", "echo m > /tmp/m && exec sleep 1000")
	pid := int(info["child-pid"])
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the target did not start")
		}
	}
	if want, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/uts"); want != "uts:["+strconv.FormatUint(info["uts-namespace"], 10)+"]" {
		t.Errorf("--info-fd uts-namespace %d, /proc says %s", info["uts-namespace"], want)
	}
	return pid
}

// startWithInfo starts nsrun with --info-fd 3 put before args (which end
// with COMMAND), leaves it running until the test ends, and returns what
// nsrun wrote on descriptor 3.
func startWithInfo(t *testing.T, args ...string) map[string]uint64 {
	t.Helper()
	cmd := nsrun(t, append([]string{"--info-fd", "3"}, args...)...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var info map[string]uint64
	if err := json.NewDecoder(r).Decode(&info); err != nil {
		t.Fatalf("--info-fd: %v", err)
	}
	r.Close()
	return info
}

// TestJoinPid: --join-pid with kind flags joins those kinds (all, without
// any, but those other flags create), and --join KIND=PATH one file; --tmp
// still makes a new mount namespace.
func TestJoinPid(t *testing.T) {
	name := "nsrun-join-" + strconv.Itoa(os.Getpid())
	pid := target(t, name)
	p := strconv.Itoa(pid)
	userFlag := []string{}
	if rootless() {
		userFlag = []string{"-U"}
	}
	for _, flags := range [][]string{
		{"--join-pid", p},
		append([]string{"--join-pid", p, "-m", "-u"}, userFlag...),
	} {
		out, code := result(t, command(t, append(flags, "--", "sh", "-c", "hostname; cat /tmp/m")...))
		if code != 0 || out != name+"\nm\n" {
			t.Errorf("nsrun %v: status %d, %q", flags, code, out)
		}
	}
	flags := []string{"--join-pid", p, "-u", "--tmp"}
	if rootless() {
		flags = append(flags, "-U")
	}
	out, code := result(t, command(t, append(flags, "--", "sh", "-c", "hostname; ls -A /tmp")...))
	if code != 0 || out != name+"\n" {
		t.Errorf("nsrun %v: status %d, %q (want the hostname and an empty /tmp)", flags, code, out)
	}
	// Without kind flags, what the other flags create is not joined:
	// --hostname names a new UTS namespace, not the target's.
	flags = []string{"--join-pid", p, "--hostname", "own-" + name}
	out, code = result(t, command(t, append(flags, "--", "sh", "-c", "hostname; cat /tmp/m")...))
	if code != 0 || out != "own-"+name+"\nm\n" {
		t.Errorf("nsrun %v: status %d, %q", flags, code, out)
	}
	if out, code := result(t, command(t, "--join-pid", p, "--", "hostname")); code != 0 || out != name+"\n" {
		t.Errorf("the target's hostname after nsrun %v: status %d, %q (want it unchanged)", flags, code, out)
	}
	flags = []string{"--join", "uts=/proc/" + p + "/ns/uts"}
	if rootless() {
		flags = append(flags, "--join", "user=/proc/"+p+"/ns/user")
	}
	if out, code := result(t, command(t, append(flags, "--", "hostname")...)); code != 0 || out != name+"\n" {
		t.Errorf("nsrun %v: status %d, %q", flags, code, out)
	}
	if out, code := result(t, command(t, "--join", "uts", "--", "true")); code != 125 || !strings.Contains(out, "KIND=PATH") {
		t.Errorf("--join uts: status %d, %q", code, out)
	}
}

// TestJSONStatusFd: the pid and namespace ids at the start, the exit
// status at the end.
func TestJSONStatusFd(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := nsrun(t, "-n", "--json-status-fd", "3", "--", "sh", "-c", "exit 3")
	cmd.ExtraFiles = []*os.File{w}
	_, code := result(t, cmd)
	w.Close()
	if code != 3 {
		t.Errorf("status %d", code)
	}
	dec := json.NewDecoder(r)
	var start, end map[string]int64
	if err := dec.Decode(&start); err != nil || start["child-pid"] <= 0 || start["net-namespace"] <= 0 {
		t.Errorf("start record %v %v", start, err)
	}
	if err := dec.Decode(&end); err != nil || end["exit-code"] != 3 {
		t.Errorf("end record %v %v", end, err)
	}
	if _, ok := end["oom-kills"]; ok {
		t.Errorf("end record %v: cgroup counts without a cgroup", end)
	}
}

// TestPin: --pin net=FILE makes the namespace enterable by nsenter while
// COMMAND runs, and leaves nothing after. nsrun runs in a mount namespace
// of its own (unshare --mount --propagation private), so that its bind
// mount never shows in the host's mount table.
func TestPin(t *testing.T) {
	if rootless() {
		t.Skip("--pin bind-mounts in nsrun's mount namespace: root only")
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		t.Fatal("nsenter (util-linux) is not installed")
	}
	file := filepath.Join(t.TempDir(), "net")
	script := nsenter + " --net=" + file + " readlink /proc/self/ns/net; readlink /proc/self/ns/net"
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare (util-linux) is not installed")
	}
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(t, "-n", "--pin", "net="+file, "--", "sh", "-c", script)
	cmd.Path, cmd.Args = unshare, append([]string{unshare, "--mount", "--propagation", "private"}, cmd.Args...)
	out, code := result(t, cmd)
	if after, err := os.ReadFile("/proc/self/mountinfo"); err != nil || !bytes.Equal(before, after) {
		t.Errorf("host mount table changed (%v):\nbefore:\n%s\nafter:\n%s", err, before, after)
	}
	f := strings.Fields(out)
	if code != 0 || len(f) != 2 || f[0] != f[1] {
		t.Errorf("nsenter --net=FILE: status %d, %q", code, out)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the pin file is left: %v", err)
	}
}

// TestCheckFlag: --check prints the report.
func TestCheckFlag(t *testing.T) {
	out, code := result(t, command(t, "--check"))
	if code != 0 || !strings.Contains(out, "create net namespace") || !strings.Contains(out, "unprivileged user namespaces") {
		t.Errorf("--check: status %d\n%s", code, out)
	}
}

// TestJoinPidPIDNamespace: --join-pid PID -p (with -m, the target's
// /proc too) runs COMMAND as a process of PID's PID namespace.
func TestJoinPidPIDNamespace(t *testing.T) {
	info := startWithInfo(t, "-p", "--", "sleep", "1000")
	p := strconv.FormatUint(info["child-pid"], 10)
	want, err := os.Readlink("/proc/" + p + "/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	for _, flags := range [][]string{{"--join-pid", p, "-p"}, {"--join-pid", p, "-p", "-m"}} {
		if rootless() {
			flags = append(flags, "-U")
		}
		out, code := result(t, command(t, append(flags, "--", "sh", "-c", "readlink /proc/self/ns/pid; echo $$")...))
		if f := strings.Fields(out); code != 0 || len(f) != 2 || f[0] != want || f[1] == "1" {
			t.Errorf("nsrun %v: status %d, %q; want %s and a pid other than 1", flags, code, out, want)
		}
	}
}
