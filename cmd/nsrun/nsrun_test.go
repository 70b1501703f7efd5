//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// TestEachFlagCreatesItsNamespace compares the namespace ids seen from
// inside with the test's own: exactly the kinds each flag asks for differ.
func TestEachFlagCreatesItsNamespace(t *testing.T) {
	own := ownNamespaces(t)
	var script strings.Builder
	for _, k := range nsKinds {
		fmt.Fprintf(&script, "echo %s=$(readlink /proc/self/ns/%s);", k, k)
	}
	cases := []struct {
		flags  []string
		differ []string
	}{
		{[]string{"-m"}, []string{"mnt"}},
		{[]string{"--mount"}, []string{"mnt"}},
		{[]string{"--tmp"}, []string{"mnt"}},
		{[]string{"--tmp-size", "1M"}, []string{"mnt"}},
		{[]string{"-p"}, []string{"pid", "mnt"}},
		{[]string{"--pid", "--no-proc"}, []string{"pid"}},
		{[]string{"--init"}, []string{"pid", "mnt"}},
		{[]string{"-n"}, []string{"net"}},
		{[]string{"-i"}, []string{"ipc"}},
		{[]string{"-u"}, []string{"uts"}},
		{[]string{"--hostname=h"}, []string{"uts"}},
		{[]string{"-U"}, []string{"user"}},
		{[]string{"-r"}, []string{"user"}},
		{[]string{"-c"}, []string{"user"}},
		{[]string{"-C"}, []string{"cgroup"}},
		{[]string{"-T"}, []string{"time"}},
		{[]string{"--monotonic", "5"}, []string{"time"}},
		{[]string{"--sysvsem"}, nil}, // no namespace; a new process has its own undo list anyway
		{nil, nil},
		{[]string{"-mpnu"}, []string{"mnt", "pid", "net", "uts"}},
		{[]string{"-mpnuiCT"}, []string{"mnt", "pid", "net", "uts", "ipc", "cgroup", "time"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			kv := keyValues(mustShell(t, script.String(), tc.flags...))
			differ := map[string]bool{}
			for _, k := range tc.differ {
				differ[k] = true
			}
			if rootless() {
				differ["user"] = true // -r was added
			}
			for _, k := range nsKinds {
				if own[k] == "" {
					continue // not supported by this kernel
				}
				if got := kv[k] != own[k]; got != differ[k] {
					t.Errorf("%s namespace differs=%v, want %v (inside %q, test %q)", k, got, differ[k], kv[k], own[k])
				}
			}
		})
	}
}

func TestPIDNamespace(t *testing.T) {
	t.Run("-p", func(t *testing.T) {
		// The glob counts /proc's process directories without a new process.
		kv := keyValues(mustShell(t, `echo pid=$$; set -- /proc/[0-9]*; echo procs=$#; echo self=$(readlink /proc/self)`, "-p"))
		if kv["pid"] != "1" || kv["procs"] != "1" {
			t.Errorf("COMMAND is pid %s and sees %s processes; want PID 1 alone", kv["pid"], kv["procs"])
		}
		if kv["self"] == "" || kv["self"] == strconv.Itoa(os.Getpid()) {
			t.Errorf("readlink /proc/self = %q inside: not a fresh /proc", kv["self"])
		}
	})
	t.Run("--init", func(t *testing.T) {
		kv := keyValues(mustShell(t, `echo pid=$$; echo ppid=$PPID; echo init=$(tr '\0' ' ' </proc/1/cmdline)`, "--init"))
		if kv["pid"] != "2" || kv["ppid"] != "1" {
			t.Errorf("with --init COMMAND is pid %s, child of %s; want 2, child of 1", kv["pid"], kv["ppid"])
		}
		if kv["init"] == "" {
			t.Error("no PID 1 in /proc")
		}
	})
	t.Run("--no-proc", func(t *testing.T) {
		kv := keyValues(mustShell(t, `echo pid=$$; echo self=$(readlink /proc/self)`, "-p", "--no-proc"))
		if kv["pid"] != "1" {
			t.Errorf("COMMAND is pid %s, want 1", kv["pid"])
		}
		// The host's /proc names COMMAND by its pid outside.
		if kv["self"] == "" || kv["self"] == "1" {
			t.Errorf("readlink /proc/self = %q: /proc was replaced despite --no-proc", kv["self"])
		}
	})
}

