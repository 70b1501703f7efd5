//go:build linux

package namespace_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/proctest"
	"github.com/linuxns/namespace/nstest"
	"github.com/linuxns/namespace/syscalls"
)

// doTest runs body where Do can work: directly as root ("host"), and, as
// root or not, in a child test process that is root of its own user
// namespace ("userns"; as uid 65534 the only way Do can work).
func doTest(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if os.Geteuid() == 0 && !nstest.Inside() {
		t.Run("host", body)
	}
	t.Run("userns", func(t *testing.T) {
		nstest.Run(t, namespace.New(namespace.WithPrivateUser()), body)
	})
}

// taskNS returns the namespace links of every thread of the process.
func taskNS(t *testing.T, kinds ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, task := range tasks {
		for _, k := range kinds {
			if l, err := os.Readlink(task + "/ns/" + k); err == nil {
				out[filepath.Base(task)+"/"+k] = l
			}
		}
	}
	return out
}

// threadEnded says whether the thread tid of this process has ended: it
// is gone from /proc/self/task, or listed there as dead (X) or a zombie
// (Z). A thread that exits wakes its pidfd (what Do waits for on Linux
// 6.9 and later) before the kernel unlists it, so a thread that ended may
// still be listed, dead, for a moment after Do returns; one that runs is
// never listed so.
func threadEnded(tid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return err
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return fmt.Errorf("cannot parse %q", s)
	}
	if st := s[i+2]; st != 'X' && st != 'Z' {
		return fmt.Errorf("still running (state %c)", st)
	}
	return nil
}

// threadIDs returns the calling thread's namespaces of the given kinds.
func threadIDs(t *testing.T, kinds []syscalls.Type) map[syscalls.Type]syscalls.ID {
	t.Helper()
	ids := map[syscalls.Type]syscalls.ID{}
	for _, k := range kinds {
		id, err := syscalls.ThreadID(k)
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = id
	}
	return ids
}

