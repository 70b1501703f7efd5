package namespace

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"
)

// An Option configures a Namespace. Options are made by the With…
// functions.
//
// Each option says which verbs honour it. The verbs are Run, Task.Run,
// Pool (and the Runs on it), Command, StartProcess, Prepare, Setup, Exec
// and Do. A verb given an option that it cannot honour returns, before it
// creates anything, an error that wraps ErrUnsupported and names the verb
// and the option (Command's in Cmd.Err); no option is silently ignored.
type Option interface {
	apply(*Namespace)
}

// namedOption is an option that records its name in the Namespace, so
// that each verb can refuse the options it cannot honour (optionVerbs).
type namedOption struct {
	name string
	set  func(*Namespace)
}

func (o namedOption) apply(n *Namespace) {
	o.set(n)
	if !slices.Contains(n.given, o.name) {
		n.given = append(n.given, o.name)
	}
}

// option returns the option called name that applies set.
func option(name string, set func(*Namespace)) Option { return namedOption{name, set} }

// WithPrivateMount creates a new mount namespace (Perl: private_mount). The
// root mount is made recursively private (MS_REC|MS_PRIVATE) before anything
// else, so that no mount made inside propagates to the host. Every verb
// honours it.
func WithPrivateMount() Option {
	return option("WithPrivateMount", func(n *Namespace) { n.mount = true })
}

// WithPrivateTmp mounts a fresh tmpfs on /tmp (Perl: private_tmp), in a new
// mount namespace. The tmpfs is mounted nosuid,nodev with mode 1777 unless
// TmpfsMode says otherwise; TmpfsSize and TmpfsInodes limit it. A working
// directory under /tmp is looked up in the private /tmp (see "Working
// directory" in the package documentation): only /tmp itself is there.
// Every verb honours it.
func WithPrivateTmp(opts ...TmpfsOption) Option {
	return option("WithPrivateTmp", func(n *Namespace) {
		t := &tmpfsConfig{mode: os.ModeSticky | 0o777}
		for _, o := range opts {
			if o != nil {
				o(t)
			}
		}
		n.tmp = t
	})
}

// A TmpfsOption tunes the tmpfs of WithPrivateTmp.
type TmpfsOption func(*tmpfsConfig)

type tmpfsConfig struct {
	size   int64
	inodes int64
	mode   os.FileMode
	errs   []error
}

// TmpfsSize limits the private /tmp to size bytes (tmpfs "size="). Zero
// means the kernel's default, half of the RAM.
func TmpfsSize(bytes int64) TmpfsOption {
	return func(t *tmpfsConfig) {
		if bytes < 0 {
			t.errs = append(t.errs, invalidf("tmpfs size %d is negative", bytes))
			return
		}
		t.size = bytes
	}
}

// TmpfsMode sets the permissions of the private /tmp's root directory
// (tmpfs "mode="); the default is 1777 (os.ModeSticky|0o777). Only the
// permission bits and os.ModeSticky, os.ModeSetuid and os.ModeSetgid are
// allowed.
func TmpfsMode(mode os.FileMode) TmpfsOption {
	return func(t *tmpfsConfig) {
		if mode&^(os.ModePerm|os.ModeSticky|os.ModeSetuid|os.ModeSetgid) != 0 {
			t.errs = append(t.errs, invalidf("tmpfs mode %v has bits other than permissions, sticky, setuid and setgid", mode))
			return
		}
		t.mode = mode
	}
}

// TmpfsInodes limits the number of inodes of the private /tmp (tmpfs
// "nr_inodes="). Zero means the kernel's default. The kernel accepts at most
// 2^54-1 (ULONG_MAX/1024 of a 64-bit kernel).
func TmpfsInodes(n int64) TmpfsOption {
	return func(t *tmpfsConfig) {
		if n < 0 {
			t.errs = append(t.errs, invalidf("tmpfs inode limit %d is negative", n))
			return
		}
		if n > maxTmpfsInodes {
			t.errs = append(t.errs, invalidf("tmpfs inode limit %d exceeds the kernel's %d", n, int64(maxTmpfsInodes)))
			return
		}
		t.inodes = n
	}
}