func TestPrivateTmp(t *testing.T) {
	marker := fmt.Sprintf("nsrun-test-%d", os.Getpid())
	t.Cleanup(func() { os.Remove("/tmp/" + marker) })
	kv := keyValues(mustShell(t, `echo entries=$(ls -A /tmp | wc -l); echo type=$(stat -f -c %T /tmp);
echo mode=$(stat -c %a /tmp); touch /tmp/`+marker+` && echo wrote=yes`, "--tmp"))
	if kv["entries"] != "0" || kv["type"] != "tmpfs" || kv["mode"] != "1777" || kv["wrote"] != "yes" {
		t.Errorf("inside: /tmp has %s entries, is %s, mode %s, writable %s; want 0, tmpfs, 1777, yes", kv["entries"], kv["type"], kv["mode"], kv["wrote"])
	}
	if _, err := os.Stat("/tmp/" + marker); !os.IsNotExist(err) {
		t.Errorf("the file written in the private /tmp is on the host: %v", err)
	}

	kv = keyValues(mustShell(t, `echo bytes=$(($(stat -f -c '%b * %S' /tmp)))`, "--tmp-size", "4M"))
	if kv["bytes"] != strconv.Itoa(4<<20) {
		t.Errorf("--tmp-size 4M: /tmp holds %s bytes, want %d", kv["bytes"], 4<<20)
	}
}

func TestHostname(t *testing.T) {
	host, err := os.ReadFile("/proc/sys/kernel/hostname")
	if err != nil {
		t.Fatal(err)
	}
	kv := keyValues(mustShell(t, `echo name=$(cat /proc/sys/kernel/hostname)`, "--hostname", "nsrun-box"))
	if kv["name"] != "nsrun-box" {
		t.Errorf("hostname inside = %q, want nsrun-box", kv["name"])
	}
	// -u alone keeps the name, and a change stays inside.
	if _, err := exec.LookPath("hostname"); err != nil {
		t.Skip("hostname(1) is not installed; it changes the name inside")
	}
	kv = keyValues(mustShell(t, `echo before=$(cat /proc/sys/kernel/hostname); hostname changed && echo after=$(cat /proc/sys/kernel/hostname)`, "-u"))
	if kv["before"] != strings.TrimSpace(string(host)) || kv["after"] != "changed" {
		t.Errorf("-u: hostname %q then %q; want %q then changed", kv["before"], kv["after"], strings.TrimSpace(string(host)))
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/hostname"); string(now) != string(host) {
		t.Errorf("host's hostname changed from %q to %q", host, now)
	}
}

func TestNetwork(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) (iproute2) is not installed; it shows the interfaces from inside")
	}
	out := mustShell(t, `ip -o link show; echo links=$(ip -o link show | wc -l)`, "-n")
	if !strings.Contains(out, "1: lo: <LOOPBACK,UP") || keyValues(out)["links"] != "1" {
		t.Errorf("-n: want lo alone, up:\n%s", out)
	}
}

func TestUserNamespace(t *testing.T) {
	uid, gid := os.Geteuid(), os.Getegid()
	for _, flag := range []string{"-r", "-U", "--map-root-user"} {
		kv := keyValues(mustShell(t, `echo uid=$(id -u); echo gid=$(id -g); echo map=$(cat /proc/self/uid_map)`, flag))
		kv["map"] = strings.Join(strings.Fields(kv["map"]), " ")
		if kv["uid"] != "0" || kv["gid"] != "0" || kv["map"] != fmt.Sprintf("0 %d 1", uid) {
			t.Errorf("%s: uid %s gid %s map %q; want 0, 0, \"0 %d 1\"", flag, kv["uid"], kv["gid"], kv["map"], uid)
		}
	}
	kv := keyValues(mustShell(t, `echo uid=$(id -u); echo gid=$(id -g); echo map=$(cat /proc/self/uid_map)`, "-c"))
	kv["map"] = strings.Join(strings.Fields(kv["map"]), " ")
	if kv["uid"] != strconv.Itoa(uid) || kv["gid"] != strconv.Itoa(gid) || kv["map"] != fmt.Sprintf("%d %d 1", uid, uid) {
		t.Errorf("-c: uid %s gid %s map %q; want %d %d and the same uid inside and out", kv["uid"], kv["gid"], kv["map"], uid, gid)
	}
}

