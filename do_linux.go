package namespace

// Do: a function on a throw-away OS thread in new namespaces, and the
// thread discipline that Exec shares.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/linuxns/namespace/syscalls"
	"golang.org/x/sys/unix"
)

// Do runs fn on a fresh OS thread in new mount, UTS, IPC, network and cgroup
// namespaces, with the same set-up as Run (a recursively private /, a
// private /tmp, a hostname, lo up), and returns fn's error. No process is
// started: it costs a thread, not a fork and exec.
//
// Only fn's goroutine is inside: the caller's goroutine and every other
// thread stay in the original namespaces, and goroutines that fn starts are
// NOT inside (they run on other threads). The thread is discarded when fn
// returns, never reused: Do returns once it has ended. Creating the
// namespaces needs CAP_SYS_ADMIN (root, or a program already running as
// root of a user namespace, for example after Setup with WithPrivateUser).
//
// fn may call runtime.LockOSThread and runtime.UnlockOSThread as it likes,
// provided it does not call UnlockOSThread more than 1024 times beyond its
// own LockOSThread calls: Do locks the goroutine that many times more before
// anything of the caller's runs on the thread, so the goroutine stays on it,
// no other goroutine ever runs on it, and Do returns fn's result. Go has no
// lock that code on the goroutine cannot undo: a function that undoes more
// hands a thread in Do's namespaces back to the Go scheduler, where other
// goroutines may run in them, and no Go API can take it back or end it. If
// Do then finds, once fn has ended, fn's goroutine on another thread, it
// ends the program (exit status 2, with a message on standard error) rather
// than let that go on; it cannot tell whether other goroutines ran on the
// thread before.
//
// The thread starts in the caller's working directory, entered again by its
// path after the set-up: a directory under /tmp is looked up in the private
// /tmp, and if it is not there (a private /tmp is empty), the thread starts
// in / instead.
//
// Do refuses PID, user and time namespaces and the other options that need
// a new process (ErrUnsupported, naming the option; see each option's
// doc): use Run. A panic in fn is re-raised in the caller; if
// fn ends its goroutine with runtime.Goexit (t.Fatal called in fn, say), Do
// returns an error saying so.
func (n *Namespace) Do(fn func() error) error {
	guardChild()
	if fn == nil {
		return fmt.Errorf("namespace: Do: %w: nil function", ErrInvalid)
	}
	if err := n.check(verbDo); err != nil {
		return err
	}
	return n.do(n.plan(), fn)
}

// do is Do with the plan p.
func (n *Namespace) do(p plan, fn func() error) error {
	log := n.log()
	type outcome struct {
		err      error
		panicked bool
		value    any
	}
	res := make(chan outcome, 1)
	gone := make(chan exitWaiter, 1) // waits until the thread has exited
	onThrowawayThread(func() {
		// Before any code of the caller's runs here (fn, or a logger's
		// handler): see holdThread.
		tid := holdThread()
		gone <- threadExitWaiter()
		var o outcome
		returned := false
		defer func() {
			if r := recover(); r != nil {
				o = outcome{panicked: true, value: r}
			} else if !returned {
				// runtime.Goexit, from t.FailNow or t.Fatal called in fn,
				// say: report it rather than leave Do waiting forever.
				o = outcome{err: errors.New("namespace: Do: fn called runtime.Goexit instead of returning (t.FailNow, t.Fatal and t.SkipNow must not be called from fn: return an error)")}
			}
			// The thread ends with this goroutine, before Do returns.
			keepThread(tid, "Do")
			res <- o
		}()
		start := time.Now()
		flags, steps, release, err := threadJoins(p)
		if err != nil {
			returned = true
			o.err = err
			return
		}
		defer release()
		if err := syscalls.Unshare(flags); err != nil {
			returned = true
			o.err = n.startError(err)
			return
		}
		if err := runSteps(steps, log); err != nil {
			returned = true
			o.err = classify(failedStep(err), stepCause(err), n)
			return
		}
		log.Debug("do: namespaces ready", "flags", fmt.Sprintf("%#x", p.Flags), "took", time.Since(start))
		o.err = fn()
		returned = true
	})
	// The thread that left the host's namespaces is gone before Do returns.
	// With a thread pidfd, its exit is the one wake-up Do waits for: the
	// outcome was sent before it.
	wait := <-gone
	var o outcome
	if wait.exact {
		wait.wait()
		o = <-res
	} else {
		o = <-res
		wait.wait()
	}
	if o.panicked {
		panic(o.value)
	}
	return o.err
}