// maxTmpfsInodes is the largest inode limit tmpfs accepts on a 64-bit
// kernel (ULONG_MAX / 1024).
const maxTmpfsInodes = 1<<54 - 1

func (t *tmpfsConfig) check() []error { return t.errs }

// data returns the tmpfs mount data string, e.g. "mode=1777,size=1048576".
func (t *tmpfsConfig) data() string {
	perm := uint32(t.mode.Perm())
	if t.mode&os.ModeSticky != 0 {
		perm |= 0o1000
	}
	if t.mode&os.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if t.mode&os.ModeSetuid != 0 {
		perm |= 0o4000
	}
	s := fmt.Sprintf("mode=%04o", perm)
	if t.size > 0 {
		s += fmt.Sprintf(",size=%d", t.size)
	}
	if t.inodes > 0 {
		s += fmt.Sprintf(",nr_inodes=%d", t.inodes)
	}
	return s
}

// WithPrivatePID creates a new PID namespace (Perl: private_pid): the child
// is PID 1 and sees only its own descendants. A fresh /proc is mounted in a
// new mount namespace unless WithoutProc is given. A Go child (Run,
// Task.Run, Pool, Setup) reaps orphaned processes as PID 1; a command
// (Command, StartProcess, Prepare) is PID 1 itself and reaps only if it
// does so itself (WithMinimalInit puts an init in front of it that does).
// When PID 1 exits, the kernel kills the whole namespace,
// so every process that the child started ends with it, however the child
// ends (its parent's death included). Every verb that starts a process
// honours it (Run, Task.Run, Pool, Command, StartProcess, Prepare, Setup);
// Do and Exec refuse it: a new PID namespace applies to new processes only.
//
// Without a PID namespace that is not so: the child dies with its parent
// (it gets SIGKILL as its parent-death signal), but the processes it
// started are re-parented and live on, a daemon or a `setsid cmd &` among
// them. WithKillDescendants ends them without a PID namespace.
func WithPrivatePID() Option {
	return option("WithPrivatePID", func(n *Namespace) { n.pid = true })
}

// WithKillDescendants makes every process that the child starts end with
// it, without a PID namespace: when the child ends (it exits, or it is
// killed) or its parent dies, each of its descendants that is still running
// gets SIGKILL and is reaped, detached ones (setsid, double fork) included.
//
// A small supervisor that runs no Go code stands in front of the child: a
// child subreaper (PR_SET_CHILD_SUBREAPER), to which the orphans of the
// child's descendants are re-parented, whose parent-death signal it catches
// so that it outlives its parent long enough to kill its descendants
// (found in /proc/thread-self/children) and reap them. It sends the signals
// it receives on to the child and exits with the child's status, 128+N if
// signal N killed it (as WithMinimalInit does).
//
// Run, Task.Run, Pool and Setup honour it by executing the child program
// once more under the supervisor (but not combined with WithJoin,
// WithJoinProcess or WithPrivateUser(SubIDs()), whose namespaces a raw
// stage makes: ErrUnsupported, use Command or StartProcess; no verb takes
// it with a joined PID namespace, whose PID 1 ends them all); Command and
// StartProcess (and Prepare) run the command under it. With StartProcess
// the returned process is a second raw process in front of the supervisor,
// which passes signals on: SIGKILL sent to it (Process.Kill) ends the
// program and its descendants too. Do and Exec start no process and refuse it
// (ErrUnsupported). With WithPrivatePID it adds nothing: the end of the
// namespace ends them all already.
//
// The descendants are found through /proc: the supervisor fails to start
// (a *SetupError) if /proc/thread-self/children cannot be read.
func WithKillDescendants() Option {
	return option("WithKillDescendants", func(n *Namespace) { n.killDescendants = true })
}

