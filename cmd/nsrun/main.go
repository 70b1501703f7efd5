// Command nsrun runs a command in new Linux namespaces.
//
//	nsrun [options] [--] COMMAND [ARG...]
//
// Its flags follow util-linux unshare(1): -m (mount), -p (PID), -n
// (network), -i (IPC), -u (UTS), -U (user), -C (cgroup), -T (time), -r (map
// the caller to root), and more. It is built on the Command method of
// github.com/linuxns/namespace, so it behaves like the library: / is made
// recursively private before anything is mounted, --tmp mounts a fresh
// tmpfs on /tmp, -p mounts a fresh /proc, -n brings lo up, and nothing leaks
// to the host.
//
// Exit status: COMMAND's own; 128+N if signal N killed it; 125 if nsrun
// itself failed (the message on standard error says what and how to fix
// it); 126 if COMMAND is not executable; 127 if it was not found.
//
// Signals sent to nsrun are forwarded to COMMAND; after a terminating one
// (SIGTERM, SIGHUP, SIGINT, SIGQUIT) COMMAND is killed if it is still alive
// after --kill-grace. See docs/cli.md for the details, including job control.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "devel"

const (
	exitFailed      = 125
	exitNotExec     = 126
	exitNotFound    = 127
	exitSignalsBase = 128
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is nsrun with its arguments and standard files; it returns the exit
// status.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	c, flags, err := parseArgs(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "nsrun: %v\nTry 'nsrun --help' for more information.\n", trimUsage(err))
		return exitFailed
	}
	if c.help {
		fmt.Fprint(stdout, usage(flags))
		return 0
	}
	if c.version {
		fmt.Fprintf(stdout, "nsrun %s\n", version)
		return 0
	}
	opts, err := c.options()
	if err != nil {
		fmt.Fprintf(stderr, "nsrun: %v\nTry 'nsrun --help' for more information.\n", trimUsage(err))
		return exitFailed
	}
	if c.verbose {
		h := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
		opts = append(opts, namespace.WithLogger(slog.New(h).With("prog", "nsrun")))
	}
	// nsrun forwards signals itself (below); the library must not catch
	// them too.
	opts = append(opts, namespace.WithTermChild(false))
	ns := namespace.New(opts...)
	if err := ns.Validate(); err != nil {
		fmt.Fprintf(stderr, "nsrun: %v\n", err)
		return exitFailed
	}

	argv := c.argv
	if len(argv) == 0 {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		argv = []string{sh}
	}
	cmd := ns.Command(context.Background(), argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if cmd.Err != nil {
		return reportLookup(stderr, argv[0], cmd.Err)
	}

	// On a terminal, COMMAND gets a process group of its own in the
	// foreground, as a shell would give a job: the terminal's signals
	// (Ctrl-C, Ctrl-Z) go to it alone, and a shell inside finds its own
	// process group, not one outside its PID namespace.
	// Only when standard output is the terminal too: in a pipeline such as
	// `nsrun … | less`, the other commands of the job must keep the
	// terminal.
	tty := foregroundTTY(stdin) && isTerminal(stdout)
	if tty {
		cmd.SysProcAttr.Setpgid = true
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = 0
	}
	fwd := startForwarding(c.killGrace)
	defer fwd.stop()
	if err := cmd.Start(); err != nil {
		if tty {
			reclaimTerminal(stdin)
		}
		return reportStart(stderr, c, err)
	}
	fwd.attach(cmd.Process)
	if tty {
		go followStops(stdin, cmd.Process.Pid)
	}
	err = cmd.Wait()
	if tty {
		reclaimTerminal(stdin)
	}
	if cmd.ProcessState == nil {
		fmt.Fprintf(stderr, "nsrun: wait: %v\n", err)
		return exitFailed
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitSignalsBase + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func trimUsage(err error) string {
	s := err.Error()
	if p := errUsage.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// reportLookup explains a COMMAND that cannot be run and returns 126 or 127.
func reportLookup(stderr io.Writer, name string, err error) int {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		fmt.Fprintf(stderr, "nsrun: %s: command not found\n", name)
		return exitNotFound
	case errors.Is(err, fs.ErrPermission):
		fmt.Fprintf(stderr, "nsrun: %s: permission denied (not executable)\n", name)
		return exitNotExec
	case errors.Is(err, namespace.ErrInvalid):
		fmt.Fprintf(stderr, "nsrun: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "nsrun: %s: %v\n", name, err)
	return exitFailed
}

// reportStart explains a failure to create the namespaces.
func reportStart(stderr io.Writer, c *config, err error) int {
	userNS := c.user || c.mapRoot || c.mapCurrent
	// Start's error comes straight from os/exec: EPERM from clone(2) or
	// from writing the id maps.
	denied := errors.Is(err, namespace.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EUSERS):
		fmt.Fprintf(stderr, "nsrun: %v\nnsrun: a namespace limit was reached: see /proc/sys/user/max_*_namespaces\n", err)
	case denied && !userNS:
		fmt.Fprintf(stderr, "nsrun: %v\nnsrun: creating namespaces needs CAP_SYS_ADMIN: run as root, or add -r (a user namespace in which you are root)\n", err)
	case denied:
		fmt.Fprintf(stderr, "nsrun: %v\nnsrun: the kernel refused a user namespace: check that unprivileged user namespaces are enabled\n", err)
	default:
		fmt.Fprintf(stderr, "nsrun: %v\n", err)
	}
	return exitFailed
}