// holdThread locks the calling goroutine to its OS thread threadLockMargin
// times more, and returns the thread's id.
//
// Go offers no lock that code on the goroutine cannot undo: a function
// that calls runtime.UnlockOSThread as often as the goroutine was locked
// hands the thread back to the scheduler, which would run other goroutines
// on it, in the namespaces it entered (and Do, waiting for the thread to
// end, would wait forever). With the margin, unbalanced UnlockOSThread calls
// (a library that unlocks a lock it did not take, once or a thousand
// times) leave the goroutine locked; keepThread checks afterwards.
func holdThread() int {
	for range threadLockMargin {
		runtime.LockOSThread()
	}
	return unix.Gettid()
}

// keepThread runs after the caller's code on a thread that holdThread
// held, tid: it locks the goroutine once more, so that the runtime ends
// the thread when the goroutine ends, and checks that the goroutine is
// still on tid. If it is not, the caller's code undid more locks than the
// margin and the thread, in other namespaces, went back to the scheduler:
// no Go API can take it back or end it, and any goroutine may run on it.
// Then the program ends (status 2, as the runtime's fatal errors), which is
// the one way left to keep goroutines out of those namespaces.
func keepThread(tid int, verb string) {
	runtime.LockOSThread()
	if unix.Gettid() == tid {
		return
	}
	fmt.Fprintf(os.Stderr, "namespace: %s: fatal: the goroutine's OS thread, in new namespaces, was handed back to the Go scheduler "+
		"(runtime.UnlockOSThread was called more than %d times beyond runtime.LockOSThread); other goroutines may run on it, so the program ends\n",
		verb, threadLockMargin)
	os.Exit(2)
}

// exitWaiter waits until an OS thread has exited.
type exitWaiter struct {
	wait func()
	// exact: wait returns when the thread is gone, not after a bounded
	// time.
	exact bool
}

// threadExitWaiter returns a waiter for the exit of the calling OS thread:
// through a thread pidfd (Linux 6.9), or else by watching /proc/self/task
// for a bounded time.
func threadExitWaiter() exitWaiter {
	tid := unix.Gettid()
	if fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD); err == nil {
		return exitWaiter{exact: true, wait: func() {
			defer unix.Close(fd)
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					return
				}
			}
		}}
	}
	return exitWaiter{wait: func() {
		path := fmt.Sprintf("/proc/self/task/%d", tid)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Microsecond) {
			if _, err := os.Stat(path); err != nil {
				return
			}
		}
	}}
}

// onThrowawayThread runs body on a new goroutine locked to an OS thread
// that is not the main thread and has no children, and never unlocks it, so
// that the runtime destroys the thread when body returns.
//
// The main thread must be avoided: the kernel shows its namespaces as the
// whole process's in /proc/PID/ns, and the runtime cannot destroy it, so a
// goroutine that exits while locked to it leaves it parked for good, in
// whatever namespaces it had entered. A thread with children must be
// avoided too: the kernel sends their parent-death signal when the thread
// exits, and the child of a Command started from that thread earlier would
// be killed (SIGKILL, Pdeathsig). If the new goroutine finds itself on such a
// thread, it keeps that thread busy while another goroutine, which therefore
// runs elsewhere, takes over.
func onThrowawayThread(body func()) {
	go throwaway(body, nil)
}

// throwaway is onThrowawayThread's goroutine; it closes found once body has
// a thread.
func throwaway(body func(), found chan<- struct{}) {
	runtime.LockOSThread()
	if unix.Gettid() != unix.Getpid() && !threadHasChildren() {
		if found != nil {
			close(found)
		}
		body()
		return
	}
	handed := make(chan struct{})
	go throwaway(body, handed)
	<-handed
	if found != nil {
		close(found)
	}
	runtime.UnlockOSThread()
}

// threadHasChildren reports whether the calling OS thread has child
// processes: the children it started (of any kind, zombies included),
// which the kernel hands to another thread, with their parent-death
// signal, when this one exits.
//
// One waitid(2) that reaps nothing tells, asked for this thread's
// children only (__WNOTHREAD): ECHILD is none. No /proc is needed, so the
// answer holds in a root without /proc too. Should the kernel refuse the
// call otherwise (a seccomp filter, say), /proc/thread-self/children is
// read; if that cannot be read either, the answer is "no children", so
// that the search for a thread ends.
func threadHasChildren() bool {
	var info unix.Siginfo
	const all = unix.WEXITED | unix.WSTOPPED | unix.WCONTINUED | unix.WNOHANG | unix.WNOWAIT | unix.WALL
	switch err := unix.Waitid(unix.P_ALL, 0, &info, all|unix.WNOTHREAD, nil); err {
	case unix.ECHILD:
		return false
	case nil:
		return true
	}
	// Raw system calls: os.ReadFile would register the file with the
	// runtime's network poller, which a program that has not used it yet
	// (nsrun executing COMMAND in its place) would pay to start.
	fd, err := unix.Open("/proc/thread-self/children", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0 // "PID PID ...", or empty
	}
}
