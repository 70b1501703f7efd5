//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/linuxns/namespace"
)

// privFlags are the flags of privileges, limits and the environment
// (docs/cli.md maps each to bubblewrap's, nsjail's, prlimit's or
// unshare's).
type privFlags struct {
	noNewPrivs, seccompDefault, newSession bool
	disableUserns, sandbox, clearEnv       bool

	capKeep                              []string
	seccompDeny                          []string
	landlockRO, landlockRW, landlockExec []string
	landlockConnect                      []uint
	landlockBestEffort                   bool
	rlimits                              []string
	keepEnv, setenv, unsetenv            []string
}

// privUsage is the help of the flags of privFlags.
const privUsage = `Privileges and limits (applied last, in this order: rlimits, session,
Landlock, capabilities, no_new_privs, seccomp):
      --sandbox           user, mount, PID, IPC, UTS, network and cgroup
                          namespaces, the host read-only, private /tmp,
                          /proc and /dev, no_new_privs, a new session (unless
                          interactive), no nested user namespaces, no
                          capabilities, the default seccomp filter; later
                          flags change the parts
      --no-new-privs      set no_new_privs: execve grants no privilege
      --cap-keep CAP      drop every capability but CAP (repeatable; none:
                          drop all)
      --seccomp-deny LIST deny the system calls of LIST (comma-separated)
                          with EPERM
      --seccomp-default   deny the default list (see the documentation)
      --landlock-ro PATH  Landlock: PATH may be read and executed; every
                          other path is denied (repeatable)
      --landlock-rw PATH  Landlock: PATH may be read and written (repeatable)
      --landlock-exec PATH
                          Landlock: files under PATH may be executed
      --landlock-connect PORT
                          Landlock: TCP connect to PORT only (repeatable)
      --landlock-best-effort Landlock: enforce what this kernel's ABI
                          can, log the rest (default: refuse to run)
      --rlimit NAME=SOFT[:HARD]
                          resource limit, as prlimit(1) names it: nofile,
                          nproc, as, cpu, fsize, core...; unlimited allowed
      --new-session       start COMMAND in a new session (no TIOCSTI into
                          the terminal; no job control)
      --disable-userns    COMMAND cannot create user namespaces
      --clear-env         start COMMAND with an empty environment
      --keep-env VAR      keep VAR from the environment (implies --clear-env)
      --setenv VAR=VALUE  set VAR in COMMAND's environment
      --unsetenv VAR      remove VAR from COMMAND's environment

`

