package namespace

// Joining existing namespaces: WithJoin and WithJoinProcess.

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/linuxns/namespace/internal/wire"
	"github.com/linuxns/namespace/syscalls"
)

// joinSpec is one WithJoin (path set) or WithJoinProcess (pid set; kinds
// 0: every kind that differs from the caller's, as nsenter --all).
type joinSpec struct {
	kinds uintptr // CLONE_NEW* flags
	path  string
	pid   int
	owner string // Handle: "PID START" of the process whose file path is (holder.go)
}

// WithJoin enters the existing namespace of kind kind whose file is at path
// (/proc/PID/ns/net, /run/netns/NAME as made by `ip netns add`, or a file
// that Handle.Pin or `unshare --net=FILE` pinned) instead of creating one
// of that kind: as nsenter --net=FILE. The file is opened by the calling
// process, in its own mount namespace, when the verb starts.
//
// The file is opened for setns(2) through /proc (the proc file system must
// be mounted there: ErrUnsupported otherwise), only once it is known to be
// a namespace file: a path that someone else can change is never opened as
// anything else.
//
// Joining and creating combine: WithJoin(syscalls.Net, f) with
// WithPrivateTmp runs in the joined network namespace and a new mount
// namespace. The kernel's order is kept: a joined user namespace is entered
// first, and the namespaces the options create are then created inside it
// (owned by it; a new PID namespace there is refused with ErrUnsupported
// when the verb starts: join the PID namespace too). A kind cannot be both
// joined and created (ErrInvalid), but for mnt: a new mount namespace is
// made on top of a joined one; nor joined twice, by two WithJoin or a
// WithJoinProcess with that kind (ErrInvalid; a WithJoinProcess without
// kinds, given once at most, leaves out the kinds the other joins name).
// Nor can a new user namespace be created beside joined ones (it would
// have no rights over them: join the user namespace too, or create the
// other kinds).
//
// Run, Task.Run, a Pool, Command, StartProcess, Prepare and Setup honour
// it for every kind: the joining is done by a raw child before the Go
// runtime of the program (or the command) starts, so user and mount
// namespaces are joined too. A joined PID namespace is the children's: the
// program (a Go child's second stage, or the command) is forked into it by
// a process that stays outside, passes signals on, exits with its status
// and takes it along when it dies. A Pool's children join when they
// start, before their job: the namespaces are entered as they are then.
// Do and Exec join the kinds that one thread can enter (mnt, uts, ipc,
// net, cgroup) and refuse user, pid and time, naming them.
func WithJoin(kind syscalls.Type, path string) Option {
	return option("WithJoin", func(n *Namespace) {
		switch {
		case !kind.Valid():
			n.optionErrs = append(n.optionErrs, invalidf("WithJoin: %v is not a namespace kind", kind))
		case !filepath.IsAbs(path):
			n.optionErrs = append(n.optionErrs, invalidf("WithJoin: the path %q of the %v namespace is not absolute", path, kind))
		default:
			n.joins = append(n.joins, joinSpec{kinds: kind.Flag(), path: path})
		}
	})
}

// WithJoinProcess enters the namespaces of kinds kinds of the running
// process pid, as nsenter -t PID with kind flags; no kinds means every
// kind of namespace in which the process differs from the caller, as
// nsenter --all, but for the kinds the other options create: those are
// new (WithHostname names a new UTS namespace, not the process's), and a
// new mount namespace is made on top of the process's. Namespaces it
// shares with the caller are left as they are. Where the kernel has
// setns(2) on a pidfd (Linux 5.8 and later) all are entered at once, by
// one system call on a pidfd opened when the verb starts (a process that
// exited by then, a zombie included, is an error, never another process's
// namespaces nor none); on older kernels one by one through
// /proc/PID/ns/*. Everything else is as for WithJoin, which says which
// verbs honour it.
func WithJoinProcess(pid int, kinds ...syscalls.Type) Option {
	return option("WithJoinProcess", func(n *Namespace) {
		if pid <= 0 {
			n.optionErrs = append(n.optionErrs, invalidf("WithJoinProcess: pid %d is not a process id", pid))
			return
		}
		var f uintptr
		for _, k := range kinds {
			if !k.Valid() {
				n.optionErrs = append(n.optionErrs, invalidf("WithJoinProcess: %v is not a namespace kind", k))
				return
			}
			f |= k.Flag()
		}
		n.joins = append(n.joins, joinSpec{kinds: f, pid: pid})
	})
}

// joinedKinds returns the kinds that the options name for joining (a
// WithJoinProcess without kinds names them all).
func (n *Namespace) joinedKinds() uintptr {
	var f uintptr
	for _, j := range n.joins {
		if j.pid != 0 && j.kinds == 0 {
			return syscalls.NamespaceFlags
		}
		f |= j.kinds
	}
	return f
}