// Only Do's thread enters the namespaces: while fn runs, the caller's
// thread and every other thread of the process stay in the process's
// namespaces, and so does a goroutine that fn starts; fn has a private
// /tmp, its hostname, and lo up; afterwards the thread is gone and nothing
// of the host changed.
func TestDoIsolatesOneThread(t *testing.T) {
	doTest(t, func(t *testing.T) {
		kinds := []syscalls.Type{syscalls.Mount, syscalls.UTS, syscalls.Net, syscalls.IPC, syscalls.Cgroup}
		names := []string{"mnt", "uts", "net", "ipc", "cgroup"}
		before := taskNS(t, names...)
		mountsBefore, err := proctest.Mounts()
		if err != nil {
			t.Fatal(err)
		}
		hostHostname, _ := os.Hostname()
		// The caller's own thread, pinned, before, during and after Do.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		callerTID := unix.Gettid()
		callerBefore := threadIDs(t, kinds)
		var doTID int
		err = namespace.New(namespace.WithPrivateTmp(), namespace.WithPrivateNet(), namespace.WithPrivateIPC(),
			namespace.WithPrivateCgroup(), namespace.WithHostname("do-thread")).Do(func() error {
			doTID = unix.Gettid()
			if doTID == callerTID || doTID == unix.Getpid() {
				t.Errorf("fn runs on thread %d: the caller's (%d) or the main thread", doTID, callerTID)
			}
			// Every other thread, the caller's among them, is in the
			// process's namespaces while fn runs.
			others := 0
			for task, l := range taskNS(t, names...) {
				tid, kind, _ := strings.Cut(task, "/")
				if tid == strconv.Itoa(doTID) {
					continue
				}
				others++
				if self, _ := os.Readlink("/proc/self/ns/" + kind); l != self {
					t.Errorf("while Do runs, thread %s is in %s, not in the process's %s", tid, l, self)
				}
			}
			if _, ok := taskNS(t, names...)[strconv.Itoa(callerTID)+"/mnt"]; !ok || others == 0 {
				t.Errorf("the caller's thread %d is not among the %d other threads seen", callerTID, others)
			}
			for _, k := range kinds {
				thread, err := syscalls.ThreadID(k)
				if err != nil {
					return err
				}
				proc, err := syscalls.IDOf(0, 0, k)
				if err != nil {
					return err
				}
				if thread.Equal(proc) {
					t.Errorf("%s: the Do thread is still in the process's namespace %v", k, proc)
				}
			}
			if h, _ := os.Hostname(); h != "do-thread" {
				t.Errorf("hostname in Do = %q", h)
			}
			entries, err := os.ReadDir("/tmp")
			if err != nil || len(entries) != 0 {
				t.Errorf("/tmp in Do: %v %v", entries, err)
			}
			if err := os.WriteFile("/tmp/linuxns-do-marker", nil, 0o600); err != nil {
				return err
			}
			// A goroutine started here runs on another thread, outside.
			type view struct {
				host   string
				tmp    error
				sameNS bool
			}
			outside := make(chan view)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var v view
				v.host, _ = os.Hostname()
				_, v.tmp = os.Stat("/tmp/linuxns-do-marker")
				thread, err1 := syscalls.ThreadID(syscalls.Mount)
				proc, err2 := syscalls.IDOf(0, 0, syscalls.Mount)
				v.sameNS = err1 == nil && err2 == nil && thread.Equal(proc)
				outside <- v
			}()
			if v := <-outside; v.host != hostHostname || !errors.Is(v.tmp, os.ErrNotExist) || !v.sameNS {
				t.Errorf("a goroutine started in Do is inside: hostname %q (host's %q), Do's /tmp file: %v, in the process's mount namespace: %v",
					v.host, hostHostname, v.tmp, v.sameNS)
			}
			return echoOverLoopback()
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat("/tmp/linuxns-do-marker"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a file from Do's private /tmp is on the host: %v", err)
			os.Remove("/tmp/linuxns-do-marker")
		}
		if h, _ := os.Hostname(); h != hostHostname {
			t.Errorf("host hostname changed to %q", h)
		}
		if mountsAfter, err := proctest.Mounts(); err != nil || mountsAfter != mountsBefore {
			t.Errorf("the host's mount table changed (%v):\nbefore:\n%s\nafter:\n%s", err, mountsBefore, mountsAfter)
		}
		if now := threadIDs(t, kinds); unix.Gettid() != callerTID || fmt.Sprint(now) != fmt.Sprint(callerBefore) {
			t.Errorf("the caller's thread moved: %v, was %v", now, callerBefore)
		}
		// Do returns after its thread has ended.
		if err := threadEnded(doTID); doTID == 0 || err != nil {
			t.Errorf("Do's thread %d: %v", doTID, err)
		}
		after := taskNS(t, names...)
		for task, l := range after {
			if b, ok := before[task]; ok && b != l {
				t.Errorf("thread %s moved from %s to %s", task, b, l)
			}
		}
		for task, l := range after {
			_, kind, _ := strings.Cut(task, "/")
			if self, _ := os.Readlink("/proc/self/ns/" + kind); l != self {
				t.Errorf("thread %s is in %s after Do; the process is in %s", task, l, self)
			}
		}
	})
}

// echoOverLoopback makes a TCP round trip over 127.0.0.1 on the calling
// thread (listen, connect and accept all happen here).
func echoOverLoopback() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(s).ReadString('\n')
	if err != nil || line != "ping\n" {
		return errors.New("echo over lo failed: " + line)
	}
	return nil
}

