//go:build linux

package namespace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
)

// The cross-executor test of the set-up engine: the same plan, performed
// by the Go executor (Run's re-executed child, Command's child before it
// executes the program, Do's thread) and by the raw one (StartProcess's
// clone), must leave the child in the same state.

// ProbeEnv makes the test binary print what describeSetUp sees and exit:
// the program of the Command and StartProcess probes.
const ProbeEnv = "LINUXNS_TEST_PROBE"

// engineProbe is the Run probe.
var engineProbe = NewTask("test-engine-probe", func(ctx context.Context, _ struct{}) (string, error) {
	return describeSetUp(), nil
})

// describeSetUp describes what the set-up made, as the calling thread sees
// it (Do's thread has namespaces of its own, so it reads
// /proc/thread-self): the mounts at /, /tmp and /proc (file system type,
// mount and super options, propagation; no ids), the hostname, whether lo
// is up, the id maps, the time namespace's offsets, whether the process is
// PID 1, and the working directory (by device and inode, against / and
// /tmp).
func describeSetUp() string {
	var b strings.Builder
	mi, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		fmt.Fprintf(&b, "mountinfo: %v\n", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(mi)), "\n") {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
		f := strings.Fields(line)
		sep := -1
		for i, w := range f {
			if w == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 6 || len(f) < sep+4 {
			continue
		}
		switch f[4] {
		case "/", "/tmp", "/proc":
		default:
			continue
		}
		prop := "private"
		for _, o := range f[6:sep] {
			prop = strings.TrimRight(o, ":0123456789") // shared:N, master:N, unbindable
		}
		fmt.Fprintf(&b, "mount %s %s %s %s %s\n", f[4], f[sep+1], f[5], f[sep+3], prop)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		fmt.Fprintf(&b, "hostname %s\n", unix.ByteSliceToString(uts.Nodename[:]))
	}
	fmt.Fprintf(&b, "lo %s\n", loopbackState())
	// (timens_offsets is the process's only: Do has no time namespace.)
	for _, f := range []string{"thread-self/uid_map", "thread-self/gid_map", "self/timens_offsets"} {
		data, err := os.ReadFile("/proc/" + f)
		_, f, _ = strings.Cut(f, "/")
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", f, errors.Unwrap(err))
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			fmt.Fprintf(&b, "%s %s\n", f, strings.Join(strings.Fields(l), " "))
		}
	}
	fmt.Fprintf(&b, "pid1 %v\n", os.Getpid() == 1)
	fmt.Fprintf(&b, "cwd %s\n", workDirState())
	return b.String()
}

// loopbackState says whether lo is up in the calling thread's network
// namespace (SIOCGIFFLAGS on a socket made here).
func loopbackState() string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "socket: " + err.Error()
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err.Error()
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return "SIOCGIFFLAGS: " + err.Error()
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return "up"
	}
	return "down"
}

// workDirState names the working directory: "/" or "/tmp" if it is that
// directory (device and inode), else its path.
func workDirState() string {
	var dot, st unix.Stat_t
	if err := unix.Stat(".", &dot); err != nil {
		return "stat .: " + err.Error()
	}
	for _, d := range []string{"/", "/tmp"} {
		if unix.Stat(d, &st) == nil && st.Dev == dot.Dev && st.Ino == dot.Ino {
			return d
		}
	}
	wd, err := unix.Getwd()
	if err != nil {
		return "getcwd: " + err.Error()
	}
	return "other " + wd
}

// engineCase is one combination of the options the set-up's steps come
// from.
type engineCase struct {
	tmp      int // 0: none, 1: WithPrivateTmp(), 2: with size and mode
	pid      int // 0: none, 1: WithPrivatePID(), 2: with WithoutProc()
	hostname bool
	net      bool
	time     bool
	user     bool
	dir      bool // explicit working directory (Dir) instead of the inherited one
}

func (c engineCase) String() string {
	var s []string
	s = append(s, [...]string{"notmp", "tmp", "tmp+size+mode"}[c.tmp], [...]string{"nopid", "pid", "pid+noproc"}[c.pid])
	for _, o := range []struct {
		on   bool
		name string
	}{{c.hostname, "hostname"}, {c.net, "net"}, {c.time, "time"}, {c.user, "user"}, {c.dir, "dir"}} {
		if o.on {
			s = append(s, o.name)
		}
	}
	return strings.Join(s, ",")
}

func (c engineCase) options() []Option {
	var o []Option
	switch c.tmp {
	case 1:
		o = append(o, WithPrivateTmp())
	case 2:
		o = append(o, WithPrivateTmp(TmpfsSize(1<<20), TmpfsMode(0o750)))
	}
	if c.pid > 0 {
		o = append(o, WithPrivatePID())
	}
	if c.pid == 2 {
		o = append(o, WithoutProc())
	}
	if c.hostname {
		o = append(o, WithHostname("engine-probe"))
	}
	if c.net {
		o = append(o, WithPrivateNet())
	}
	if c.time {
		o = append(o, WithPrivateTime(3*time.Hour, -time.Second/2))
	}
	if c.user {
		o = append(o, WithPrivateUser())
	}
	return o
}