// WithoutProc keeps the inherited /proc in a new PID namespace (Perl:
// no_proc). Without a PID namespace it has no effect. The verbs that honour
// WithPrivatePID honour it; Do and Exec refuse it.
func WithoutProc() Option {
	return option("WithoutProc", func(n *Namespace) { n.noProc = true })
}

// WithPrivateNet creates a new network namespace (Perl: private_net) and
// brings its loopback interface up, so that 127.0.0.1 and ::1 work inside.
// It has no other interface. Every verb honours it.
func WithPrivateNet() Option {
	return option("WithPrivateNet", func(n *Namespace) { n.net = true })
}

// WithPrivateIPC creates a new IPC namespace (Perl: private_ipc): System V
// IPC objects and POSIX message queues of the host are not visible. Every
// verb honours it.
func WithPrivateIPC() Option {
	return option("WithPrivateIPC", func(n *Namespace) { n.ipc = true })
}

// WithPrivateUTS creates a new UTS namespace (Perl: private_uts): the host
// name and NIS domain name can be changed without affecting the host.
// Every verb honours it.
func WithPrivateUTS() Option {
	return option("WithPrivateUTS", func(n *Namespace) { n.uts = true })
}

// WithHostname creates a new UTS namespace and sets its host name. The name
// must be a valid RFC 1123 host name of at most HostNameMax bytes. Every
// verb honours it.
func WithHostname(name string) Option {
	return option("WithHostname", func(n *Namespace) { n.uts = true; n.hostname = &name })
}

// WithPrivateUser creates a new user namespace (Perl: private_user). The
// other namespaces are created inside it and owned by it, which lets an
// unprivileged user create them.
//
// Without maps, the caller's effective uid and gid become 0 inside (also when
// the caller is an unprivileged user). An unprivileged caller can map only
// its own uid and gid, one each; root can map any ranges. setgroups(2) is
// denied inside unless the caller is root in a user namespace that allows it
// (one made by an unprivileged user denies it, and so do all nested in it).
//
// Every verb that starts a process honours it (Run, Task.Run, Pool,
// Command, StartProcess, Prepare, Setup); Do and Exec refuse it: the kernel
// refuses a new user namespace in a multi-threaded process.
func WithPrivateUser(maps ...IDMap) Option {
	return option("WithPrivateUser", func(n *Namespace) {
		n.user = true
		n.idMaps = append(n.idMaps, maps...)
	})
}

// WithPrivateSysVSem gives the child its own list of System V semaphore
// adjustments (Perl: private_sysvsem, clone flag CLONE_SYSVSEM). A child
// process started by Run, Task or Command never shares the list with its
// parent in any case (Perl's clone(CLONE_SYSVSEM) in fact shared it); in Do
// and Exec the thread unshares its list. It adds CLONE_SYSVSEM to Flags.
// Every verb honours it.
func WithPrivateSysVSem() Option {
	return option("WithPrivateSysVSem", func(n *Namespace) { n.sysvsem = true })
}

// WithPrivateCgroup creates a new cgroup namespace: the child's current
// cgroup becomes the root of its view of /proc/self/cgroup. Every verb
// honours it.
func WithPrivateCgroup() Option {
	return option("WithPrivateCgroup", func(n *Namespace) { n.cgroup = true })
}

// WithPrivateTime creates a new time namespace whose CLOCK_MONOTONIC and
// CLOCK_BOOTTIME are shifted by the given offsets (zero for none); the
// wall clock is not affected. A negative offset must not make a clock
// negative, nor a positive one take it past the kernel's limit (about 146
// years). Every verb that starts a process honours it (Run, Task.Run,
// Pool, Command, StartProcess, Prepare, Setup); Do and Exec refuse it: a
// new time namespace applies to new processes only. Run, Task.Run, Pool
// and Setup need one extra re-execution of the child for it (the offsets
// can only be set before the first process enters the namespace). Before
// Linux 6.3, where only a fork enters a time namespace, the program runs
// behind one more process, a relay that passes signals on and exits with
// its status (docs/kernels.md).
func WithPrivateTime(monotonic, boottime time.Duration) Option {
	return option("WithPrivateTime", func(n *Namespace) {
		n.time = true
		n.monotonic = monotonic
		n.boottime = boottime
	})
}

