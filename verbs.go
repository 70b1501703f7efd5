package namespace

import (
	"errors"
	"strings"
)

// A verb is a method that engages a Namespace's options.
type verb uint16

const (
	verbRun verb = 1 << iota
	verbTask
	verbPool
	verbCommand
	verbStartProcess
	verbPrepare
	verbSetup
	verbExec
	verbDo
	verbEnd // one past the last verb
)

// Sets of verbs, by what they start.
const (
	// goChildVerbs run a registered function in a Go child and wait for it.
	goChildVerbs = verbRun | verbTask | verbPool
	// waitingVerbs wait for their child and stop it on cancellation.
	waitingVerbs = goChildVerbs | verbCommand
	// processVerbs start a new process in the namespaces.
	processVerbs = waitingVerbs | verbStartProcess | verbPrepare | verbSetup
	// allVerbs also counts Exec and Do, which start no process.
	allVerbs = processVerbs | verbExec | verbDo
)

func (v verb) String() string {
	var names []string
	for b, name := range []string{"Run", "Task.Run", "Pool", "Command", "StartProcess", "Prepare", "Setup", "Exec", "Do"} {
		if v&(1<<b) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// honour says which verbs honour an option, and why the others cannot.
type honour struct {
	verbs verb
	why   string
}

// optionVerbs is the table of which verbs honour each option, by the
// option's name (optionHonour). Every option is in it; a verb given an
// option outside its row refuses it (see Namespace.check), so that no
// option is silently ignored. The doc of each option says the same in
// words. An array, not a map: it is data in the binary, where a map is
// built by every process that links the package as it starts.
var optionVerbs = [...]optionRow{
	{"WithPrivateMount", honour{allVerbs, ""}},
	{"WithPrivateTmp", honour{allVerbs, ""}},
	{"WithPrivateNet", honour{allVerbs, ""}},
	{"WithPrivateIPC", honour{allVerbs, ""}},
	{"WithPrivateUTS", honour{allVerbs, ""}},
	{"WithHostname", honour{allVerbs, ""}},
	{"WithPrivateSysVSem", honour{allVerbs, ""}},
	{"WithPrivateCgroup", honour{allVerbs, ""}},
	{"WithLogger", honour{allVerbs, ""}},
	{"WithPrivatePID", honour{processVerbs, "a new PID namespace applies to new processes only"}},
	{"WithoutProc", honour{processVerbs, "it concerns the /proc of a new PID namespace, which applies to new processes only"}},
	{"WithPrivateUser", honour{processVerbs, "the kernel refuses a new user namespace in a multi-threaded process"}},
	{"WithPrivateTime", honour{processVerbs, "a new time namespace applies to new processes only"}},
	{"WithKillDescendants", honour{processVerbs, "it needs a process of its own to outlive the program and end its descendants, " +
		"and no process is started"}},
	{"WithMinimalInit", honour{verbCommand | verbStartProcess | verbPrepare, "only a command has an init put in front of it; " +
		"the child of Run, Task.Run, a Pool and Setup is PID 1 itself and reaps orphans, and Do and Exec start no process"}},
	// Privileges and limits (privileges.go).
	{"WithNoNewPrivs", honour{processVerbs, whyPrivThread}},
	{"WithCapabilities", honour{processVerbs, whyPrivThread}},
	{"WithSeccomp", honour{processVerbs, whyPrivThread}},
	{"WithLandlock", honour{processVerbs, whyPrivThread}},
	{"WithoutNestedUserNamespaces", honour{processVerbs, whyPrivThread}},
	{"WithRlimit", honour{processVerbs, "a resource limit is the whole process's, the caller's included"}},
	{"WithNewSession", honour{processVerbs, "a session is the whole process's, the caller's included"}},
	{"WithoutNewSession", honour{allVerbs, ""}},
	{"WithSandbox", honour{processVerbs, "it creates user and PID namespaces and limits the whole process"}},

	// The filesystem view (fs_options.go): Do's and Exec's thread has its
	// own mount namespace and fs_struct (unshare(CLONE_NEWNS) unshares
	// it), so its binds, tmpfs and even a new root (pivot_root changes the
	// root of the processes and threads whose root was the old root of
	// this mount namespace, which only this thread has) are the thread's.
	{"WithBind", honour{allVerbs, ""}},
	{"WithReadOnlyBind", honour{allVerbs, ""}},
	{"WithTmpfs", honour{allVerbs, ""}},
	{"WithReadOnlyRoot", honour{allVerbs, ""}},
	{"WithRoot", honour{allVerbs, ""}},
	{"WithEmptyRoot", honour{allVerbs, ""}},
	{"WithSymlink", honour{allVerbs, ""}},
	{"WithDir", honour{allVerbs, ""}},
	{"WithFile", honour{allVerbs, ""}},
	{"WithRemountReadOnly", honour{allVerbs, ""}},
	{"WithDev", honour{allVerbs, ""}},
	{"WithTmpOverlay", honour{allVerbs, ""}},
	{"WithTermChild", honour{waitingVerbs, "the verb does not wait for a child that it could stop"}},
	{"WithKillGrace", honour{waitingVerbs, "the verb does not wait for a child that it could stop"}},
	// Joining (join.go); Do and Exec refuse some kinds (joinUnhonoured).
	// A pool's children join when they start, before their job.
	{"WithJoin", honour{allVerbs, ""}},
	{"WithJoinProcess", honour{allVerbs, ""}},

	// cgroup v2 (cgroup.go): the child is born in its cgroup.
	{"WithMemoryLimit", honour{cgroupVerbs, cgroupWhy}},
	{"WithPidsLimit", honour{cgroupVerbs, cgroupWhy}},
	{"WithCPULimit", honour{cgroupVerbs, cgroupWhy}},
	{"WithCgroupParent", honour{cgroupVerbs, cgroupWhy}},
	{"WithCgroup", honour{cgroupVerbs, cgroupWhy}},
}

// optionRow is a row of optionVerbs.
type optionRow struct {
	name string
	honour
}

// optionHonour returns the row of option name in optionVerbs, and whether
// there is one.
func optionHonour(name string) (honour, bool) {
	for i := range optionVerbs {
		if optionVerbs[i].name == name {
			return optionVerbs[i].honour, true
		}
	}
	return honour{}, false
}

// whyPrivThread is why Do and Exec refuse the restrictions of a thread.
const whyPrivThread = "it would restrict one thread of the caller's process, whose other threads (where the goroutines of Do's fn run) stay unrestricted; Exec does not apply it yet"

// cgroupVerbs honour the cgroup options: they start a process that is
// born in its cgroup.
const cgroupVerbs = processVerbs

const cgroupWhy = "the child is born in its cgroup, and the verb starts no process"

// An optionError is an option given to a verb that cannot honour it.
type optionError struct {
	verb   verb
	option string
	why    string
	verbs  verb // the verbs that honour it
}

func (e *optionError) Error() string {
	return "namespace: " + e.verb.String() + " does not honour " + e.option + " (" + e.why + "): " +
		ErrUnsupported.Error() + "; " + e.option + " works with " + e.verbs.String()
}

// Unwrap returns ErrUnsupported (and errors.ErrUnsupported).
func (e *optionError) Unwrap() []error { return []error{ErrUnsupported, errors.ErrUnsupported} }

// unhonoured returns an error for each option given to n that v does not
// honour, in the order the options were given.
func (n *Namespace) unhonoured(v verb) []error {
	var errs []error
	for _, name := range n.given {
		if h, _ := optionHonour(name); h.verbs&v == 0 {
			errs = append(errs, &optionError{verb: v, option: name, why: h.why, verbs: h.verbs})
		}
	}
	return errs
}

// check is what every verb calls before it creates anything: the problems
// of Validate and the options that v does not honour, joined, or nil.
func (n *Namespace) check(v verb) error {
	errs := n.unhonoured(v)
	errs = append(errs, n.joinUnhonoured(v)...)
	if err := n.Validate(); err != nil {
		errs = append([]error{err}, errs...)
	}
	return errors.Join(errs...)
}
