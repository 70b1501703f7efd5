//go:build linux

// Command nsrun runs a command in new Linux namespaces.
//
//	nsrun [options] [--] COMMAND [ARG...]
//
// Its flags follow util-linux unshare(1): -m (mount), -p (PID), -n
// (network), -i (IPC), -u (UTS), -U (user), -C (cgroup), -T (time), -r (map
// the caller to root), and more; short flags combine (-mpnu). It is built
// on github.com/linuxns/namespace and behaves like the library: / is made
// recursively private before anything is mounted, --tmp mounts a fresh
// tmpfs on /tmp, -p mounts a fresh /proc, -n brings lo up, and nothing
// leaks to the host. Without root, -r makes every flag work in a user
// namespace in which the caller is root.
//
// Where no new process is needed (mount, network, IPC, UTS and cgroup
// namespaces), COMMAND takes nsrun's place, as with unshare(1) without
// --fork: a thread of nsrun creates the namespaces and makes the set-up,
// then executes COMMAND (Namespace.Exec). With -p, --init, -U, -r, -c, -T,
// --fork, --kill-grace, --kill-descendants, --chdir, the joining and status
// flags (--join, --join-pid, --pin, --subids, --info-fd, --json-status-fd),
// the privilege flags or the resource flags, nsrun stays as COMMAND's
// parent (Namespace.StartProcess; under --init, the parent of its init;
// under --kill-descendants, of the supervisor that kills what COMMAND
// leaves behind).
//
// Exit status: COMMAND's own (as nsrun's child, 128+N if signal N killed
// it); 125 if nsrun itself failed (the message on standard error says what
// and how to fix it); 126 if COMMAND cannot be executed; 127 if it was not
// found.
//
// As COMMAND's parent, nsrun forwards the signals it receives to COMMAND;
// after a terminating one (SIGTERM, SIGHUP, SIGINT, SIGQUIT) COMMAND is
// killed if it is still alive after --kill-grace. On a terminal COMMAND
// runs in the foreground as a job of its own, so interactive shells and job
// control work. See docs/cli.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/linuxns/namespace"
)

// version is set at build time with -ldflags "-X main.version=…"; when it is
// empty, the module version or VCS revision recorded in the binary is used.
var version string

// Exit statuses of nsrun's own failures, as env(1) and podman use them.
const (
	exitFailed      = 125 // nsrun failed
	exitNotExec     = 126 // COMMAND cannot be executed
	exitNotFound    = 127 // COMMAND was not found
	exitSignalsBase = 128 // 128+N: COMMAND was killed by signal N
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is nsrun with its arguments and standard files; it returns the exit
// status, unless COMMAND replaces nsrun.
func run(args []string, stdin, stdout, stderr *os.File) int {
	c, err := parseArgs(args)
	if err != nil {
		return usageError(stderr, err)
	}
	var sigs *caught
	if c.needsParent() {
		// Catching signals costs the Go runtime a round trip per signal:
		// start it now, in the background, and wait for it just before
		// COMMAND starts.
		sigs = catchSignals()
	}
	if c.help {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	if c.version {
		fmt.Fprintf(stdout, "nsrun %s\n", versionString())
		return 0
	}
	if c.join.check {
		return runCheck(stdout)
	}
	if err := c.checkPrivileges(os.Geteuid()); err != nil {
		return usageError(stderr, err)
	}

	log := slog.New(slog.DiscardHandler)
	if c.verbose {
		h := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
		log = slog.New(h).With("prog", "nsrun")
	}
	// nsrun forwards signals itself (signals.go); StartProcess and Exec
	// catch none.
	opts := append(c.options(os.Geteuid(), os.Getegid()), namespace.WithLogger(log))
	privOpts, err := c.priv.options(interactive(stdin, stdout))
	if err != nil {
		return usageError(stderr, err)
	}
	opts = append(opts, privOpts...)
	env, err := c.priv.environ(os.Environ())
	if err != nil {
		return usageError(stderr, err)
	}
	ns := namespace.New(opts...)
	if err := ns.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "nsrun: %s\n", line)
		}
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
	path := argv[0]
	if !strings.Contains(path, "/") {
		var err error
		if path, err = lookPath(c, argv[0]); err != nil {
			return reportLookup(stderr, argv[0], err)
		}
	}

	if !c.needsParent() {
		return execInPlace(c, ns, path, argv, env, stderr, log)
	}

	term := openTerminal(stdin, stdout)
	defer term.close()
	sys := &syscall.SysProcAttr{}
	if term.ownGroup() && !c.priv.newSession {
		// A job of its own in the terminal's foreground (signals.go);
		// not with --new-session, whose new session has no terminal.
		sys.Setpgid, sys.Foreground, sys.Ctty = true, true, 0
	}
	fwd := startForwarding(sigs, term, c.killGrace, log)
	defer fwd.stop()
	log.Debug("starting", "namespaces", ns.String(), "argv", argv, "own-process-group", term.ownGroup())
	start, release, err := c.join.starter(ns)
	if err != nil {
		term.reclaim(0)
		return reportStart(stderr, c, ns, path, err)
	}
	defer release()
	proc, err := start(path, argv, &os.ProcAttr{Dir: c.chdir, Env: env, Files: []*os.File{stdin, stdout, stderr}, Sys: sys})
	if err != nil {
		term.reclaim(0)
		return reportStart(stderr, c, ns, path, err)
	}
	pid := proc.Pid
	log.Debug("started", "pid", pid)
	c.join.started(pid, stderr)
	fwd.attach(proc)
	if term.ownGroup() && !c.priv.newSession {
		go term.followStops(pid, log)
	}
	state, err := proc.Wait()
	term.reclaim(pid)
	if state == nil {
		fmt.Fprintf(stderr, "nsrun: wait for %s: %v\n", argv[0], err)
		return exitFailed
	}
	log.Debug("exited", "pid", pid, "state", state.String())
	code := state.ExitCode()
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = exitSignalsBase + int(ws.Signal())
	}
	code, usage := c.cg.finish(proc, state, code, argv[0], stderr)
	c.join.exited(code, usage)
	return code
}