// checkJoins returns the problems of the joins combined with what the
// options create.
func (n *Namespace) checkJoins() []error {
	if len(n.joins) == 0 {
		return nil
	}
	var errs []error
	created := n.Flags() &^ syscalls.CLONE_SYSVSEM
	explicit, twice, whole := uintptr(0), uintptr(0), 0
	for _, j := range n.joins {
		twice |= explicit & j.kinds
		explicit |= j.kinds
		if j.pid != 0 && j.kinds == 0 {
			whole++
		}
	}
	if whole > 1 {
		errs = append(errs, invalidf("WithJoinProcess without kinds is given %d times: every kind of one process's, and name the kinds of the others", whole))
	}
	if twice != 0 {
		// Which one would be entered last depends on how the joins are
		// ordered (a process's before files), not on the options' order.
		errs = append(errs, invalidf("the %v namespace is joined twice: give one of them", kindNames(twice)))
	}
	// A mount namespace may be both: a new one on top of the joined one
	// (for a private /tmp, say).
	if both := explicit & created &^ syscalls.CLONE_NEWNS; both != 0 {
		errs = append(errs, invalidf("the %v namespace is both joined and created: give one of them", kindNames(both)))
	}
	if n.user {
		errs = append(errs, invalidf("a new user namespace is created beside joined namespaces, over which it would have no rights: join the user namespace as well, or create the other kinds"))
	}
	return errs
}

// joinSteps compiles the joins into steps, in the kernel's order: a
// joined user namespace first, since it grants the rights to enter the
// others; then the processes' namespaces (all at once); then the other
// files, the mount namespace last.
func (n *Namespace) joinSteps() []wire.Step {
	var s []wire.Step
	for _, j := range n.joins {
		if j.pid == 0 && j.kinds == syscalls.User.Flag() {
			s = append(s, wire.Step{Kind: wire.StepJoin, Target: j.path, Data: j.owner, Flags: uint64(j.kinds)})
		}
	}
	for _, j := range n.joins {
		if j.pid != 0 {
			s = append(s, wire.Step{Kind: wire.StepJoinProcess, Target: strconv.Itoa(j.pid), Flags: uint64(j.kinds)})
		}
	}
	for _, k := range []syscalls.Type{syscalls.Cgroup, syscalls.IPC, syscalls.UTS, syscalls.Net, syscalls.PID, syscalls.Time, syscalls.Mount} {
		for _, j := range n.joins {
			if j.pid == 0 && j.kinds == k.Flag() {
				s = append(s, wire.Step{Kind: wire.StepJoin, Target: j.path, Data: j.owner, Flags: uint64(j.kinds)})
			}
		}
	}
	if n.user && usesSubIDs(n.idMaps) {
		s = append(s, wire.Step{Kind: wire.StepSubIDs}) // never with joins (checkJoins)
	}
	return s
}

// kindNames names the kinds of flags, e.g. "net, mnt".
func kindNames(flags uintptr) string {
	s := ""
	for _, t := range syscalls.Types() {
		if flags&t.Flag() != 0 {
			if s != "" {
				s += ", "
			}
			s += t.String()
		}
	}
	return s
}

// hasJoins reports whether steps join namespaces.
func hasJoins(steps []wire.Step) bool {
	for i := range steps {
		switch steps[i].Kind {
		case wire.StepJoin, wire.StepJoinProcess, wire.StepJoinFD:
			return true
		}
	}
	return false
}

// joinStepName names a join step.
func joinStepName(s *wire.Step) string {
	switch s.Kind {
	case wire.StepJoin, wire.StepJoinFD:
		return "join " + kindNames(uintptr(s.Flags)) + " namespace " + s.Target
	case wire.StepJoinProcess:
		k := "every namespace"
		if s.Flags != 0 {
			k = kindNames(uintptr(s.Flags)) + " namespace"
		}
		return "join " + k + " of process " + s.Target
	case wire.StepUnshare:
		return "create " + kindNames(uintptr(s.Flags)) + " namespace after the joins"
	}
	return fmt.Sprintf("step of kind %d", s.Kind)
}

// isJoinStep reports whether s joins namespaces, or creates them after the
// joins.
func isJoinStep(s *wire.Step) bool {
	switch s.Kind {
	case wire.StepJoin, wire.StepJoinProcess, wire.StepJoinFD, wire.StepUnshare:
		return true
	}
	return false
}

// joinUnhonoured returns the errors of joins that verb v cannot make:
// Do and Exec join only what one thread can enter; a Go child (Run,
// Task.Run, a Pool, Setup) whose namespaces a raw stage makes (joins,
// SubIDs) does not combine them with WithKillDescendants.
func (n *Namespace) joinUnhonoured(v verb) []error {
	var errs []error
	if n.user && usesSubIDs(n.idMaps) && n.killDescendants && v&(goChildVerbs|verbSetup) != 0 {
		errs = append(errs, &optionError{verb: v, option: "WithKillDescendants", why: "a Go child whose maps newuidmap writes makes its namespaces by a raw stage, which does not combine with it; use Command or StartProcess"})
	}
	if len(n.joins) == 0 {
		return errs
	}
	kinds := n.joinedKinds()
	switch {
	case v&(verbDo|verbExec) != 0:
		const notThread = syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWPID | syscalls.CLONE_NEWTIME
		for _, j := range n.joins {
			if j.pid != 0 && j.kinds == 0 {
				errs = append(errs, &optionError{verb: v, option: "WithJoinProcess", why: "without kinds it joins every kind, and a thread cannot enter a user, pid or time namespace: name the kinds (mnt, uts, ipc, net, cgroup)"})
				return errs
			}
		}
		if k := kinds & notThread; k != 0 {
			errs = append(errs, &optionError{verb: v, option: "WithJoin", why: "a thread of a running program cannot enter the " + kindNames(k) + " namespace; use Command or StartProcess"})
		}
	case v&(goChildVerbs|verbSetup) != 0:
		if n.killDescendants {
			errs = append(errs, &optionError{verb: v, option: "WithKillDescendants", why: "it is not combined with joined namespaces for a Go child; use Command or StartProcess"})
		}
	}
	return errs
}
