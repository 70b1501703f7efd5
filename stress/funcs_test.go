//go:build stress && linux

package stress

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/proctest"
)

// Functions the suite runs in children. They are registered at package
// level, so that the re-executed test binary knows them.

// blocker starts a grandchild `sleep MARKER` (args[0]) unless args[2] is
// "alone", prints "ready", and then returns, or blocks for good if args[1]
// is "block".
var blocker = namespace.Register("stress-blocker", func(ctx context.Context, args []string) error {
	if len(args) < 3 || args[2] != "alone" {
		cmd := exec.Command("sleep", args[0])
		if err := cmd.Start(); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	if len(args) > 1 && args[1] == "block" {
		select {}
	}
	return nil
})

// fault misbehaves in the way args[0] names.
var fault = namespace.Register("stress-fault", func(ctx context.Context, args []string) error {
	switch args[0] {
	case "panic":
		var s []int
		_ = s[len(args)] // a runtime panic, not a panic call
	case "exit":
		os.Exit(42)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		for {
			time.Sleep(time.Millisecond)
		}
	case "close-socket":
		// The job socket is fd 3; the result cannot be sent any more.
		unix.Close(3)
		return nil
	case "close-socket-exit":
		unix.Close(3)
		time.Sleep(20 * time.Millisecond) // the library's goroutines notice
		os.Exit(7)
	case "garbage-socket":
		// The function's own code writes to the job socket: a frame
		// header that promises more than follows, then junk.
		unix.Write(3, []byte("\x00\x00\x10\x00not a frame at all"))
		return nil
	case "flood-socket":
		// Far more than the socket buffer holds: the parent must drain
		// it, or the child blocks for good.
		junk := make([]byte, 1<<20)
		for i := range junk {
			junk[i] = 0xff
		}
		if err := unix.SetNonblock(3, false); err != nil { // block until read
			return err
		}
		for range 8 {
			if _, err := unix.Write(3, junk); err != nil {
				return err
			}
		}
		return nil
	case "daemon":
		// A double-forking daemon: the shell forks a subshell that forks
		// `sleep MARKER` and exits, so sleep is re-parented to PID 1; the
		// function returns while the daemon runs on.
		if err := exec.Command("sh", "-c", "(sleep "+args[1]+" </dev/null >/dev/null 2>&1 &) &").Run(); err != nil {
			return err
		}
		for range 1000 {
			if len(proctest.WithArg(args[1])) > 0 {
				return nil
			}
			time.Sleep(time.Millisecond)
		}
		return errors.New("the daemon did not start")
	case "fill-tmp":
		f, err := os.Create("/tmp/" + args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, 64<<10)
		n := 0
		for {
			w, err := f.Write(buf)
			n += w
			if err != nil {
				return fmt.Errorf("after %d bytes: %w", n, err)
			}
			if n > 64<<20 {
				return errors.New("the 1 MiB tmpfs took 64 MiB")
			}
		}
	case "exhaust-pids":
		// pid_max is per PID namespace (Linux 6.14): lower ours, then fork
		// `sleep MARKER` until the kernel refuses. At most a few hundred
		// processes, whatever the host's limits.
		// The fresh /proc's /proc/sys is read-only (a bind over it, in
		// this mount namespace, made by this namespace): lift it here.
		if err := unix.Unmount("/proc/sys", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("lift the read-only /proc/sys: %w", err)
		}
		if err := os.WriteFile("/proc/sys/kernel/pid_max", []byte("400"), 0); err != nil {
			return fmt.Errorf("lower pid_max: %w", err)
		}
		for i := range 1000 {
			if err := exec.Command("sleep", args[1]).Start(); err != nil {
				return fmt.Errorf("fork %d refused: %w", i, err)
			}
		}
		return errors.New("1000 processes started under pid_max 400")
	}
	return nil
})

// A limitReport is what a nested Run under a lowered limit returned.
type limitReport struct {
	Err, Kind string
	Left      []int // children of the child after the nested Run
	Mounts    bool  // the child's mount table changed
}

// nested lowers the limit it is given in its own namespaces, tries a nested
// Run there, and reports the error and any state left behind.
var nested = namespace.NewTask("stress-nested", func(ctx context.Context, limit string) (limitReport, error) {
	inner := namespace.New(namespace.WithPrivateMount(), namespace.WithPrivateTmp())
	switch limit {
	case "max_user_namespaces":
		// /proc/sys/user/max_* belong to the writer's user namespace: the
		// host's are never touched.
		if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
			return limitReport{}, err
		}
		inner = namespace.New(namespace.WithPrivateUser(), namespace.WithPrivateTmp())
	case "max_net_namespaces":
		if err := os.WriteFile("/proc/sys/user/max_net_namespaces", []byte("0"), 0); err != nil {
			return limitReport{}, err
		}
		inner = namespace.New(namespace.WithPrivateNet(), namespace.WithPrivateTmp())
	case "nofile":
		var fds []int
		for i := 0; i < 64; i++ {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				break
			}
			fds = append(fds, fd)
		}
		if len(fds) == 0 {
			return limitReport{}, errors.New("cannot open /dev/null")
		}
		// Every descriptor below the limit is in use.
		top := uint64(fds[len(fds)-1] + 1)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: top, Max: top}); err != nil {
			return limitReport{}, err
		}
	case "nproc":
		// Root of the host's user namespace is exempt from RLIMIT_NPROC;
		// as root the suite maps an ordinary uid too and switches to it.
		if uid := os.Getenv("STRESS_NPROC_UID"); uid != "" {
			var id int
			if _, err := fmt.Sscan(uid, &id); err != nil {
				return limitReport{}, err
			}
			if err := syscall.Setresgid(id, id, id); err != nil {
				return limitReport{}, fmt.Errorf("setresgid: %w", err)
			}
			if err := syscall.Setresuid(id, id, id); err != nil {
				return limitReport{}, fmt.Errorf("setresuid: %w", err)
			}
			inner = namespace.New(namespace.WithPrivateUser(), namespace.WithPrivateTmp())
		}
		// The limit counts threads too, and a Go program that cannot make
		// a thread it needs dies: make spare ones first, and start
		// catching signals (ctx.Err does) while threads can be made.
		spareThreads(16)
		_ = ctx.Err()
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: 1, Max: 1}); err != nil {
			return limitReport{}, err
		}
	}
	before, _ := os.ReadFile("/proc/self/mountinfo")
	err := inner.Run(ctx, nop)
	after, _ := os.ReadFile("/proc/self/mountinfo")
	r := limitReport{Left: proctest.Children(), Mounts: string(before) != string(after)}
	if err == nil {
		return r, nil
	}
	r.Err = err.Error()
	switch {
	case errors.Is(err, syscall.EMFILE) && errors.Is(err, namespace.ErrLimit):
		r.Kind = "EMFILE"
	case errors.Is(err, syscall.EAGAIN) && errors.Is(err, namespace.ErrLimit):
		r.Kind = "EAGAIN"
	case errors.Is(err, syscall.ENOSPC) && errors.Is(err, namespace.ErrLimit):
		r.Kind = "ENOSPC"
	}
	return r, nil
})