// execInPlace executes COMMAND in place of nsrun, as unshare(1) does
// without --fork (Namespace.Exec). It returns only if that fails, with
// nsrun's exit status.
func execInPlace(c *config, ns *namespace.Namespace, path string, argv, env []string, stderr io.Writer, log *slog.Logger) int {
	log.Debug("executing in place", "namespaces", ns.String(), "argv", argv)
	return reportStart(stderr, c, ns, path, ns.Exec(path, argv, env))
}

// usageError prints a command-line error with a hint and returns 125.
func usageError(stderr io.Writer, err error) int {
	msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
	fmt.Fprintf(stderr, "nsrun: %s\nTry 'nsrun --help' for more information.\n", msg)
	return exitFailed
}

// versionString returns the version set at build time, else the module
// version or VCS revision recorded by the Go toolchain, else "devel".
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		return "devel-" + rev + dirty
	}
	return "devel"
}

// reportLookup explains a COMMAND that cannot be run and returns 126 or
// 127 (125 for anything else).
func reportLookup(stderr io.Writer, name string, err error) int {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		fmt.Fprintf(stderr, "nsrun: %s: command not found (check the name and $PATH)\n", name)
		return exitNotFound
	case errors.Is(err, exec.ErrDot):
		fmt.Fprintf(stderr, "nsrun: %s: found only in the current directory through $PATH; run ./%s to mean it\n", name, name)
		return exitNotExec
	case errors.Is(err, fs.ErrPermission):
		fmt.Fprintf(stderr, "nsrun: %s: permission denied (not executable)\n", name)
		return exitNotExec
	}
	fmt.Fprintf(stderr, "nsrun: %s: %v\n", name, err)
	return exitFailed
}

// reportStart explains a failure to start COMMAND and returns its exit
// status: 127 or 126 if COMMAND could not be executed, else 125. The error
// is a *namespace.SetupError naming the failed step or a *os.PathError about
// executing COMMAND.
func reportStart(stderr io.Writer, c *config, ns *namespace.Namespace, path string, err error) int {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Op == "exec" {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(stderr, "nsrun: %s: no such file or directory\n", path)
			return exitNotFound
		case errors.Is(err, fs.ErrPermission):
			fmt.Fprintf(stderr, "nsrun: %s: permission denied (not executable, or on a noexec mount)\n", path)
		default:
			fmt.Fprintf(stderr, "nsrun: cannot execute %s: %v\n", path, pe.Err)
		}
		return exitNotExec
	}
	var se *namespace.SetupError
	if errors.As(err, &se) && !strings.HasPrefix(se.Step, "create namespaces") {
		fmt.Fprintf(stderr, "nsrun: %s: %v\n", se.Step, se.Err)
		if se.Hint != "" {
			fmt.Fprintf(stderr, "nsrun: %s\n", se.Hint)
		}
		return exitFailed
	}
	var errno syscall.Errno
	var cause error = err
	if errors.As(err, &errno) {
		cause = errno
	}
	var kinds []string
	for _, t := range ns.Types() {
		kinds = append(kinds, t.String())
	}
	if len(kinds) > 0 {
		fmt.Fprintf(stderr, "nsrun: cannot create the namespaces (%s): %v\n", strings.Join(kinds, ", "), cause)
	} else {
		fmt.Fprintf(stderr, "nsrun: cannot start: %v\n", err)
	}
	denied := errors.Is(err, namespace.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
	var hint string
	switch {
	case denied && !c.userNS():
		hint = "creating namespaces needs CAP_SYS_ADMIN: run as root, or add -r (a user namespace in which you are root)"
	case denied:
		hint = "the kernel refused the user namespace: unprivileged user namespaces may be disabled; see /proc/sys/user/max_user_namespaces, /proc/sys/kernel/unprivileged_userns_clone and /proc/sys/kernel/apparmor_restrict_unprivileged_userns"
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EUSERS):
		hint = "a namespace limit was reached: see /proc/sys/user/max_*_namespaces"
	case errors.Is(err, syscall.EINVAL):
		hint = "the kernel does not support one of these namespace kinds"
	case errors.Is(err, syscall.EAGAIN):
		hint = "a process limit was reached: RLIMIT_NPROC (ulimit -u), the pids cgroup, or kernel.pid_max"
	case errors.Is(err, syscall.ENOMEM):
		hint = "out of memory"
	}
	if hint != "" {
		fmt.Fprintf(stderr, "nsrun: %s\n", hint)
	}
	return exitFailed
}