func TestTimeNamespace(t *testing.T) {
	out := mustShell(t, `cat /proc/self/timens_offsets; echo uptime=$(cut -d' ' -f1 /proc/uptime)`, "--monotonic", "3600", "--boottime", "-1.5")
	fields := strings.Fields(out)
	want := []string{"monotonic", "3600", "0", "boottime", "-2", "500000000"}
	if len(fields) < len(want) || strings.Join(fields[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("offsets inside:\n%s\nwant %v", out, want)
	}
	up, err := strconv.ParseFloat(keyValues(mustShell(t, `echo uptime=$(cut -d' ' -f1 /proc/uptime)`, "--boottime", "864000"))["uptime"], 64)
	if err != nil || up < 864000 {
		t.Errorf("uptime with --boottime 864000 = %v (%v), want at least 864000", up, err)
	}
}

func TestCgroupNamespace(t *testing.T) {
	// In a new cgroup namespace the current cgroup is the root of every
	// hierarchy.
	out := mustShell(t, `cat /proc/self/cgroup`, "-C")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("-C: cgroup line %q is not the root", l)
		}
	}
}

func TestVerbose(t *testing.T) {
	out, code := shell(t, "true", "-v", "-f", "-m")
	if code != 0 || !strings.Contains(out, "prog=nsrun") || !strings.Contains(out, "msg=\"set up and executed\"") || !strings.Contains(out, "level=DEBUG") {
		t.Errorf("-v -f: exit %d, want debug lines from nsrun and the library:\n%s", code, out)
	}
	if !execsInPlace([]string{"-m"}) {
		t.Log("as uid 65534 -m gets a user namespace, which needs nsrun as parent: the in-place log is checked as root")
	} else if out, code := shell(t, "true", "-v", "-m"); code != 0 || !strings.Contains(out, `msg="executing in place"`) || !strings.Contains(out, `msg="make / recursively private"`) {
		t.Errorf("-v -m: exit %d, want nsrun's and the library's debug lines before COMMAND replaces nsrun:\n%s", code, out)
	}
	// Under --init the library logs the init's start.
	out, code = shell(t, "true", "-v", "--init")
	if code != 0 || !strings.Contains(out, `msg="set up and executed"`) || !strings.Contains(out, "mnt,pid}") {
		t.Errorf("-v --init: exit %d, want the library's debug lines:\n%s", code, out)
	}
	if out, _ := shell(t, "true", "-m"); out != "" {
		t.Errorf("without -v nsrun printed %q", out)
	}
}

func TestDefaultCommandIsShell(t *testing.T) {
	for _, shellVar := range []string{"/bin/sh", ""} {
		cmd := nsrun(t, "-p")
		cmd.Env = append(os.Environ(), "SHELL="+shellVar)
		cmd.Stdin = strings.NewReader("echo shell-pid=$$\n")
		out, code := result(t, cmd)
		if code != 0 || !strings.Contains(out, "shell-pid=1") {
			t.Errorf("SHELL=%q, no COMMAND: exit %d, output %q; want a shell as PID 1", shellVar, code, out)
		}
	}
}