// engineCases lists every combination; unprivileged, only those with a user
// namespace can be made.
func engineCases() []engineCase {
	var cases []engineCase
	for tmp := range 3 {
		for pid := range 3 {
			for bits := range 1 << 5 {
				c := engineCase{tmp: tmp, pid: pid, hostname: bits&1 != 0, net: bits&2 != 0, time: bits&4 != 0, user: bits&8 != 0, dir: bits&16 != 0}
				if !c.user && !asRoot() {
					continue
				}
				cases = append(cases, c)
			}
		}
	}
	return cases
}

// An engineExecutor runs the probe in new namespaces and returns its
// description, or the name of the set-up step that failed.
type engineExecutor struct {
	name string
	// applies reports whether the executor can make c's namespaces.
	applies func(c engineCase) bool
	run     func(t *testing.T, n *Namespace, c engineCase, exe *os.File) (string, error)
}

// probeDir is the explicit working directory: there with and without a
// private /tmp.
const probeDir = "/tmp"

var engineExecutors = []engineExecutor{
	{"Run (Go executor, re-executed child)", func(c engineCase) bool { return !c.dir }, func(t *testing.T, n *Namespace, c engineCase, exe *os.File) (string, error) {
		return engineProbe.Run(context.Background(), n, struct{}{})
	}},
	{"Command (Go executor, then execve)", func(engineCase) bool { return true }, func(t *testing.T, n *Namespace, c engineCase, exe *os.File) (string, error) {
		cmd := n.Command(context.Background(), "/proc/self/fd/3")
		cmd.Env = append(os.Environ(), ProbeEnv+"=1")
		cmd.ExtraFiles = []*os.File{exe}
		if c.dir {
			cmd.Dir = probeDir
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%w: %s", err, stderr.Bytes())
		}
		return string(out), nil
	}},
	{"StartProcess (raw executor)", func(engineCase) bool { return true }, func(t *testing.T, n *Namespace, c engineCase, exe *os.File) (string, error) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		attr := &os.ProcAttr{Env: append(os.Environ(), ProbeEnv+"=1"), Files: []*os.File{nil, w, os.Stderr, exe}}
		if c.dir {
			attr.Dir = probeDir
		}
		p, err := n.StartProcess("/proc/self/fd/3", []string{"probe"}, attr)
		w.Close()
		if err != nil {
			return "", err
		}
		var out bytes.Buffer
		_, _ = out.ReadFrom(r)
		ps, err := p.Wait()
		if err != nil || !ps.Success() {
			return "", fmt.Errorf("probe: %v %v", ps, err)
		}
		return out.String(), nil
	}},
	{"Do (Go executor, on a thread)", func(c engineCase) bool { return asRoot() && !c.dir && c.pid == 0 && !c.user && !c.time },
		func(t *testing.T, n *Namespace, c engineCase, exe *os.File) (string, error) {
			var desc string
			err := n.Do(func() error {
				desc = describeSetUp()
				return nil
			})
			return desc, err
		}},
}

// failedStepOf names the set-up step of a failure, as each verb reports it:
// a *SetupError's Step, or the "namespace: STEP: ..." line a Command child
// prints.
func failedStepOf(err error) string {
	var se *SetupError
	if errors.As(err, &se) {
		return strings.TrimPrefix(se.Step, "in the child: ")
	}
	msg := err.Error()
	if i := strings.Index(msg, "namespace: "); i >= 0 {
		step, _, _ := strings.Cut(msg[i+len("namespace: "):], ": ")
		return step
	}
	return msg
}