// Concurrent Do calls are isolated from each other: each thread sees only
// its own hostname and private /tmp while all are inside at once.
func TestDoConcurrent(t *testing.T) {
	doTest(t, func(t *testing.T) {
		const n = 4
		var all sync.WaitGroup
		all.Add(n)
		errs := make(chan error, n)
		for i := range n {
			go func() {
				name := fmt.Sprintf("do-%d", i)
				errs <- namespace.New(namespace.WithPrivateTmp(), namespace.WithHostname(name)).Do(func() error {
					if err := os.WriteFile("/tmp/who", []byte(name), 0o600); err != nil {
						return err
					}
					all.Done()
					all.Wait() // every Do is inside now
					h, _ := os.Hostname()
					b, err := os.ReadFile("/tmp/who")
					if h != name || string(b) != name {
						return fmt.Errorf("%s sees hostname %q and /tmp/who %q (%v)", name, h, b, err)
					}
					return nil
				})
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// fn ending its goroutine (t.Fatal called in fn, say) makes Do return an
// error, not wait forever.
func TestDoGoexit(t *testing.T) {
	doTest(t, func(t *testing.T) {
		err := namespace.New(namespace.WithPrivateMount()).Do(func() error {
			runtime.Goexit()
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "Goexit") {
			t.Errorf("Do = %v; want an error naming runtime.Goexit", err)
		}
	})
}

func TestDoRefusesProcessNamespaces(t *testing.T) {
	for name, opt := range map[string]namespace.Option{
		"pid":  namespace.WithPrivatePID(),
		"user": namespace.WithPrivateUser(),
		"time": namespace.WithPrivateTime(0, 0),
	} {
		ran := false
		err := namespace.New(opt).Do(func() error { ran = true; return nil })
		if !errors.Is(err, namespace.ErrUnsupported) || ran || !strings.Contains(err.Error(), "Run") {
			t.Errorf("%s: Do = %v (ran %v); want ErrUnsupported pointing to Run", name, err, ran)
		}
	}
	if err := namespace.New(namespace.WithHostname("")).Do(func() error { return nil }); !errors.Is(err, namespace.ErrInvalid) {
		t.Errorf("invalid options: %v", err)
	}
}

func TestDoPanicReachesCaller(t *testing.T) {
	doTest(t, func(t *testing.T) {
		defer func() {
			if r := recover(); r != "boom in Do" {
				t.Errorf("recovered %v, want the panic of fn", r)
			}
		}()
		namespace.New(namespace.WithPrivateMount()).Do(func() error { panic("boom in Do") })
		t.Error("Do returned after a panic")
	})
}

func TestDoReturnsError(t *testing.T) {
	doTest(t, func(t *testing.T) {
		want := errors.New("from fn")
		if err := namespace.New(namespace.WithPrivateUTS()).Do(func() error { return want }); err != want {
			t.Errorf("Do = %v, want fn's error", err)
		}
	})
}

func TestDoUnprivilegedSaysWhy(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root has CAP_SYS_ADMIN; this is the unprivileged case (uid 65534)")
	}
	err := namespace.New(namespace.WithPrivateMount()).Do(func() error { return nil })
	if !errors.Is(err, namespace.ErrPermission) {
		t.Errorf("Do as an unprivileged user = %v, want ErrPermission", err)
	}
	err = namespace.New(namespace.WithPrivateMount()).Exec("/bin/true", nil, nil)
	var se *namespace.SetupError
	if !errors.Is(err, namespace.ErrPermission) || !errors.As(err, &se) {
		t.Errorf("Exec as an unprivileged user = %v, want a *SetupError with ErrPermission", err)
	}
}

// Exec: the command replaces the process (same pid) in new namespaces, with
// the set-up made, and nothing of it reaches the host. If execve fails,
// Exec returns the error and the caller goes on in its own namespaces.
func TestExec(t *testing.T) {
	doTest(t, func(t *testing.T) {
		before, err := proctest.Mounts()
		if err != nil {
			t.Fatal(err)
		}
		own := map[string]string{}
		for _, k := range []string{"mnt", "net", "uts"} {
			own[k], _ = os.Readlink("/proc/self/ns/" + k)
		}
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		const script = `echo pid=$$; for k in mnt net uts; do echo $k=$(readlink /proc/self/ns/$k); done
echo host=$(cat /proc/sys/kernel/hostname); echo tmp=$(stat -f -c %T /tmp); echo files=$(ls -A /tmp | wc -l)
echo lo=$(` + namespace.LoStateEnv + `=1 /proc/self/fd/3); echo mark=$LINUXNS_TEST_MARK`
		// The loopback interface is read by this test binary, on
		// descriptor 3 (a private /tmp may hide its path), with
		// SIOCGIFFLAGS in sh's network namespace.
		exe, err := os.Open(self)
		if err != nil {
			t.Fatal(err)
		}
		defer exe.Close()
		cmd := exec.Command(self)
		cmd.ExtraFiles = []*os.File{exe}
		cmd.Env = append(os.Environ(), namespace.ExecInPlaceEnv+"="+script, "LINUXNS_TEST_MARK=inherited")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, stderr.String())
		}
		kv := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				kv[k] = v
			}
		}
		if kv["pid"] != strconv.Itoa(cmd.Process.Pid) {
			t.Errorf("sh has pid %s, the helper had %d: it did not take the helper's place", kv["pid"], cmd.Process.Pid)
		}
		for k, id := range own {
			if kv[k] == "" || kv[k] == id {
				t.Errorf("sh's %s namespace %q, the test's %q: want a new one", k, kv[k], id)
			}
		}
		if kv["host"] != "in-place" || kv["tmp"] != "tmpfs" || kv["files"] != "0" || kv["lo"] != "up" {
			t.Errorf("set-up not made before exec: %v (want hostname in-place, an empty tmpfs on /tmp, lo up)", kv)
		}
		if kv["mark"] != "inherited" {
			t.Errorf("sh's environment lacks the caller's (nil envv): mark=%q", kv["mark"])
		}

		err = namespace.New(namespace.WithPrivateTmp()).Exec("/nonexistent/program", nil, nil)
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Op != "exec" || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Exec of a missing program = %v, want an *os.PathError (exec) wrapping ErrNotExist", err)
		}
		// With nothing to create, execve runs on the caller's thread.
		err = namespace.New().Exec("/nonexistent/program", nil, nil)
		if !errors.As(err, &pe) || pe.Op != "exec" || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Exec of a missing program without namespaces = %v, want an *os.PathError (exec) wrapping ErrNotExist", err)
		}
		err = namespace.New(namespace.WithPrivateTmp(namespace.TmpfsSize(-1))).Exec("/bin/true", nil, nil)
		if !errors.Is(err, namespace.ErrInvalid) {
			t.Errorf("Exec with an invalid option = %v, want ErrInvalid", err)
		}
		err = namespace.New(namespace.WithPrivatePID()).Exec("/bin/true", nil, nil)
		if !errors.Is(err, namespace.ErrUnsupported) || !strings.Contains(err.Error(), "StartProcess") {
			t.Errorf("Exec in a PID namespace = %v, want ErrUnsupported naming StartProcess", err)
		}
		if now, _ := os.Readlink("/proc/self/ns/mnt"); now != own["mnt"] {
			t.Errorf("after the failed exec the process's mount namespace is %s, was %s", now, own["mnt"])
		}
		if after, err := proctest.Mounts(); err != nil || after != before {
			t.Errorf("mount table changed (%v):\nbefore:\n%s\nafter:\n%s", err, before, after)
		}
	})
}

