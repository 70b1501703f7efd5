package namespace

import (
	"os"
	"slices"
	"sync"

	"github.com/linuxns/namespace/internal/wire"
)

// Privileges and limits: the last steps of the set-up, applied after the
// mounts and the working directory, in this order (the contract's):
//
//	rlimits → new session → Landlock → capabilities → no_new_privs → seccomp
//
// so that the set-up itself is neither confined nor filtered. Each works
// without any namespace where the kernel needs none (Landlock,
// no_new_privs, seccomp, rlimits, a new session, on a plain child).
//
// Run, Task.Run, a Pool and Setup keep running Go in the child, on many
// threads: there the steps that the kernel applies to one thread
// (capabilities, Landlock, no_new_privs alone) are applied to every thread
// with syscall.AllThreadsSyscall, which the Go runtime refuses in a
// program that links cgo; such a program gets a *SetupError wrapping
// ErrUnsupported and should use Command or StartProcess (whose child
// applies them on the one thread that executes the program) or be built
// with CGO_ENABLED=0. Seccomp is installed on every thread at once
// (SECCOMP_FILTER_FLAG_TSYNC) and rlimits and sessions are the process's,
// so they work in any program.

// privConfig is what the privilege and limit options ask for.
type privConfig struct {
	noNewPrivs bool
	keepCaps   *uint64 // the capabilities to keep (bit N: capability N); nil: none dropped
	rlimits    []rlimit
	newSession bool
	noUserNS   bool
	seccomp    *seccompConfig
	landlock   *landlockConfig
	sandbox    bool // WithSandbox: its filesystem view is added by New (sandboxFS)

	// compiled: the steps, compiled once (privileges_linux.go).
	compiled struct {
		once  sync.Once
		steps []wire.Step
		errs  []error
	}
}

// rlimit is one WithRlimit.
type rlimit struct {
	resource   int
	soft, hard uint64
}

// RlimInfinity is the value of an unlimited resource limit
// (RLIM_INFINITY), for WithRlimit.
const RlimInfinity = ^uint64(0)

// rlimNames are the names of the resources, as prlimit(1) spells them,
// by RLIMIT_* number (the same on every Linux architecture that this
// package builds for except the first five on MIPS and SPARC, which it does
// not).
var rlimNames = [...]string{
	"cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile",
	"memlock", "as", "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
}

// RlimitResource returns the RLIMIT_* number of a resource named as
// prlimit(1) names it ("nofile", "nproc", "as", "cpu", "fsize", "core",
// …), or an error wrapping ErrInvalid.
func RlimitResource(name string) (int, error) {
	if i := slices.Index(rlimNames[:], name); i >= 0 {
		return i, nil
	}
	return 0, invalidf("unknown resource limit %q (known: %v)", name, rlimNames)
}

// WithNoNewPrivs sets the child's no_new_privs bit
// (PR_SET_NO_NEW_PRIVS): execve can no longer grant privileges (set-user-ID
// and set-group-ID bits and file capabilities are ignored), for the child
// and everything it starts. It needs no namespace. Run, Task.Run, Pool,
// Command, StartProcess, Prepare and Setup honour it; Do and Exec refuse
// it.
func WithNoNewPrivs() Option {
	return option("WithNoNewPrivs", func(n *Namespace) { n.priv.noNewPrivs = true })
}

// WithCapabilities drops every capability other than keep from the
// child's bounding, ambient, inheritable, permitted and effective sets;
// WithCapabilities() keeps none. The kept ones that the child holds are
// also made inheritable and ambient, so that a program it executes as a
// uid other than 0 keeps them. In a user namespace the sets are the
// child's in that namespace. Dropping from the bounding set needs
// CAP_SETPCAP there: a caller other than root combines it with
// WithPrivateUser. An unknown capability number is ErrInvalid. A later
// WithCapabilities replaces an earlier one. Run, Task.Run, Pool, Command,
// StartProcess, Prepare and Setup honour it; Do and Exec refuse it.
func WithCapabilities(keep ...Capability) Option {
	return option("WithCapabilities", func(n *Namespace) {
		var mask uint64
		for _, c := range keep {
			if c < 0 || int(c) >= len(capNames) {
				n.optionErrs = append(n.optionErrs, invalidf("WithCapabilities: unknown capability number %d (the last one is %d, %v)", int(c), len(capNames)-1, Capability(len(capNames)-1)))
				continue
			}
			mask |= 1 << c
		}
		n.priv.keepCaps = &mask
	})
}