// WithTermChild sets whether signals to the parent and cancellation stop the
// child gracefully (Perl: term_child; default true). When true, SIGINT,
// SIGTERM, SIGHUP and SIGQUIT delivered to the process while Run waits are
// caught and the child gets SIGTERM, then SIGKILL after the kill grace.
// When false, those signals are left alone and cancellation of the context
// kills the child at once.
//
// The signals are caught once for the whole process while any Run with
// WithTermChild is live, however many there are, and let go when the last
// one ends; an open, idle Pool holds nothing. A signal that arrives while
// no Run is live is the program's, as if the package were not there: its
// own signal.Notify channel gets it once, or the default action takes
// place. One that arrives while a Run is live stops that Run's child and
// also reaches any channel of the program's own; Run then returns an error
// for which errors.Is(err, ErrInterrupted) holds. So a program that starts
// Runs one after another is not ended by SIGTERM or SIGINT (nearly every
// one lands while a Run is live): it must stop when a Run says
// ErrInterrupted, or catch the signals itself. Catching and letting go
// costs a round trip to a runtime thread per signal, paid again by a Run
// that finds no other live; WithTermChild(false) does without it.
//
// Run, Task.Run, Pool and Command honour it (Command through the Cmd's
// Cancel; its WaitDelay is the caller's to set); the other verbs refuse it:
// Setup forwards signals to the program instead, and StartProcess, Prepare,
// Exec and Do do not wait for a child.
func WithTermChild(on bool) Option {
	return option("WithTermChild", func(n *Namespace) { n.termChild = on })
}

// WithKillGrace sets how long a child has between SIGTERM and SIGKILL
// (default DefaultKillGrace, 200ms). A child that exits by itself costs no
// delay. The verbs that honour WithTermChild honour it, and the others
// refuse it.
func WithKillGrace(d time.Duration) Option {
	return option("WithKillGrace", func(n *Namespace) { n.killGrace = d })
}

// WithLogger logs each step (flags, mounts, pids, signals) at debug level,
// in the parent and in the child (Perl: $Sys::Linux::Namespace::debug). The
// child logs to its standard error in slog's text format, at debug level,
// when the logger is enabled for debug. Every verb honours it.
func WithLogger(l *slog.Logger) Option {
	return option("WithLogger", func(n *Namespace) { n.logger = l })
}

// WithMinimalInit makes Command, StartProcess and Prepare run a minimal
// init as PID 1 of the new PID namespace: the command is PID 2; the init
// forwards every signal it gets to the command, reaps orphans, and exits
// with the command's status (128+N if signal N killed it). Use it for
// commands that do not expect to be PID 1 (most shells and programs do not
// reap orphans or handle SIGTERM as PID 1). It needs WithPrivatePID
// (ErrInvalid otherwise). The other verbs refuse it: the child of Run,
// Task.Run, Pool and Setup is PID 1 itself and reaps orphans, and Do and
// Exec start no process.
//
// It is named for what it adds, not to be confused with Init, the call
// that starts a program's child role; nsrun spells it --init, as unshare
// and bwrap do.
func WithMinimalInit() Option {
	return option("WithMinimalInit", func(n *Namespace) { n.initProc = true })
}

// IDKind says which ids an IDMap maps.
type IDKind int

const (
	// UIDsAndGIDs maps user ids and group ids alike. It is the zero value.
	UIDsAndGIDs IDKind = iota
	// UIDs maps user ids only.
	UIDs
	// GIDs maps group ids only.
	GIDs
)

func (k IDKind) String() string {
	switch k {
	case UIDsAndGIDs:
		return "uid+gid"
	case UIDs:
		return "uid"
	case GIDs:
		return "gid"
	}
	return fmt.Sprintf("IDKind(%d)", int(k))
}

