//go:build stress

package stress

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/proctest"
)

// Functions the suite runs in children. They are registered at package
// level, so that the re-executed test binary knows them.

// blocker starts a grandchild `sleep MARKER` and returns, or blocks if
// args[1] is "block". It prints "ready" when the grandchild runs.
var blocker = namespace.Register("stress-blocker", func(ctx context.Context, args []string) error {
	cmd := exec.Command("sleep", args[0])
	if err := cmd.Start(); err != nil {
		return err
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
		signal.Ignore(syscall.SIGTERM)
		for {
			time.Sleep(time.Millisecond)
		}
	case "close-socket":
		unix.Close(3)
		return nil
	case "daemon":
		// A double-forking daemon: the shell forks a subshell that forks
		// the sleep and exits, so sleep is re-parented to PID 1.
		if err := exec.Command("sh", "-c", "(sleep "+args[1]+" &) &").Run(); err != nil {
			return err
		}
		return nil
	case "fill-tmp":
		f, err := os.Create("/tmp/fill")
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
		// pid_max is per PID namespace: lower ours, then fork until the
		// kernel refuses.
		if err := os.WriteFile("/proc/sys/kernel/pid_max", []byte("400"), 0); err != nil {
			return fmt.Errorf("lower pid_max: %w", err)
		}
		for i := 0; i < 1000; i++ {
			if err := exec.Command("sleep", "600").Start(); err != nil {
				return fmt.Errorf("fork %d refused: %w", i, err)
			}
		}
		return errors.New("1000 processes started under pid_max 400")
	}
	return nil
})

// nested tries to create namespaces from inside a child after lowering a
// limit, and reports what happened.
var nested = namespace.NewTask("stress-nested", func(ctx context.Context, limit string) (string, error) {
	inner := namespace.New(namespace.WithPrivateMount())
	switch limit {
	case "max_user_namespaces":
		if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
			return "", err
		}
		inner = namespace.New(namespace.WithPrivateUser())
	case "max_net_namespaces":
		if err := os.WriteFile("/proc/sys/user/max_net_namespaces", []byte("0"), 0); err != nil {
			return "", err
		}
		inner = namespace.New(namespace.WithPrivateNet())
	case "nofile":
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 8, Max: 8}); err != nil {
			return "", err
		}
	case "nproc":
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: 1, Max: 1}); err != nil {
			return "", err
		}
	}
	err := inner.Run(ctx, nop)
	if err == nil {
		return "ok", nil
	}
	kind := "other"
	switch {
	case errors.Is(err, syscall.EMFILE):
		kind = "EMFILE"
	case errors.Is(err, syscall.EAGAIN) && errors.Is(err, namespace.ErrLimit):
		kind = "EAGAIN"
	case errors.Is(err, namespace.ErrLimit):
		kind = "ErrLimit"
	}
	// No partial state: no child of ours is left.
	if kids := children(); len(kids) > 0 {
		kind += fmt.Sprintf(" (children left: %v)", kids)
	}
	return kind + ": " + err.Error(), nil
})

var nop = namespace.Register("stress-nop", func(ctx context.Context, args []string) error { return nil })

// waitCtx waits for its context, then returns its error.
var waitCtx = namespace.Register("stress-wait-ctx", func(ctx context.Context, args []string) error {
	<-ctx.Done()
	return ctx.Err()
})

// children returns the pids of this process's children.
func children() []int { return proctest.Children() }