// WithRlimit sets the child's resource limit resource (an RLIMIT_*
// number, see RlimitResource; RlimInfinity for no limit) to soft and hard,
// with prlimit(2). Raising a hard limit needs CAP_SYS_RESOURCE (in the
// initial user namespace). A later WithRlimit of the same resource
// replaces an earlier one. An unknown resource or a soft limit above the
// hard one is ErrInvalid. Run, Task.Run, Pool, Command, StartProcess,
// Prepare and Setup honour it; Do and Exec refuse it.
func WithRlimit(resource int, soft, hard uint64) Option {
	return option("WithRlimit", func(n *Namespace) {
		switch {
		case resource < 0 || resource >= len(rlimNames):
			n.optionErrs = append(n.optionErrs, invalidf("WithRlimit: unknown resource %d (RLIMIT_* is 0 to %d)", resource, len(rlimNames)-1))
			return
		case soft > hard:
			n.optionErrs = append(n.optionErrs, invalidf("WithRlimit %s: the soft limit %d is above the hard limit %d", rlimNames[resource], soft, hard))
			return
		}
		n.priv.rlimits = slices.DeleteFunc(n.priv.rlimits, func(r rlimit) bool { return r.resource == resource })
		n.priv.rlimits = append(n.priv.rlimits, rlimit{resource, soft, hard})
	})
}

// WithNewSession starts the child in a new session (setsid(2)), without
// a controlling terminal, so that it cannot push input into the caller's
// terminal with the TIOCSTI ioctl (the class of bubblewrap's
// CVE-2017-5226). The price is job control: the terminal's signals
// (Ctrl-C, Ctrl-Z) no longer reach the child, and a program that reads
// the terminal gets no job control. (Any seccomp filter of this package
// also refuses TIOCSTI, which keeps a child in the caller's session from
// injecting input; nsrun uses that for an interactive child.) Run,
// Task.Run, Pool, Command, StartProcess, Prepare and Setup honour it; Do
// and Exec refuse it.
func WithNewSession() Option {
	return option("WithNewSession", func(n *Namespace) { n.priv.newSession = true })
}

// WithoutNewSession undoes an earlier WithNewSession, such as
// WithSandbox's: the child stays in the caller's session, for job control
// on an interactive terminal (nsrun does so when its standard input is
// the terminal's foreground). The seccomp filter, if any, still refuses
// TIOCSTI. Every verb honours it.
func WithoutNewSession() Option {
	return option("WithoutNewSession", func(n *Namespace) { n.priv.newSession = false })
}

// WithoutNestedUserNamespaces keeps the child, and everything it starts,
// from creating user namespaces, so that a sandboxed program cannot regain
// capabilities over a namespace of its own (as bwrap's --disable-userns):
// the seccomp filter refuses unshare(2) and clone(2) with CLONE_NEWUSER
// (EPERM) and clone3(2) (ENOSYS, whose flags a filter cannot read; the C
// library then falls back to clone). It needs no user namespace, and it
// implies no_new_privs, as every seccomp filter. It is available where
// WithSeccomp is. Run, Task.Run, Pool, Command, StartProcess, Prepare and
// Setup honour it; Do and Exec refuse it.
func WithoutNestedUserNamespaces() Option {
	return option("WithoutNestedUserNamespaces", func(n *Namespace) { n.priv.noUserNS = true })
}

