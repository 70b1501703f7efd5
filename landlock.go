package namespace

import (
	"slices"
	"strings"
)

// A LandlockRule is a part of the child's Landlock ruleset (WithLandlock):
// what the child may do beneath some paths or on some TCP ports, or, for
// LandlockBestEffort, how strictly the ruleset is applied.
type LandlockRule struct {
	kind  landlockKind
	paths []string
	ports []uint16
}

type landlockKind uint8

const (
	landlockRO landlockKind = iota + 1
	landlockRW
	landlockExec
	landlockBind
	landlockConnect
	landlockBestEffort
)

// LandlockReadOnly allows reading and executing files and listing
// directories beneath each path (go-landlock's RODirs; a path that is a
// file allows reading and executing it).
func LandlockReadOnly(paths ...string) LandlockRule {
	return LandlockRule{kind: landlockRO, paths: slices.Clone(paths)}
}

// LandlockReadWrite allows everything Landlock controls beneath each path:
// reading, writing, truncating, creating, removing, renaming and linking
// files and directories, and device ioctls (go-landlock's RWDirs, with
// linking and renaming within the ruleset's paths).
func LandlockReadWrite(paths ...string) LandlockRule {
	return LandlockRule{kind: landlockRW, paths: slices.Clone(paths)}
}

// LandlockExecute allows executing files beneath each path, and nothing
// else: executing a script or a dynamically linked program also needs
// reading it, and its interpreter or libraries (LandlockReadOnly).
func LandlockExecute(paths ...string) LandlockRule {
	return LandlockRule{kind: landlockExec, paths: slices.Clone(paths)}
}

// LandlockBindTCP allows binding TCP sockets to each port (Landlock ABI 4,
// Linux 6.7). Given any network rule, every other TCP bind and connect is
// denied; with none, the network is not restricted by Landlock.
func LandlockBindTCP(ports ...uint16) LandlockRule {
	return LandlockRule{kind: landlockBind, ports: slices.Clone(ports)}
}

// LandlockConnectTCP allows connecting TCP sockets to each port (Landlock
// ABI 4, Linux 6.7); see LandlockBindTCP.
func LandlockConnectTCP(ports ...uint16) LandlockRule {
	return LandlockRule{kind: landlockConnect, ports: slices.Clone(ports)}
}

// LandlockBestEffort makes the ruleset degrade on an older kernel instead
// of failing: what the kernel's Landlock ABI cannot enforce (truncation
// before ABI 3, device ioctls before 5, network rules before 4, or all of
// it without Landlock) is left out, and the Namespace's logger (WithLogger)
// says what at warning level.
func LandlockBestEffort() LandlockRule { return LandlockRule{kind: landlockBestEffort} }

// landlockConfig is the ruleset WithLandlock asks for.
type landlockConfig struct {
	rules      []LandlockRule
	bestEffort bool
}

// WithLandlock confines the child, and everything it starts, with a
// Landlock ruleset (landlock(7)): beneath the paths of the rules it may do
// what they allow, and every other file system access that Landlock
// controls is denied (and every TCP bind and connect, if a network rule
// is given). Landlock needs neither privilege nor any namespace: it works
// where unprivileged user namespaces are blocked.
//
// The paths are the child's, after its mounts: the child opens them itself
// at the Landlock step, so that a path under a private /tmp is the one in
// it. A path that is not there is a *SetupError (fail closed).
//
// Strict by default: a kernel without the Landlock ABI that the rules
// need (3, Linux 6.2, for the file system rules, so that truncation is
// controlled too; 4, Linux 6.7, for network rules) is a *SetupError
// wrapping ErrUnsupported; LandlockBestEffort degrades instead. Relative
// paths are ErrInvalid. Landlock implies no_new_privs. A later WithLandlock
// replaces an earlier one.
//
// (Why not github.com/landlock-lsm/go-landlock: the raw child of
// StartProcess and Prepare cannot run Go library code after clone, and the
// Go children apply it through syscall.AllThreadsSyscall where that module
// needs libpsx; so both executors make the same four system calls,
// prepared here, themselves. docs/privileges.md has the details.)
//
// Run, Task.Run, Pool, Command, StartProcess, Prepare and Setup honour it;
// Do and Exec refuse it.
func WithLandlock(rules ...LandlockRule) Option {
	return option("WithLandlock", func(n *Namespace) {
		c := &landlockConfig{}
		for _, r := range rules {
			if r.kind == landlockBestEffort {
				c.bestEffort = true
				continue
			}
			for _, p := range r.paths {
				if !strings.HasPrefix(p, "/") {
					n.optionErrs = append(n.optionErrs, invalidf("WithLandlock: path %q is not absolute", p))
				} else if strings.IndexByte(p, 0) >= 0 {
					n.optionErrs = append(n.optionErrs, invalidf("WithLandlock: path %q contains a NUL byte", p))
				}
			}
			c.rules = append(c.rules, r)
		}
		n.priv.landlock = c
	})
}
