// Package namespace puts Go functions and commands into new Linux namespaces.
//
// It is a Go port of the Perl modules Sys::Linux::Namespace and Linux::Clone.
// A Namespace collects options (New, With…) and engages nothing until one of
// its methods runs:
//
//   - Run, Task.Run and Command start a child process in the new namespaces.
//     The program re-executes itself (/proc/self/exe) through os/exec; the
//     child performs the in-namespace set-up (a private mount table, a fresh
//     /tmp and /proc, a hostname, the loopback interface) and then runs a
//     registered Go function or executes a command.
//   - Pool keeps children ready, set up in fresh namespaces, so that a Run
//     on it only hands the job over; Close ends it.
//   - StartProcess starts a program with no Go child: one process is cloned
//     into the namespaces, does the same set-up with raw system calls and
//     executes the program (the fastest way to run a command inside).
//   - Setup moves the rest of the whole program into the namespaces, by the
//     same re-execution at start-up.
//   - Do runs a function on one throw-away OS thread that unshares the
//     thread-scoped namespaces, without a new process.
//
// # Why a child process
//
// Namespaces belong to a thread, and a Go program has many. unshare(2) of a
// mount namespace from Go changes only the calling thread; unsharing a user
// namespace fails with EINVAL in any multi-threaded process; a new PID
// namespace applies only to children. Perl could clone(2) and keep running
// Perl; Go cannot fork and keep running Go. So this package re-executes the
// program: every thread of the child is created inside the namespaces.
//
// A program that uses Run or Task must call Init as the first statement of
// main (or TestMain), and must Register its functions at package level, so
// that the re-executed child finds them:
//
//	var hello = namespace.Register("hello", func(ctx context.Context, args []string) error {
//		fmt.Println("pid in the new namespace:", os.Getpid())
//		return nil
//	})
//
//	func main() {
//		namespace.Init()
//		ns := namespace.New(namespace.WithPrivatePID(), namespace.WithPrivateTmp())
//		if err := ns.Run(context.Background(), hello); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// Command, StartProcess and Setup work without Init.
//
// # Guarantees
//
// If a namespace cannot be created nothing is mounted and nothing of the host
// changes; the error says why and what to do (see ErrPermission and friends).
// The root mount is made recursively private before any mount, so nothing
// propagates back to the host. A child's error, panic, exit status or killing
// signal comes back as an *ExitError. While Run waits, SIGINT, SIGTERM,
// SIGHUP and SIGQUIT to the parent, and cancellation of its context, stop the
// child (SIGTERM, then SIGKILL after WithKillGrace); the child dies with its
// parent; a child that is PID 1 reaps orphans.
//
// # Working directory
//
// With a mount namespace of its own, a child (or Do's and Exec's thread)
// enters its working directory again by its path once the mounts are made:
// with WithPrivateTmp, a directory under /tmp is the one in the private
// /tmp, never the host's, so that relative paths stay inside. The path is
// read (getcwd) before the mounts. A directory asked for explicitly
// (os.ProcAttr.Dir) that does not exist inside is a *SetupError of step
// "enter working directory" naming it; an inherited one, the caller's,
// falls back to / (as with bubblewrap). A private /tmp is empty, so only
// /tmp itself is found again there.
package namespace

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/linuxns/namespace/internal/wire"
	"github.com/linuxns/namespace/syscalls"
)

// Namespace describes a set of namespaces to create and the set-up to perform
// inside them. It is made by New and is safe for concurrent use by multiple
// goroutines once made: every verb (Run, Command, StartProcess, Setup, Do,
// …) creates fresh namespaces of its own.
type Namespace struct {
	mount      bool
	tmp        *tmpfsConfig
	pid        bool
	noProc     bool
	net        bool
	ipc        bool
	uts        bool
	hostname   *string
	user       bool
	idMaps     []IDMap
	sysvsem    bool
	cgroup     bool
	time       bool
	monotonic  time.Duration
	boottime   time.Duration
	termChild  bool
	killGrace  time.Duration
	logger     *slog.Logger
	initProc   bool
	optionErrs []error
	given      []string // the names of the options given, in order (see optionVerbs)

	killDescendants bool // WithKillDescendants

	fs    []fsOp     // the filesystem view, in order (fs_options.go)
	priv  privConfig // privileges and limits (privileges.go)
	joins []joinSpec // WithJoin, WithJoinProcess (join.go)

	cg *cgroupConfig // the cgroup v2 options (cgroup.go), or nil

	// compiled is the set-up that the options ask for, compiled once, at
	// the first verb (plan_linux.go).
	compiled struct {
		once  sync.Once
		steps []wire.Step
	}
}

// DefaultKillGrace is how long a child has between SIGTERM and SIGKILL when
// Run is interrupted, as in Sys::Linux::Namespace.
const DefaultKillGrace = 200 * time.Millisecond

// New returns a Namespace with the given options. It collects the options and
// engages nothing: no process, namespace or mount is created until a verb
// (Run, Task.Run, Pool, Command, StartProcess, Prepare, Setup, Exec or Do)
// is called. Invalid options, and options the verb cannot honour, are
// reported by the verb, before anything is created.
func New(opts ...Option) *Namespace {
	n := &Namespace{termChild: true, killGrace: DefaultKillGrace}
	for _, o := range opts {
		if o == nil {
			continue
		}
		o.apply(n)
	}
	sandboxFS(n) // WithSandbox's view, once every option is known (privileges.go)
	return n
}