// WithSandbox asks, in one option, for what `bwrap --unshare-all
// --die-with-parent` plus the usual hardening gives, part by part:
//
//   - user, mount, PID, IPC, UTS, network and cgroup namespaces: as
//     WithPrivateUser() (the caller is root inside, unless id maps are
//     given), WithPrivateMount, WithPrivatePID, WithPrivateIPC,
//     WithPrivateUTS, WithPrivateNet (only lo, up) and WithPrivateCgroup;
//
//   - private /tmp, /proc and /dev: WithPrivateTmp, the fresh /proc of
//     the PID namespace, and WithDev (null, zero, full, random, urandom,
//     tty, pts/ptmx, shm and the fd links);
//
//   - no_new_privs: WithNoNewPrivs;
//
//   - a new session: WithNewSession;
//
//   - no nested user namespaces: WithoutNestedUserNamespaces;
//
//   - every capability dropped: WithCapabilities();
//
//   - the default seccomp filter: WithSeccomp() (DefaultDeniedSyscalls,
//     EPERM).
//
//   - a read-only view of the host in a new root, as bubblewrap's
//     --ro-bind / /: WithRoot("/") and WithReadOnlyRoot, then WithDev,
//     first, so that the filesystem options given stay as they ask (a
//     WithBind is writable); with WithRoot or WithEmptyRoot (given
//     before or after WithSandbox), the view is theirs instead, and /dev
//     is theirs to add (WithDev);
//
// The child dies with its parent whatever the options.
//
// Each part can be changed by a later option: WithCapabilities(CapNetRaw)
// keeps one capability, WithSeccomp(…) replaces the filter,
// WithPrivateUser(maps…) sets id maps, WithHostname names the host. Run,
// Task.Run, Pool, Command, StartProcess, Prepare and Setup honour it; Do
// and Exec refuse it.
func WithSandbox() Option {
	return option("WithSandbox", func(n *Namespace) {
		n.user, n.mount, n.pid, n.noProc = true, true, true, false
		n.ipc, n.uts, n.net, n.cgroup = true, true, true, true
		if n.tmp == nil {
			n.tmp = &tmpfsConfig{mode: os.ModeSticky | 0o777}
		}
		n.priv.noNewPrivs, n.priv.newSession, n.priv.noUserNS = true, true, true
		none := uint64(0)
		n.priv.keepCaps = &none
		n.priv.seccomp = &seccompConfig{}
		n.priv.sandbox = true
	})
}

// sandboxFS adds WithSandbox's filesystem view once every option is
// known: unless a root was given (WithRoot, WithEmptyRoot, before or
// after WithSandbox), a read-only view of the host in a new root, as
// bubblewrap's --ro-bind / / (WithRoot("/"), WithReadOnlyRoot) with a
// private /dev (WithDev, unless the options give one), before every
// filesystem option given, so that what those mount stays as they ask.
// In a new root the tmpfs of /dev covers nothing of the host's view: the
// device nodes are bound from the caller's /dev.
func sandboxFS(n *Namespace) {
	if !n.priv.sandbox {
		return
	}
	dev := true
	for _, op := range n.fs {
		if op.kind == fsRoot || op.kind == fsEmptyRoot {
			return
		}
		dev = dev && op.kind != fsDev
	}
	view := []fsOp{{kind: fsRoot, name: "WithSandbox", src: "/", dst: "/"}, {kind: fsReadOnlyRoot, name: "WithSandbox", dst: "/"}}
	if dev {
		view = append(view, fsOp{kind: fsDev, name: "WithSandbox", dst: "/dev"})
	}
	n.fs = append(view, n.fs...)
}

// any reports whether the options ask for any privilege or limit
// step.
func (p *privConfig) any() bool {
	return p.noNewPrivs || p.keepCaps != nil || len(p.rlimits) > 0 || p.newSession ||
		p.noUserNS || p.seccomp != nil || p.landlock != nil
}