// Do's thread starts in the caller's working directory found again inside:
// /tmp is its private /tmp, a directory under the host's /tmp (not there
// inside) is /; never the host's directory. The caller's own working
// directory does not change.
func TestDoWorkDir(t *testing.T) {
	doTest(t, func(t *testing.T) {
		for _, c := range namespace.WorkDirCases(t) {
			t.Run(c.Name, func(t *testing.T) {
				t.Chdir(c.Dir)
				var v namespace.WorkDirView
				err := namespace.New(namespace.WithPrivateTmp()).Do(func() error {
					v = namespace.ProbeWorkDir(c.Marker, c.Write)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				c.Check(t, v)
				if wd, err := unix.Getwd(); err != nil || wd != c.Dir {
					t.Errorf("the caller's working directory is %q (%v) after Do, was %s", wd, err, c.Dir)
				}

				// A directory asked for explicitly (as a command's Dir)
				// that is not there inside is an error.
				ran := false
				err = namespace.New(namespace.WithPrivateTmp()).DoExplicitDir(func() error {
					ran = true
					v = namespace.ProbeWorkDir(c.Marker, c.Write)
					return nil
				})
				if c.InTmp {
					if err != nil {
						t.Fatal(err)
					}
					c.Check(t, v)
					return
				}
				var se *namespace.SetupError
				if !errors.As(err, &se) || se.Step != namespace.StepWorkDir || !strings.Contains(err.Error(), c.Dir) || !errors.Is(err, unix.ENOENT) || ran {
					t.Errorf("explicit %s, not in the private /tmp: %v (fn ran: %v); want a *SetupError of step %q naming it, wrapping ENOENT", c.Dir, err, ran, namespace.StepWorkDir)
				}
			})
		}
	})
}

// Exec's command starts in the caller's working directory found again
// inside, as Do's function does.
func TestExecWorkDir(t *testing.T) {
	doTest(t, func(t *testing.T) {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range namespace.WorkDirCases(t) {
			t.Run(c.Name, func(t *testing.T) {
				cmd := exec.Command(self)
				cmd.Dir = c.Dir
				cmd.Env = append(os.Environ(), namespace.ExecInPlaceEnv+"="+namespace.WorkDirScript(c.Marker, c.Write))
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("helper: %v\n%s", err, stderr.String())
				}
				c.Check(t, namespace.ParseWorkDirView(string(out)))
			})
		}
	})
}

// doReturns runs n.Do(fn) and returns its error; it fails the test if Do
// has not returned after a minute (it would wait forever for a thread that
// went back to the scheduler). A panic that Do re-raises is raised again in
// the caller.
func doReturns(t *testing.T, n *namespace.Namespace, fn func() error) error {
	t.Helper()
	type outcome struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if r := recover(); r != nil {
				o = outcome{panicked: true, value: r}
			}
			done <- o
		}()
		o.err = n.Do(fn)
	}()
	select {
	case o := <-done:
		if o.panicked {
			panic(o.value)
		}
		return o.err
	case <-time.After(time.Minute):
		t.Fatal("Do did not return: it waits for the end of a thread that fn handed back to the scheduler")
		return nil
	}
}