// TestExecutorsAgree runs every combination of the options the set-up's
// steps come from (a private /tmp with and without size and mode, /proc of
// a PID namespace and WithoutProc, a hostname, lo, time offsets, a user
// namespace, the working directory inherited under /tmp or given
// explicitly) through every executor that can make it, and compares what
// the child sees: a difference names the option set and the two
// executors. It also checks that the description shows what the options
// asked for, so that executors that all did nothing would not agree
// unnoticed.
func TestExecutorsAgree(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	// Race-instrumented probes would each sleep a second at exit.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	// The inherited working directory, under /tmp: not there in a private
	// /tmp.
	wd, err := os.MkdirTemp("/tmp", "engine-wd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(wd) })
	t.Chdir(wd)
	before := hostMounts(t)

	for _, c := range engineCases() {
		n := New(c.options()...)
		got := map[string]string{}
		var first string
		for _, x := range engineExecutors {
			if !x.applies(c) {
				continue
			}
			desc, err := x.run(t, n, c, exe)
			if err != nil {
				desc = "failed at step " + failedStepOf(err)
				t.Logf("%s via %s: %v", c, x.name, err)
			}
			if c.pid > 0 && c.time && !execEntersTimeNS() && x.name != engineExecutors[0].name && strings.Contains(desc, "pid1 false\n") {
				// Before Linux 6.3 a command runs behind the relay that
				// made its time namespace, and is not PID 1 of its PID
				// namespace; a function child is (docs/kernels.md).
				t.Logf("%s via %s: not PID 1 on this kernel, as documented", c, x.name)
				desc = strings.Replace(desc, "pid1 false\n", "pid1 true\n", 1)
			}
			got[x.name] = desc
			if first == "" {
				first = x.name
				checkDescription(t, c, desc)
				continue
			}
			if desc != got[first] {
				t.Errorf("options %s: %s and %s disagree:\n%s:\n%s\n%s:\n%s", c, first, x.name, first, got[first], x.name, desc)
			}
		}
	}
	checkMountsUnchanged(t, before)
}

// checkDescription checks that desc shows what the options of c asked
// for, or a failure that this host explains.
func checkDescription(t *testing.T, c engineCase, desc string) {
	t.Helper()
	if strings.HasPrefix(desc, "failed at step ") {
		// Unprivileged, the kernel may refuse a fresh /proc under a
		// masked one; every executor must fail there alike.
		if !(c.user && c.pid == 1 && strings.Contains(desc, "mount proc on /proc")) {
			t.Errorf("options %s: %s", c, desc)
		}
		return
	}
	want := []string{}
	switch c.tmp {
	case 1:
		want = append(want, "mount /tmp tmpfs rw,nosuid,nodev,") // mode=1777 is the default, not shown
	case 2:
		want = append(want, "mount /tmp tmpfs rw,nosuid,nodev,", "size=1024k", "mode=750")
	}
	if c.pid == 1 {
		want = append(want, "mount /proc proc rw,nosuid,nodev,noexec")
	}
	if c.pid > 0 {
		want = append(want, "pid1 true")
	}
	if c.hostname {
		want = append(want, "hostname engine-probe\n")
	}
	if c.net {
		want = append(want, "lo up\n")
	}
	if c.time {
		want = append(want, "timens_offsets monotonic 10800 0\n", "timens_offsets boottime -1 500000000\n")
	}
	if c.user {
		want = append(want, fmt.Sprintf("uid_map 0 %d 1\n", os.Geteuid()))
	}
	switch {
	case c.dir:
		want = append(want, "cwd /tmp\n")
	case c.tmp > 0:
		want = append(want, "cwd /\n") // the inherited one is not there inside
	default:
		want = append(want, "cwd other /tmp/engine-wd-")
	}
	for _, w := range want {
		if !strings.Contains(desc, w) {
			t.Errorf("options %s: the child sees\n%s\nwithout %q", c, desc, w)
		}
	}
	if c.tmp > 0 || c.pid == 1 {
		for _, l := range strings.Split(desc, "\n") {
			if strings.HasPrefix(l, "mount / ") && !strings.HasSuffix(l, " private") {
				t.Errorf("options %s: / is not private: %s", c, l)
			}
		}
	}
}

// TestPlanOrder: the options compile into the steps in the contract's
// order (rprivate, the mounts, hostname, lo, time, the working directory),
// whatever order the options are given in, and every step kind, and every
// step only the raw executor has, has a name.
func TestPlanOrder(t *testing.T) {
	n := New(WithPrivateTime(time.Hour, 0), WithPrivateNet(), WithHostname("h"), WithPrivatePID(), WithPrivateTmp(TmpfsSize(1<<20)), WithPrivateUser())
	var got []string
	for _, s := range n.plan().Steps {
		got = append(got, stepName(&s))
	}
	want := []string{"make / recursively private", "mount tmpfs on /tmp (mode=1777,size=1048576)", "mount proc on /proc"}
	// The fresh /proc's kernel knobs, bound read-only over themselves.
	for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"} {
		want = append(want, "open the bind source "+p+" (for "+p+")", "mount on "+p)
	}
	want = append(want,
		"set hostname", "bring lo up", "create time namespace", "set time offsets", "enter working directory")
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("steps:\n%q\nwant\n%q", got, want)
	}
	for k := stepKind(1); k <= stepWorkDir; k++ {
		if stepTable[k].name == "" {
			t.Errorf("step kind %d has no name", k)
		}
	}
	for c := rawproc.CodeWaitMaps; c < rawproc.CodeHeld; c++ {
		if _, ok := rawStepInfo(c); !ok {
			t.Errorf("raw step %#x has no name", c)
		}
	}
	if s := New().plan().Steps; s != nil {
		t.Errorf("no options, steps %v; want none", s)
	}
}