func TestExitStatus(t *testing.T) {
	if _, code := shell(t, "exit 7", "-m"); code != 7 {
		t.Errorf("exit 7: nsrun exited %d", code)
	}
	if _, code := shell(t, "true"); code != 0 {
		t.Errorf("true: nsrun exited %d", code)
	}
	sigterm := 128 + int(syscall.SIGTERM)
	for _, flags := range [][]string{{"-m"}, {"-f", "-m"}, {"--init"}} {
		cmd := nsrun(t, append(flags, "--", "sh", "-c", "kill -TERM $$; sleep 10")...)
		out, err := cmd.CombinedOutput()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case execsInPlace(flags):
			// COMMAND was nsrun's process: the caller sees it killed.
			if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
				t.Errorf("%v, COMMAND killed by SIGTERM in nsrun's place: %v, want killed by SIGTERM\n%s", flags, err, out)
			}
		case ws.Signaled() || ws.ExitStatus() != sigterm:
			t.Errorf("%v, COMMAND killed by SIGTERM: nsrun ended with %v, want exit status %d\n%s", flags, err, sigterm, out)
		}
	}

	if out, code := result(t, nsrun(t, "-m", "--", "no-such-command-for-nsrun")); code != 127 || !strings.Contains(out, "not found") {
		t.Errorf("missing command: exit %d, %q; want 127", code, out)
	}
	if out, code := result(t, nsrun(t, "-m", "--", "/no/such/dir/cmd")); code != 127 {
		t.Errorf("missing path: exit %d, %q; want 127", code, out)
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\necho ran\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := result(t, nsrun(t, "-m", "--", plain)); code != 126 || strings.Contains(out, "ran") {
		t.Errorf("not executable: exit %d, %q; want 126", code, out)
	}
	if out, code := result(t, nsrun(t, "-m", "--", t.TempDir())); code != 126 {
		t.Errorf("a directory as COMMAND: exit %d, %q; want 126", code, out)
	}
}

// TestUsageErrors: unknown flags and bad values exit 125 with a message,
// never a panic, and run nothing.
func TestUsageErrors(t *testing.T) {
	for _, bad := range [][]string{
		{"-x", "true"}, {"--nope", "true"}, {"-mZ", "true"}, {"--tmp-size", "huge", "true"},
		{"--tmp-size=", "true"}, {"--tmp-size=-1", "true"}, {"--kill-grace", "soon", "true"},
		{"--kill-grace=-1s", "true"}, {"--hostname", "bad_name!", "true"}, {"--hostname=", "true"},
		{"--hostname", strings.Repeat("a", 65), "true"}, {"-r", "-c", "true"}, {"--monotonic", "abc", "true"},
		{"--boottime=1e400", "true"}, {"--monotonic=-999999999999", "true"}, {"--pid=perhaps", "true"},
		{"--tmp-size"}, {"--", "touch", "/dev/null/x"},
	} {
		out, code := result(t, nsrun(t, bad...))
		if bad[0] == "--" {
			// COMMAND's own failure is COMMAND's status, not 125.
			if code != 1 || strings.Contains(out, "nsrun:") {
				t.Errorf("nsrun -- touch /dev/null/x: exit %d, %q; want touch's 1", code, out)
			}
			continue
		}
		if code != 125 || !strings.Contains(out, "nsrun: ") || strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
			t.Errorf("nsrun %q: exit %d, output %q; want 125 with a message", bad, code, out)
		}
	}
	if out, code := result(t, command(t, "--help")); code != 0 || !strings.Contains(out, "--map-root-user") || !strings.HasPrefix(out, "Usage: nsrun") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	if out, code := result(t, command(t, "-V")); code != 0 || !strings.HasPrefix(out, "nsrun ") {
		t.Errorf("-V: exit %d, %q", code, out)
	}
}

// TestUnprivileged: as an unprivileged user, a namespace flag without -r
// fails with 125 and a message suggesting -r; with -r, everything works.
func TestUnprivileged(t *testing.T) {
	if !rootless() {
		t.Skip("root may create namespaces without -r; run as uid 65534 (go test -exec scripts/as-nobody) for this case")
	}
	for _, flags := range [][]string{{"-m"}, {"-p"}, {"-n"}, {"--tmp"}, {"-u"}} {
		out, code := result(t, command(t, append(flags, "--", "true")...))
		if code != 125 || !strings.Contains(out, "add -r") {
			t.Errorf("nsrun %v true: exit %d, %q; want 125 and a suggestion of -r", flags, code, out)
		}
	}
	out, code := result(t, command(t, "-c", "-m", "--", "true"))
	if code != 125 || !strings.Contains(out, "use -r") {
		t.Errorf("nsrun -c -m: exit %d, %q; want 125 and a suggestion of -r", code, out)
	}
	// The rootless line, all of it.
	kv := keyValues(mustShell(t, `echo pid=$$; echo tmp=$(ls -A /tmp | wc -l); echo uid=$(id -u)`, "-r", "-m", "--tmp", "-p", "-n"))
	if kv["pid"] != "1" || kv["tmp"] != "0" || kv["uid"] != "0" {
		t.Errorf("nsrun -r -m --tmp -p -n: %v", kv)
	}
}