// threadState is where fn's goroutine is: its thread, and whether that
// thread is in the process's mount and network namespaces.
type threadState struct {
	tid    int
	hostNS bool
}

func currentThread() threadState {
	s := threadState{tid: unix.Gettid()}
	mnt, _ := os.Readlink("/proc/thread-self/ns/mnt")
	net, _ := os.Readlink("/proc/thread-self/ns/net")
	hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	s.hostNS = mnt == hostMnt || net == hostNet
	return s
}

// handOff blocks the calling goroutine until another goroutine wakes it:
// an unlocked goroutine may then resume on another thread, and its thread
// run other goroutines meanwhile.
func handOff() {
	c := make(chan struct{})
	go func() { close(c) }()
	<-c
	runtime.Gosched()
}

// A function that calls runtime.UnlockOSThread once, twice or many times
// more than it locks stays on Do's thread, in Do's namespaces, through
// yields and blocking; Do returns its result, and its thread is gone.
func TestDoFnUnlocksThread(t *testing.T) {
	doTest(t, func(t *testing.T) {
		for _, unlocks := range []int{1, 2, 10, namespace.ThreadLockMargin} {
			var start, end threadState
			want := fmt.Errorf("fn's result after %d unlocks", unlocks)
			err := doReturns(t, namespace.New(namespace.WithPrivateMount(), namespace.WithPrivateNet()), func() error {
				start = currentThread()
				for range unlocks {
					runtime.UnlockOSThread()
				}
				for range 20 {
					handOff()
				}
				end = currentThread()
				return want
			})
			if err != want {
				t.Errorf("%d unlocks: Do = %v, want fn's result", unlocks, err)
			}
			if start.hostNS || end != start {
				t.Errorf("%d unlocks: fn started on thread %d (host namespaces %v) and ended on %d (host namespaces %v); want the same thread, in Do's namespaces",
					unlocks, start.tid, start.hostNS, end.tid, end.hostNS)
			}
			if err := threadEnded(start.tid); err != nil {
				t.Errorf("%d unlocks: Do's thread %d: %v", unlocks, start.tid, err)
			}
		}
	})
}