// An IDMap maps Size consecutive ids starting at Outside in the parent's
// user namespace to ids starting at Inside in the new one, as a line of
// /proc/PID/uid_map or gid_map. (On 32-bit systems an int cannot give ids
// above 2^31-1.)
type IDMap struct {
	Kind    IDKind
	Inside  int
	Outside int
	Size    int
}

func (m IDMap) String() string {
	return fmt.Sprintf("%v %d→%d (%d)", m.Kind, m.Outside, m.Inside, m.Size)
}

// maxIDMapLines is the kernel's limit of lines in uid_map and gid_map.
const maxIDMapLines = 340

const maxID = 1<<32 - 1

// resolveIDMaps returns the uid and gid maps to write: the given ones, or the
// default that maps the caller's ids to 0.
func resolveIDMaps(maps []IDMap, uid, gid int) (uids, gids []IDMap) {
	if len(maps) == 0 {
		return []IDMap{{Kind: UIDs, Inside: 0, Outside: uid, Size: 1}},
			[]IDMap{{Kind: GIDs, Inside: 0, Outside: gid, Size: 1}}
	}
	for _, m := range maps {
		if m.Kind == UIDsAndGIDs || m.Kind == UIDs {
			u := m
			u.Kind = UIDs
			uids = append(uids, u)
		}
		if m.Kind == UIDsAndGIDs || m.Kind == GIDs {
			g := m
			g.Kind = GIDs
			gids = append(gids, g)
		}
	}
	return uids, gids
}

func checkIDMaps(maps []IDMap, euid, egid int) error {
	var errs []error
	for _, m := range maps {
		if m.Kind != UIDsAndGIDs && m.Kind != UIDs && m.Kind != GIDs {
			errs = append(errs, invalidf("id map %v has an unknown kind", m))
		}
		if m.Size <= 0 {
			errs = append(errs, invalidf("id map %v: size must be positive", m))
		}
		// In int64: on 32-bit systems int holds neither maxID nor the sums.
		inside, outside, size := int64(m.Inside), int64(m.Outside), int64(m.Size)
		if inside < 0 || outside < 0 || inside > maxID || outside > maxID ||
			size > maxID || inside+size-1 > maxID || outside+size-1 > maxID {
			errs = append(errs, invalidf("id map %v: ids must lie within 0..%d", m, int64(maxID)))
		}
	}
	if len(errs) > 0 {
		return joinErrs(errs)
	}
	uids, gids := resolveIDMaps(maps, euid, egid)
	for _, set := range [][]IDMap{uids, gids} {
		if len(set) > maxIDMapLines {
			errs = append(errs, invalidf("%d %v maps; the kernel allows %d", len(set), set[0].Kind, maxIDMapLines))
		}
		errs = append(errs, overlaps(set)...)
	}
	if euid != 0 {
		for _, m := range uids {
			if m.Outside != euid || m.Size != 1 || len(uids) != 1 {
				errs = append(errs, fmt.Errorf("%w: uid map %v: an unprivileged caller (uid %d) can map only its own uid, once; run as root for other maps", ErrPermission, m, euid))
				break
			}
		}
		for _, m := range gids {
			if m.Outside != egid || m.Size != 1 || len(gids) != 1 {
				errs = append(errs, fmt.Errorf("%w: gid map %v: an unprivileged caller (gid %d) can map only its own gid, once; run as root for other maps", ErrPermission, m, egid))
				break
			}
		}
	}
	return joinErrs(errs)
}

func overlaps(set []IDMap) []error {
	var errs []error
	for _, side := range []string{"inside", "outside"} {
		s := slices.Clone(set)
		start := func(m IDMap) int {
			if side == "inside" {
				return m.Inside
			}
			return m.Outside
		}
		slices.SortFunc(s, func(a, b IDMap) int { return start(a) - start(b) })
		for i := 1; i < len(s); i++ {
			if int64(start(s[i-1]))+int64(s[i-1].Size) > int64(start(s[i])) {
				errs = append(errs, invalidf("%v maps %v and %v overlap %s", s[i].Kind, s[i-1], s[i], side))
			}
		}
	}
	return errs
}