// addPrivFlags defines the flags of p on fs.
func addPrivFlags(fs *cliFlags, p *privFlags) {
	fs.BoolVar(&p.sandbox, "sandbox", false, "namespaces and hardening in one flag")
	fs.BoolVar(&p.noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fs.Var((*listValue)(&p.capKeep), "cap-keep", "keep only this capability (none: drop all)")
	fs.Var((*commaList)(&p.seccompDeny), "seccomp-deny", "deny these system calls")
	fs.BoolVar(&p.seccompDefault, "seccomp-default", false, "deny the default system calls")
	fs.Var((*listValue)(&p.landlockRO), "landlock-ro", "Landlock: read-only path")
	fs.Var((*listValue)(&p.landlockRW), "landlock-rw", "Landlock: read-write path")
	fs.Var((*listValue)(&p.landlockExec), "landlock-exec", "Landlock: executable path")
	fs.Var((*portList)(&p.landlockConnect), "landlock-connect", "Landlock: TCP port to connect to")
	fs.BoolVar(&p.landlockBestEffort, "landlock-best-effort", false, "Landlock: enforce what the kernel can, log the rest")
	fs.Var((*listValue)(&p.rlimits), "rlimit", "resource limit NAME=SOFT[:HARD]")
	fs.BoolVar(&p.newSession, "new-session", false, "new session")
	fs.BoolVar(&p.disableUserns, "disable-userns", false, "no nested user namespaces")
	fs.BoolVar(&p.clearEnv, "clear-env", false, "empty environment")
	fs.Var((*listValue)(&p.keepEnv), "keep-env", "keep this variable")
	fs.Var((*listValue)(&p.setenv), "setenv", "set VAR=VALUE")
	fs.Var((*listValue)(&p.unsetenv), "unsetenv", "remove this variable")
}

// needsProcess reports whether a flag needs a process of its own (the
// library's Exec applies none of them).
func (p *privFlags) needsProcess() bool {
	return p.sandbox || p.noNewPrivs || p.capKeep != nil || p.seccompDeny != nil || p.seccompDefault ||
		p.landlockRO != nil || p.landlockRW != nil || p.landlockExec != nil || p.landlockConnect != nil ||
		p.rlimits != nil || p.newSession || p.disableUserns
}

// options returns the library's options for the flags. interactive: the
// command gets the terminal's foreground, so --sandbox keeps it in
// nsrun's session for job control (the seccomp filter refuses TIOCSTI).
func (p *privFlags) options(interactive bool) ([]namespace.Option, error) {
	var opts []namespace.Option
	if p.sandbox {
		opts = append(opts, namespace.WithSandbox())
		if interactive && !p.newSession {
			opts = append(opts, namespace.WithoutNewSession())
		}
	}
	for _, r := range p.rlimits {
		o, err := parseRlimit(r)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	if p.newSession {
		opts = append(opts, namespace.WithNewSession())
	}
	if p.landlockRO != nil || p.landlockRW != nil || p.landlockExec != nil || p.landlockConnect != nil {
		var rules []namespace.LandlockRule
		for _, l := range []struct {
			paths []string
			rule  func(...string) namespace.LandlockRule
		}{{p.landlockRO, namespace.LandlockReadOnly}, {p.landlockRW, namespace.LandlockReadWrite}, {p.landlockExec, namespace.LandlockExecute}} {
			if l.paths == nil {
				continue
			}
			abs := make([]string, len(l.paths))
			for i, path := range l.paths {
				var err error
				if abs[i], err = filepath.Abs(path); err != nil {
					return nil, usageErrorf("Landlock path %q: %v", path, err)
				}
			}
			rules = append(rules, l.rule(abs...))
		}
		if p.landlockConnect != nil {
			var ports []uint16
			for _, port := range p.landlockConnect {
				if port > 65535 {
					return nil, usageErrorf("--landlock-connect %d: not a TCP port", port)
				}
				ports = append(ports, uint16(port))
			}
			rules = append(rules, namespace.LandlockConnectTCP(ports...))
		}
		if p.landlockBestEffort {
			rules = append(rules, namespace.LandlockBestEffort())
		}
		opts = append(opts, namespace.WithLandlock(rules...))
	}
	if p.capKeep != nil {
		var keep []namespace.Capability
		for _, name := range p.capKeep {
			if name == "none" {
				continue
			}
			c, err := namespace.ParseCapability(name)
			if err != nil {
				return nil, usageErrorf("--cap-keep: %v", err)
			}
			keep = append(keep, c)
		}
		opts = append(opts, namespace.WithCapabilities(keep...))
	}
	if p.noNewPrivs {
		opts = append(opts, namespace.WithNoNewPrivs())
	}
	if p.seccompDeny != nil || p.seccompDefault {
		var names []string
		if p.seccompDefault {
			names = namespace.DefaultDeniedSyscalls()
		}
		opts = append(opts, namespace.WithSeccomp(namespace.SeccompDeny(append(names, p.seccompDeny...)...)))
	}
	if p.disableUserns {
		opts = append(opts, namespace.WithoutNestedUserNamespaces())
	}
	return opts, nil
}

// parseRlimit parses NAME=SOFT[:HARD] (HARD defaults to SOFT; "unlimited"
// or "infinity" for no limit).
func parseRlimit(s string) (namespace.Option, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return nil, usageErrorf("--rlimit %q: want NAME=SOFT[:HARD]", s)
	}
	res, err := namespace.RlimitResource(strings.ToLower(name))
	if err != nil {
		return nil, usageErrorf("--rlimit: %v", err)
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	if !hasHard {
		hardS = softS
	}
	num := func(v string) (uint64, error) {
		if v == "unlimited" || v == "infinity" {
			return namespace.RlimInfinity, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, usageErrorf("--rlimit %q: %q is not a number or unlimited", s, v)
		}
		return n, nil
	}
	soft, err := num(softS)
	if err != nil {
		return nil, err
	}
	hard, err := num(hardS)
	if err != nil {
		return nil, err
	}
	return namespace.WithRlimit(res, soft, hard), nil
}

// environ returns COMMAND's environment from base (nsrun's), or nil for
// base unchanged: --clear-env (or --keep-env) empties it but for the kept
// variables, then --setenv and --unsetenv apply.
func (p *privFlags) environ(base []string) ([]string, error) {
	if !p.clearEnv && p.keepEnv == nil && p.setenv == nil && p.unsetenv == nil {
		return nil, nil
	}
	env := slices.Clone(base)
	if p.clearEnv || p.keepEnv != nil {
		env = slices.DeleteFunc(env, func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return !slices.Contains(p.keepEnv, k)
		})
	}
	drop := func(k string) {
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
	}
	for _, kv := range p.setenv {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--setenv %q: want VAR=VALUE", kv)
		}
		drop(k)
		env = append(env, kv)
	}
	for _, k := range p.unsetenv {
		drop(k)
	}
	if env == nil {
		env = []string{}
	}
	return env, nil
}

// interactive reports whether COMMAND would get the terminal's foreground
// (see openTerminal).
func interactive(stdin, stdout *os.File) bool { return isForeground(stdin) && isTerminal(stdout) }