// TestExecInPlace: without a namespace that needs a new process (PID, time)
// or a single-threaded one (user), and without --fork or --kill-grace,
// COMMAND replaces nsrun, as with unshare(1) without --fork: it has nsrun's
// pid, and the set-up is made all the same. --fork and --kill-grace keep
// nsrun as COMMAND's parent.
func TestExecInPlace(t *testing.T) {
	if rootless() {
		t.Skip("as uid 65534 a namespace needs -r, a user namespace, which needs nsrun as COMMAND's parent: run as root for this case")
	}
	own := ownNamespaces(t)
	const script = `echo pid=$$; echo mnt=$(readlink /proc/self/ns/mnt); echo net=$(readlink /proc/self/ns/net)
echo tmp=$(stat -f -c %T /tmp); echo files=$(ls -A /tmp | wc -l)
echo lo=$(ip -o link show lo | grep -q '[<,]UP[,>]' && echo up || echo down)`
	// ip(8) reads the interface over netlink, in COMMAND's network
	// namespace (/sys/class/net would show the namespace of whoever
	// mounted sysfs).
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) (iproute2) is not installed: it reads the namespace's loopback interface")
	}
	for _, tc := range []struct {
		flags   []string
		inPlace bool
	}{
		{[]string{"-m", "--tmp", "-n"}, true},
		{[]string{"-f", "-m", "--tmp", "-n"}, false},
		{[]string{"--fork", "-n"}, false},
		{[]string{"--kill-grace", "1s", "--tmp", "-n"}, false},
		{[]string{"--kill-descendants", "-n"}, false},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			if got := execsInPlace(tc.flags); got != tc.inPlace {
				t.Fatalf("needsParent disagrees: in place %v, want %v", got, tc.inPlace)
			}
			cmd := nsrun(t, append(tc.flags, "--", "sh", "-c", script)...)
			out, code := result(t, cmd)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			kv := keyValues(out)
			if inPlace := kv["pid"] == strconv.Itoa(cmd.Process.Pid); inPlace != tc.inPlace {
				t.Errorf("COMMAND's pid %s, nsrun's %d: in place %v, want %v", kv["pid"], cmd.Process.Pid, inPlace, tc.inPlace)
			}
			if kv["net"] == own["net"] || kv["lo"] != "up" {
				t.Errorf("network namespace %s (host %s), lo %s (want up)", kv["net"], own["net"], kv["lo"])
			}
			if slices.Contains(tc.flags, "--tmp") && (kv["mnt"] == own["mnt"] || kv["tmp"] != "tmpfs" || kv["files"] != "0") {
				t.Errorf("mount namespace %s (host %s), /tmp %s with %s entries; want a new one and an empty tmpfs", kv["mnt"], own["mnt"], kv["tmp"], kv["files"])
			}
		})
	}
}

// COMMAND starts in nsrun's working directory found again inside: with
// --tmp, /tmp is the private /tmp (a file written there, relative, stays
// inside), and a directory under the host's /tmp, which is not there
// inside, gives way to /; never the host's directory. For each way nsrun
// runs COMMAND: in its own place, as its child, under --init.
func TestWorkDir(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "nsrun-workdir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "host-marker"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	write := "nsrun-workdir-" + filepath.Base(dir)
	t.Cleanup(func() { os.Remove(filepath.Join("/tmp", write)) })
	script := `echo "cwd=$(pwd -P)"; d=$(stat -c %d:%i .)
[ "$d" = "$(stat -c %d:%i /tmp)" ] && echo in_tmp=yes
[ "$d" = "$(stat -c %d:%i /)" ] && echo at_root=yes
[ -e host-marker ] && echo marker=seen
[ "$(pwd -P)" = /tmp ] && { printf inside > '` + write + `' && echo wrote=yes; }
true`
	for _, flags := range [][]string{{"--tmp"}, {"--tmp", "--fork"}, {"--tmp", "--init"}} {
		for _, wd := range []string{"/tmp", dir} {
			cmd := nsrun(t, append(flags, "--", "sh", "-c", script)...)
			cmd.Dir = wd
			out, code := result(t, cmd)
			kv := keyValues(out)
			switch {
			case code != 0:
				t.Errorf("nsrun %v in %s: exit status %d\n%s", flags, wd, code, out)
			case wd == "/tmp" && (kv["cwd"] != "/tmp" || kv["in_tmp"] != "yes" || kv["wrote"] != "yes"):
				t.Errorf("nsrun %v in /tmp: COMMAND is in %q (the private /tmp: %q, wrote a file there: %q); want the private /tmp\n%s", flags, kv["cwd"], kv["in_tmp"], kv["wrote"], out)
			case wd == dir && (kv["cwd"] != "/" || kv["at_root"] != "yes" || kv["marker"] != ""):
				t.Errorf("nsrun %v in %s: COMMAND is in %q (at /: %q, sees the host's files: %q); want /\n%s", flags, wd, kv["cwd"], kv["at_root"], kv["marker"], out)
			}
		}
		if _, err := os.Lstat(filepath.Join("/tmp", write)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("nsrun %v in /tmp: the file COMMAND wrote, relative, is in the host's /tmp (%v)", flags, err)
			os.Remove(filepath.Join("/tmp", write))
		}
	}
}