// Flags returns the set of syscalls.CLONE_* flags that the namespace creates:
// the CLONE_NEW* flag of each namespace kind, plus CLONE_SYSVSEM when
// WithPrivateSysVSem was given.
func (n *Namespace) Flags() uintptr {
	var f uintptr
	for _, c := range []struct {
		on   bool
		flag uintptr
	}{
		{n.needsMountNS(), syscalls.CLONE_NEWNS},
		{n.pid, syscalls.CLONE_NEWPID},
		{n.net, syscalls.CLONE_NEWNET},
		{n.ipc, syscalls.CLONE_NEWIPC},
		{n.user, syscalls.CLONE_NEWUSER},
		{n.uts || n.hostname != nil, syscalls.CLONE_NEWUTS},
		{n.cgroup, syscalls.CLONE_NEWCGROUP},
		{n.time, syscalls.CLONE_NEWTIME},
		{n.sysvsem, syscalls.CLONE_SYSVSEM},
	} {
		if c.on {
			f |= c.flag
		}
	}
	return f
}

// needsMountNS reports whether a mount namespace is part of the plan: asked
// for, or implied by a private /tmp or by a fresh /proc for a PID namespace.
func (n *Namespace) needsMountNS() bool {
	return n.mount || n.tmp != nil || (n.pid && !n.noProc) || len(n.fs) > 0
}

// mountsProc reports whether a fresh /proc is mounted in the child.
func (n *Namespace) mountsProc() bool { return n.pid && !n.noProc }

// Types returns the namespace kinds that the Namespace creates, in creation
// order.
func (n *Namespace) Types() []syscalls.Type {
	return syscalls.TypesOf(n.Flags() &^ syscalls.CLONE_SYSVSEM)
}

// String describes the namespace kinds, e.g. "namespace{user,mnt,pid}".
func (n *Namespace) String() string {
	s := "namespace{"
	for i, t := range n.Types() {
		if i > 0 {
			s += ","
		}
		s += t.String()
	}
	return s + "}"
}

// Validate checks the options together, creating nothing, and returns nil
// if they are consistent. Otherwise it returns every problem it found,
// joined by errors.Join (one line each in Error; errors.Is and errors.As
// see each one). Each problem wraps ErrInvalid: a malformed hostname,
// TmpfsSize, TmpfsMode, TmpfsInodes or IDMap, id maps without
// WithPrivateUser, overlapping id maps or more than the kernel's 340, a
// time offset that would make a clock negative or pass the kernel's limit
// (read from the clocks now), a negative WithKillGrace, WithMinimalInit
// without WithPrivatePID. The exceptions: an id map that the caller may
// not write, judged by its effective uid and gid now (a caller other than
// root may map only its own uid and gid, once each), and SubIDs() for a
// user without a name or without ranges, wrap ErrPermission instead;
// SubIDs() without newuidmap or newgidmap installed, and a privilege
// option the kernel cannot enforce as asked (a Landlock ruleset its ABI
// cannot enforce, a seccomp filter for an architecture without a system
// call table), wrap ErrUnsupported.
//
// Every verb calls Validate before it creates anything, and joins to its
// result the options that it cannot honour (ErrUnsupported, see Option),
// which Validate, knowing no verb, does not report. It is exported so that
// callers can check a configuration early (for example at start-up).
func (n *Namespace) Validate() error {
	errs := append([]error(nil), n.optionErrs...)
	if n.hostname != nil {
		if err := checkHostname(*n.hostname); err != nil {
			errs = append(errs, err)
		}
	}
	if n.tmp != nil {
		errs = append(errs, n.tmp.check()...)
	}
	errs = append(errs, n.checkFS()...)
	if len(n.idMaps) > 0 && !n.user {
		errs = append(errs, invalidf("id maps given without a user namespace"))
	}
	if n.user && usesSubIDs(n.idMaps) {
		if err := checkSubIDs(n.idMaps); err != nil {
			errs = append(errs, err)
		}
	} else if n.user {
		if err := checkIDMaps(n.idMaps, os.Geteuid(), os.Getegid()); err != nil {
			errs = append(errs, err)
		}
	}
	if n.time {
		if err := checkTimeOffsets(n.monotonic, n.boottime); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, n.checkJoins()...)
	errs = append(errs, n.cg.check()...)
	if n.killGrace < 0 {
		errs = append(errs, invalidf("kill grace %v is negative", n.killGrace))
	}
	errs = append(errs, n.privErrors()...)
	if n.initProc && !n.pid {
		errs = append(errs, invalidf("WithMinimalInit needs WithPrivatePID: only PID 1 of a new PID namespace is an init"))
	}
	return errors.Join(errs...)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// HostNameMax is the longest hostname Linux accepts, in bytes.
const HostNameMax = 64

// checkHostname accepts RFC 1123 host names: labels of ASCII letters, digits
// and hyphens, separated by dots, at most HostNameMax bytes in all.
func checkHostname(h string) error {
	if h == "" {
		return invalidf("hostname is empty; omit WithHostname to keep the inherited one")
	}
	if len(h) > HostNameMax {
		return invalidf("hostname is %d bytes; Linux allows at most %d", len(h), HostNameMax)
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if label == 0 {
				return invalidf("hostname %q has an empty label", h)
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return invalidf("hostname %q has a label that starts with '-'", h)
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			return invalidf("hostname %q has character %q at byte %d; use letters, digits, '-' and '.' (punycode for other scripts)", h, rune(c), i)
		}
		label++
		if label > 63 {
			return invalidf("hostname %q has a label longer than 63 bytes", h)
		}
	}
	if label == 0 {
		return invalidf("hostname %q ends with '.'", h)
	}
	if h[len(h)-1] == '-' {
		return invalidf("hostname %q ends with '-'", h)
	}
	return nil
}
