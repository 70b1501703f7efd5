//go:build linux

package namespace_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
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
		// Do returns after its thread is gone.
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", doTID)); doTID == 0 || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Do's thread %d is still there after Do (%v)", doTID, err)
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
echo lo=$(cat /sys/class/net/lo/flags); echo mark=$LINUXNS_TEST_MARK`
		cmd := exec.Command(self)
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
		if kv["host"] != "in-place" || kv["tmp"] != "tmpfs" || kv["files"] != "0" || kv["lo"] != "0x9" {
			t.Errorf("set-up not made before exec: %v (want hostname in-place, an empty tmpfs on /tmp, lo flags 0x9)", kv)
		}
		if kv["mark"] != "inherited" {
			t.Errorf("sh's environment lacks the caller's (nil envv): mark=%q", kv["mark"])
		}

		err = namespace.New(namespace.WithPrivateTmp()).Exec("/nonexistent/program", nil, nil)
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Op != "exec" || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Exec of a missing program = %v, want an *os.PathError (exec) wrapping ErrNotExist", err)
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