// While a function that unlocked its thread is blocked, the goroutines
// that run meanwhile never run on Do's thread: each one, many times, finds
// itself in the process's mount and network namespaces.
func TestDoFnUnlocksAndBlocks(t *testing.T) {
	doTest(t, func(t *testing.T) {
		hostMnt, _ := os.Readlink("/proc/self/ns/mnt")
		hostNet, _ := os.Readlink("/proc/self/ns/net")
		blocked, release := make(chan struct{}), make(chan struct{})
		var start, end threadState
		done := make(chan error, 1)
		go func() {
			done <- namespace.New(namespace.WithPrivateMount(), namespace.WithPrivateNet()).Do(func() error {
				start = currentThread()
				runtime.UnlockOSThread()
				runtime.UnlockOSThread()
				close(blocked)
				<-release
				end = currentThread()
				return io.EOF
			})
		}()
		<-blocked
		var checks sync.WaitGroup
		var mu sync.Mutex
		var seen []string
		for range 8 * runtime.GOMAXPROCS(0) {
			checks.Add(1)
			go func() {
				defer checks.Done()
				for range 300 {
					// One system call each: it reports the thread it ran
					// on.
					mnt, err1 := os.Readlink("/proc/thread-self/ns/mnt")
					net, err2 := os.Readlink("/proc/thread-self/ns/net")
					if (err1 == nil && mnt != hostMnt) || (err2 == nil && net != hostNet) {
						mu.Lock()
						seen = append(seen, mnt+" "+net)
						mu.Unlock()
					}
					runtime.Gosched()
				}
			}()
		}
		checks.Wait()
		close(release)
		select {
		case err := <-done:
			if err != io.EOF {
				t.Errorf("Do = %v, want fn's result", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Do did not return: it waits for the end of a thread that fn handed back to the scheduler")
		}
		if len(seen) != 0 {
			t.Errorf("while fn was blocked, other goroutines ran %d times in Do's namespaces (%s, not %s %s)", len(seen), seen[0], hostMnt, hostNet)
		}
		if start.hostNS || end != start {
			t.Errorf("fn started on thread %d (host namespaces %v) and ended on %d (host namespaces %v); want the same thread, in Do's namespaces",
				start.tid, start.hostNS, end.tid, end.hostNS)
		}
	})
}

// A function that unlocks and locks again, or unlocks and then panics or
// ends its goroutine, gets the usual outcome from Do.
func TestDoFnUnlocksThenLocksPanicsOrExits(t *testing.T) {
	doTest(t, func(t *testing.T) {
		n := namespace.New(namespace.WithPrivateMount(), namespace.WithPrivateNet())
		var start, end threadState
		err := doReturns(t, n, func() error {
			start = currentThread()
			runtime.UnlockOSThread()
			handOff()
			runtime.LockOSThread()
			handOff()
			end = currentThread()
			return io.ErrUnexpectedEOF
		})
		if err != io.ErrUnexpectedEOF || start.hostNS || end != start {
			t.Errorf("unlock, lock: Do = %v; fn on thread %d then %d (host namespaces %v %v); want fn's result, on one thread in Do's namespaces",
				err, start.tid, end.tid, start.hostNS, end.hostNS)
		}

		err = doReturns(t, n, func() error {
			runtime.UnlockOSThread()
			handOff()
			runtime.Goexit()
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "Goexit") {
			t.Errorf("unlock, Goexit: Do = %v; want an error naming runtime.Goexit", err)
		}

		func() {
			defer func() {
				if r := recover(); r != "unlocked, then panicked" {
					t.Errorf("unlock, panic: recovered %v, want fn's panic", r)
				}
			}()
			_ = doReturns(t, n, func() error {
				runtime.UnlockOSThread()
				handOff()
				panic("unlocked, then panicked")
			})
			t.Error("unlock, panic: Do returned")
		}()
	})
}

// unlockingHandler is a slog handler that unlocks the calling goroutine's
// thread whenever it handles a record, as careless code may.
type unlockingHandler struct{ calls *atomic.Int32 }

func (h unlockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h unlockingHandler) Handle(context.Context, slog.Record) error {
	h.calls.Add(1)
	runtime.UnlockOSThread()
	return nil
}
func (h unlockingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h unlockingHandler) WithGroup(string) slog.Handler      { return h }

// A logger is code of the caller's too, run on Do's and Exec's thread
// during the set-up: when it unlocks the thread, Exec still returns its
// error, and Do its function's result.
func TestDoAndExecLoggerUnlocks(t *testing.T) {
	doTest(t, func(t *testing.T) {
		var calls atomic.Int32
		n := namespace.New(namespace.WithPrivateTmp(), namespace.WithPrivateNet(), namespace.WithLogger(slog.New(unlockingHandler{&calls})))
		done := make(chan error, 1)
		go func() { done <- n.Exec("/nonexistent/program", nil, nil) }()
		select {
		case err := <-done:
			var pe *os.PathError
			if !errors.As(err, &pe) || pe.Op != "exec" {
				t.Errorf("Exec = %v, want the *os.PathError of execve", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Exec did not return: it waits for the end of a thread that the logger handed back to the scheduler")
		}
		if calls.Load() < 2 {
			t.Fatalf("the logger was called %d times; the test needs it to unlock the thread more than once", calls.Load())
		}
		var start, end threadState
		err := doReturns(t, n, func() error {
			start = currentThread()
			handOff()
			end = currentThread()
			return io.ErrShortWrite
		})
		if err != io.ErrShortWrite || start.hostNS || end != start {
			t.Errorf("Do = %v; fn on thread %d then %d (host namespaces %v %v); want fn's result, on one thread in Do's namespaces",
				err, start.tid, end.tid, start.hostNS, end.hostNS)
		}
	})
}

// envUnlockAll makes TestDoUnlockBeyondMarginHelper a program whose Do
// function undoes every lock on its thread and moves to another thread.
const envUnlockAll = "LINUXNS_TEST_DO_UNLOCK_ALL"

// TestDoUnlockBeyondMarginHelper is the program of TestDoUnlockBeyondMargin.
func TestDoUnlockBeyondMarginHelper(t *testing.T) {
	if os.Getenv(envUnlockAll) == "" {
		t.Skip("helper process of TestDoUnlockBeyondMargin")
	}
	err := namespace.New(namespace.WithPrivateMount()).Do(func() error {
		tid := unix.Gettid()
		for range namespace.ThreadLockMargin + 1 {
			runtime.UnlockOSThread()
		}
		// Unlocked: block until the goroutine resumes on another thread,
		// with other goroutines busy meanwhile.
		stop := make(chan struct{})
		defer close(stop)
		for range runtime.GOMAXPROCS(0) {
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
						runtime.Gosched()
					}
				}
			}()
		}
		for unix.Gettid() == tid {
			handOff()
		}
		return nil
	})
	fmt.Printf("Do returned %v\n", err)
}

// A function that undoes more locks than the margin and leaves its thread
// ends the program (status 2, with a message), rather than leave a thread
// in Do's namespaces to the scheduler, or Do waiting forever.
func TestDoUnlockBeyondMargin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-test.run=^TestDoUnlockBeyondMarginHelper$", "-test.count=1"}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	if os.Geteuid() != 0 {
		cmd = namespace.New(namespace.WithPrivateUser()).Command(ctx, os.Args[0], args...)
	}
	cmd.Env = append(cmd.Environ(), envUnlockAll+"=1")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the helper did not end: Do waits forever\n%s", out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "handed back to the Go scheduler") || strings.Contains(string(out), "Do returned") {
		t.Errorf("helper: %v\n%s\nwant exit status 2 with the message, Do not returning", err, out)
	}
}