// TestKillDescendants SIGKILLs nsrun while COMMAND runs, after COMMAND
// started a detached process (`setsid sleep MARKER`): with
// --kill-descendants that process is ended too; without, it outlives
// nsrun and COMMAND, and the test kills it.
func TestKillDescendants(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid(1)")
	}
	const script = `setsid sleep "$0" </dev/null >/dev/null 2>&1 & echo ready; while :; do sleep 1; done`
	for _, kill := range []bool{true, false} {
		name := "--kill-descendants"
		if !kill {
			name = "without"
		}
		t.Run(name, func(t *testing.T) {
			marker := fmt.Sprintf("%d.%06d", 1000+os.Getpid()%1000, rand.IntN(1000000))
			defer func() {
				for _, pid := range proctest.WithArg(marker) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}()
			args := []string{"-f", "--", "sh", "-c", script, marker}
			if kill {
				args = append([]string{"--kill-descendants"}, args...)
			}
			cmd := nsrun(t, args...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("COMMAND said %q, want ready", line)
			}
			var pid int
			if !proctest.WaitFor(func() bool { pid = proctest.Sleeper(marker); return pid != 0 }) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatal("the detached process never started")
			}
			pidfd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(pidfd)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if kill {
				if !proctest.WaitFor(func() bool { return proctest.Exited(pidfd) }) {
					t.Errorf("the detached process %d outlived the SIGKILLed nsrun by a minute", pid)
				}
				if !proctest.WaitFor(func() bool { return len(proctest.WithArg(marker)) == 0 }) {
					t.Errorf("processes left: %v", proctest.WithArg(marker))
				}
				return
			}
			if !proctest.WaitFor(func() bool { return slices.Equal(proctest.WithArg(marker), []int{pid}) }) {
				t.Errorf("processes with the marker: %v, want the detached one alone once nsrun is gone", proctest.WithArg(marker))
			}
			if proctest.Exited(pidfd) {
				t.Errorf("without --kill-descendants the detached process %d died too; the test shows nothing", pid)
			}
		})
	}
}

// Without a namespace or a set-up, nsrun executes COMMAND in its place
// (nothing to create: from its own thread), in the caller's namespaces,
// with COMMAND's exit status; a missing COMMAND is 127.
func TestNoNamespaceInPlace(t *testing.T) {
	mnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(t, "--", "sh", "-c", `echo pid=$$; echo mnt=$(readlink /proc/self/ns/mnt); exit 3`)
	out, code := result(t, cmd)
	kv := keyValues(out)
	if code != 3 || kv["pid"] != strconv.Itoa(cmd.Process.Pid) || kv["mnt"] != mnt {
		t.Errorf("exit %d, pid %s (nsrun's %d), mount namespace %s (the caller's %s); want 3, nsrun's pid, the caller's namespace; output:\n%s",
			code, kv["pid"], cmd.Process.Pid, kv["mnt"], mnt, out)
	}
	if out, code := result(t, command(t, "--", "/nonexistent/program")); code != 127 {
		t.Errorf("a missing COMMAND: exit %d, want 127; output:\n%s", code, out)
	}
}