// spareThreads makes the Go runtime start n OS threads, which it then keeps
// idle for later use.
func spareThreads(n int) {
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			runtime.LockOSThread() // a thread of its own
			wg.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	wg.Wait()
	close(release)
}

// maskedProc hides a part of /proc (as container runtimes do), then asks a
// nested Run for a user and PID namespace with a fresh /proc, which the
// kernel refuses: a set-up step that fails inside the child.
var maskedProc = namespace.NewTask("stress-masked-proc", func(ctx context.Context, _ int) (limitReport, error) {
	if err := unix.Mount("tmpfs", "/proc/sys", "tmpfs", unix.MS_RDONLY, "size=4k"); err != nil {
		return limitReport{}, fmt.Errorf("mask /proc/sys: %w", err)
	}
	before, _ := os.ReadFile("/proc/self/mountinfo")
	err := namespace.New(namespace.WithPrivateUser(), namespace.WithPrivatePID()).Run(ctx, nop)
	after, _ := os.ReadFile("/proc/self/mountinfo")
	r := limitReport{Left: proctest.Children(), Mounts: string(before) != string(after)}
	if err != nil {
		r.Err = err.Error()
		var se *namespace.SetupError
		if errors.As(err, &se) && errors.Is(err, namespace.ErrPermission) {
			r.Kind = se.Step
		}
	}
	return r, nil
})

var nop = namespace.Register("stress-nop", func(ctx context.Context, args []string) error { return nil })

// waitCtx waits for its context, then returns its error.
var waitCtx = namespace.Register("stress-wait-ctx", func(ctx context.Context, args []string) error {
	<-ctx.Done()
	return ctx.Err()
})

// children returns the pids of this process's children.
func children() []int { return proctest.Children() }

// stepOnce reports whether step appears exactly once in msg: a failed step
// is named once, not once per layer ("mount x: mount x: …").
func stepOnce(msg, step string) bool { return strings.Count(msg, step) == 1 }
