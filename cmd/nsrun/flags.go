//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/linuxns/namespace"
)

// config is what the command line asks for.
type config struct {
	mount, tmp, pid, noProc, init       bool
	net, ipc, uts, user, mapRoot        bool
	mapCurrent, cgroup, timeNS, sysvsem bool
	fork, verbose, help, version        bool
	killDescendants                     bool
	join                                joinConfig // joinflags.go

	priv privFlags   // privileges, limits, environment (privflags.go)
	cg   cgroupFlags // --memory, --pids, --cpus, --cgroup-parent, --join-cgroup (cgroupflags.go)

	tmpSize             sizeValue
	hostname            string
	monotonic, boottime secondsValue
	killGrace           time.Duration

	fs    []fsArg // the filesystem view, in order (fsflags.go)
	chdir string

	// set records the value flags given on the command line, even with an
	// empty value.
	set map[string]bool

	argv []string
}

// defaultKillGrace is the TERM→KILL delay after a terminating signal.
const defaultKillGrace = 2 * time.Second

// errUsage marks a command-line error: nsrun prints it with a hint to
// --help and exits 125.
var errUsage = errors.New("usage")

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// newFlagSet defines nsrun's flags on c. The help text is usageText; the
// one-line descriptions here are what the flag package would print, kept
// for tools that list flags.
func newFlagSet(c *config) *cliFlags {
	fs := newCLIFlags() // nsrun prints its own messages
	fs.BoolVarP(&c.mount, "mount", "m", false, "private mount namespace (/ made rprivate)")
	fs.BoolVar(&c.tmp, "tmp", false, "private tmpfs on /tmp (implies --mount)")
	fs.Var(&c.tmpSize, "tmp-size", "size of the private /tmp, e.g. 64M (implies --tmp)")
	fs.BoolVarP(&c.pid, "pid", "p", false, "private PID namespace; COMMAND is PID 1; fresh /proc (implies --mount)")
	fs.BoolVar(&c.noProc, "no-proc", false, "keep the host /proc")
	fs.BoolVar(&c.init, "init", false, "a minimal init is PID 1; COMMAND is PID 2 (implies --pid)")
	fs.BoolVarP(&c.net, "net", "n", false, "private network namespace, lo up")
	fs.BoolVarP(&c.ipc, "ipc", "i", false, "private IPC namespace")
	fs.BoolVarP(&c.uts, "uts", "u", false, "private UTS namespace")
	fs.StringVar(&c.hostname, "hostname", "", "set the hostname (implies --uts)")
	fs.BoolVarP(&c.user, "user", "U", false, "private user namespace (default map: caller -> root)")
	fs.BoolVarP(&c.mapRoot, "map-root-user", "r", false, "map the caller to root (implies --user)")
	fs.BoolVarP(&c.mapCurrent, "map-current-user", "c", false, "map the caller to itself (implies --user)")
	fs.BoolVarP(&c.cgroup, "cgroup", "C", false, "private cgroup namespace")
	fs.BoolVarP(&c.timeNS, "time", "T", false, "private time namespace")
	fs.Var(&c.monotonic, "monotonic", "CLOCK_MONOTONIC offset in seconds (implies --time)")
	fs.Var(&c.boottime, "boottime", "CLOCK_BOOTTIME offset in seconds (implies --time)")
	fs.BoolVar(&c.sysvsem, "sysvsem", false, "unshare System V semaphore undo lists")
	fs.BoolVarP(&c.fork, "fork", "f", false, "run COMMAND as a child of nsrun, which forwards signals (implied by -p, --init, -U, -r, -c, -T, --kill-grace, --kill-descendants, --chdir and the joining, status, privilege and resource flags)")
	fs.DurationVar(&c.killGrace, "kill-grace", defaultKillGrace, "TERM->KILL delay after a terminating signal (implies --fork)")
	fs.BoolVar(&c.killDescendants, "kill-descendants", false, "kill what COMMAND started when it ends or nsrun dies (implies --fork)")
	addFSFlags(fs, c)
	addPrivFlags(fs, &c.priv)
	c.join.define(fs)
	c.cg.register(fs)
	fs.BoolVarP(&c.verbose, "verbose", "v", false, "debug log of each step to stderr")
	fs.BoolVarP(&c.help, "help", "h", false, "show this help")
	fs.BoolVarP(&c.version, "version", "V", false, "show the version")
	return fs
}

// usageText is the help of nsrun. TestUsageListsEveryFlag keeps it in step
// with newFlagSet.
const usageText = `Usage: nsrun [options] [--] COMMAND [ARG...]

Run COMMAND in new Linux namespaces. Without COMMAND, run $SHELL, else
/bin/sh. Options end at COMMAND: what follows it is COMMAND's.

Namespaces:
  -m, --mount             private mount namespace (/ made rprivate)
      --tmp               private tmpfs on /tmp (implies --mount)
      --tmp-size SIZE     size of that tmpfs: bytes, or K, M, G (implies --tmp)
  -p, --pid               private PID namespace: COMMAND is PID 1, with a
                          fresh /proc (implies --mount)
      --no-proc           keep the host's /proc with --pid
      --init              a minimal init is PID 1 (reaps orphans, forwards
                          signals); COMMAND is PID 2 (implies --pid)
  -n, --net               private network namespace, with lo up
  -i, --ipc               private IPC namespace
  -u, --uts               private UTS namespace
      --hostname NAME     set the hostname (implies --uts)
  -U, --user              private user namespace (default map: you -> root)
  -r, --map-root-user     map you to root (implies --user)
  -c, --map-current-user  map you to your own uid and gid (implies --user)
  -C, --cgroup            private cgroup namespace
  -T, --time              private time namespace
      --monotonic SECS    CLOCK_MONOTONIC offset (implies --time)
      --boottime SECS     CLOCK_BOOTTIME offset (implies --time)
      --sysvsem           own System V semaphore undo list
` + fsUsage + cgroupUsage + `
` + privUsage + `Joining, keeping, checking:
      --join KIND=PATH    join the namespace of KIND (mnt, uts, ipc, net,
                          pid, user, cgroup, time) at PATH, as
                          nsenter --KIND=PATH; /run/netns/NAME for ip netns
      --join-pid PID      join the namespaces of process PID, as nsenter -t:
                          the kind flags (-m -u -i -n -p -U -C -T) then name
                          the kinds to join (none: all that differ but
                          those other flags create, as --hostname's UTS);
                          a private /tmp (--tmp) still gets a new mount
                          namespace
      --pin KIND=PATH     bind-mount the new namespace of KIND on PATH while
                          COMMAND runs, for nsenter --KIND=PATH (root)
      --subids            map root to you and 1.. to your ranges in
                          /etc/subuid and /etc/subgid (newuidmap; implies -U)
      --check             report which namespaces and features this kernel
                          and system allow, with remedies, and exit
      --info-fd FD        write COMMAND's pid and namespace ids to FD as
                          JSON once it runs, as bwrap (implies -f)
      --json-status-fd FD the same, then {"exit-code":N} when it ends

Running:
  -f, --fork              run COMMAND as a child of nsrun, which forwards
                          signals to it (implied by -p, -U, -r, -c, -T and
                          by --init and --kill-grace and --kill-descendants
                          and --chdir, and by the joining, status,
                          privilege and resource flags);
                          otherwise COMMAND replaces nsrun, as unshare(1)
                          does without -f
      --kill-grace DUR    after a terminating signal, SIGKILL COMMAND if it
                          is still alive after DUR (default 2s; implies -f)
      --kill-descendants  when COMMAND ends, or nsrun dies (even by
                          SIGKILL), kill every process COMMAND started that
                          is still running, without a PID namespace
                          (implies -f; -p does it already)
  -v, --verbose           log each step on standard error
  -h, --help              show this help and exit
  -V, --version           show the version and exit

Signals sent to nsrun reach COMMAND: forwarded with --fork, else COMMAND
is nsrun. Exit status: COMMAND's (with --fork, 128+N if signal N killed
it); 125 if nsrun failed; 126 if COMMAND cannot be executed; 127 if it was
not found.
Without root, add -r: a user namespace in which you are root.
`

// parseArgs parses the command line. Every error wraps errUsage.
func parseArgs(args []string) (*config, error) {
	c := &config{set: map[string]bool{}}
	fs := newFlagSet(c)
	if err := fs.Parse(args); err != nil {
		return nil, usageErrorf("%v", err)
	}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
	c.argv = fs.Args()
	if c.help || c.version {
		return c, nil
	}
	if c.killGrace < 0 {
		return nil, usageErrorf("--kill-grace %v is negative", c.killGrace)
	}
	if c.mapRoot && c.mapCurrent {
		return nil, usageErrorf("-r (--map-root-user) and -c (--map-current-user) exclude each other")
	}
	if err := c.cg.check(); err != nil {
		return nil, err
	}
	if c.set["hostname"] && c.hostname == "" {
		return nil, usageErrorf("--hostname needs a name; use -u alone to keep the inherited one")
	}
	if err := c.join.validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

// userNS reports whether a user namespace was asked for.
func (c *config) userNS() bool { return c.user || c.mapRoot || c.mapCurrent }

// needsParent reports whether nsrun stays as COMMAND's parent: asked for
// (--fork, --kill-grace), needed for --kill-descendants (a supervisor that
// outlives nsrun), because the namespaces apply only to a new process
// (PID, time) or need a single-threaded one (user), for --init, or for
// what the process's start does (--chdir, the joining and status flags,
// the privilege and resource flags). Otherwise COMMAND replaces nsrun.
func (c *config) needsParent() bool {
	return c.fork || c.set["kill-grace"] || c.join.active(c) || c.killDescendants || c.pid || c.init || c.userNS() || c.priv.needsProcess() || c.cg.any() ||
		c.timeNS || c.set["monotonic"] || c.set["boottime"] || c.chdir != ""
}

// mountNS reports whether a mount namespace will be created.
func (c *config) mountNS() bool {
	return c.mount || c.tmp || c.set["tmp-size"] || ((c.pid || c.init) && !c.noProc) || len(c.fs) > 0
}

// checkPrivileges rejects what cannot work for an unprivileged caller
// (euid) before anything is created: with -c the caller keeps its uid
// inside the new user namespace, and a process that is not root there
// loses its capabilities when nsrun's helper is executed, so the set-up
// steps that need them would fail half-way.
func (c *config) checkPrivileges(euid int) error {
	if !c.mapCurrent || euid == 0 {
		return nil
	}
	var need []string
	if c.mountNS() {
		need = append(need, "mounts (-m, --tmp, -p, the filesystem flags)")
	}
	if c.init {
		need = append(need, "the init's PID namespace (--init)")
	}
	if c.net {
		need = append(need, "bringing lo up (-n)")
	}
	if c.set["hostname"] {
		need = append(need, "setting the hostname (--hostname)")
	}
	if c.timeNS || c.set["monotonic"] || c.set["boottime"] {
		need = append(need, "the time namespace (-T)")
	}
	if len(need) == 0 {
		return nil
	}
	return usageErrorf("with -c you keep uid %d inside the user namespace, where it has no privilege for %s; use -r (map you to root) instead",
		euid, strings.Join(need, ", "))
}

// options turns the configuration into namespace options. uid and gid are
// the caller's, for -c.
func (c *config) options(uid, gid int) []namespace.Option {
	opts := c.join.options(c) // first: --join-pid turns kind flags into kinds to join
	switch {
	case c.mapCurrent:
		opts = append(opts, namespace.WithPrivateUser(
			namespace.IDMap{Kind: namespace.UIDs, Inside: uid, Outside: uid, Size: 1},
			namespace.IDMap{Kind: namespace.GIDs, Inside: gid, Outside: gid, Size: 1}))
	case c.user || c.mapRoot:
		opts = append(opts, namespace.WithPrivateUser())
	}
	if c.mount {
		opts = append(opts, namespace.WithPrivateMount())
	}
	opts = append(opts, c.fsOptions()...)
	if c.tmp || c.set["tmp-size"] {
		var tmpfs []namespace.TmpfsOption
		if c.set["tmp-size"] {
			tmpfs = append(tmpfs, namespace.TmpfsSize(int64(c.tmpSize)))
		}
		opts = append(opts, namespace.WithPrivateTmp(tmpfs...))
	}
	if c.pid || c.init {
		opts = append(opts, namespace.WithPrivatePID())
	}
	if c.init {
		opts = append(opts, namespace.WithMinimalInit())
	}
	if c.noProc {
		opts = append(opts, namespace.WithoutProc())
	}
	if c.net {
		opts = append(opts, namespace.WithPrivateNet())
	}
	if c.ipc {
		opts = append(opts, namespace.WithPrivateIPC())
	}
	if c.uts {
		opts = append(opts, namespace.WithPrivateUTS())
	}
	if c.set["hostname"] {
		opts = append(opts, namespace.WithHostname(c.hostname))
	}
	if c.cgroup {
		opts = append(opts, namespace.WithPrivateCgroup())
	}
	if c.timeNS || c.set["monotonic"] || c.set["boottime"] {
		opts = append(opts, namespace.WithPrivateTime(time.Duration(c.monotonic), time.Duration(c.boottime)))
	}
	if c.sysvsem {
		opts = append(opts, namespace.WithPrivateSysVSem())
	}
	if c.killDescendants {
		opts = append(opts, namespace.WithKillDescendants())
	}
	return append(opts, c.cg.options()...)
}

// listValue is a flag given once per item (--setenv A=1 --setenv B=2),
// each value taken whole.
type listValue []string

// String is empty for an empty list: no default to show.
func (l *listValue) String() string {
	if len(*l) == 0 {
		return ""
	}
	return "[" + strings.Join(*l, ",") + "]"
}

// Set adds one item.
func (l *listValue) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// commaList is a flag whose values are lists separated by commas, given
// once or more (--seccomp-deny keyctl,add_key --seccomp-deny bpf), without
// CSV quoting, which no value of nsrun's needs; an empty value makes the
// list empty but given.
type commaList []string

// String is as listValue's.
func (l *commaList) String() string { return (*listValue)(l).String() }

// Set adds the items of v.
func (l *commaList) Set(v string) error {
	if *l == nil {
		*l = []string{}
	}
	if v != "" {
		*l = append(*l, strings.Split(v, ",")...)
	}
	return nil
}

// portList is a flag whose values are lists of port numbers separated by
// commas, given once or more (--landlock-connect 80,443).
type portList []uint

// String shows the ports.
func (l *portList) String() string {
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = strconv.FormatUint(uint64(p), 10)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// Set adds the ports of v.
func (l *portList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		// Decimal only: pflag, used before, read 0443 as octal (291) and
		// 0x1bb as hexadecimal; neither is taken now rather than read
		// another way.
		p, err := strconv.ParseUint(f, 10, 0)
		if err != nil || len(f) > 1 && f[0] == '0' {
			return fmt.Errorf("%q is not a port number in decimal", f)
		}
		*l = append(*l, uint(p))
	}
	return nil
}

// sizeValue is a byte count given as digits with an optional binary
// suffix: 512, 64K, 64M, 1G (K, M, G, T, also as KiB… and in lower case).
type sizeValue int64

func (s *sizeValue) String() string { return strconv.FormatInt(int64(*s), 10) }

// Set parses a size.
func (s *sizeValue) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeValue(n)
	return nil
}

func parseSize(s string) (int64, error) {
	n, err := parseBytes(s)
	if err == nil && n == 0 {
		return 0, fmt.Errorf("size %q is zero; omit --tmp-size for the kernel's default (half of the RAM)", s)
	}
	return n, err
}

// parseBytes parses a size, zero included.
func parseBytes(s string) (int64, error) {
	digits := s
	mult := int64(1)
	lower := strings.ToLower(s)
	for _, suf := range []struct {
		s string
		m int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}} {
		if strings.HasSuffix(lower, suf.s) {
			mult = suf.m
			digits = s[:len(s)-len(suf.s)]
			break
		}
	}
	bad := fmt.Errorf("%q is not a size: give bytes, or a whole number with K, M, G or T (binary), such as 64M", s)
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, bad
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// secondsValue is a clock offset given in seconds: an integer or a decimal
// number, possibly negative.
type secondsValue time.Duration

func (s *secondsValue) String() string {
	return strconv.FormatFloat(time.Duration(*s).Seconds(), 'f', -1, 64)
}

// Set parses a number of seconds.
func (s *secondsValue) Set(v string) error {
	d, err := parseSeconds(v)
	if err != nil {
		return err
	}
	*s = secondsValue(d)
	return nil
}

// maxOffsetSeconds bounds clock offsets to what a time.Duration holds.
const maxOffsetSeconds = float64(math.MaxInt64 / int64(time.Second))

func parseSeconds(s string) (time.Duration, error) {
	// ParseFloat also takes "inf", "nan", hex and underscores; a number of
	// seconds is plain digits, a sign and a decimal point.
	if s == "" || strings.TrimLeft(s, "+-0123456789.") != "" {
		return 0, fmt.Errorf("%q is not a number of seconds such as 3600, -10 or 0.5", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of seconds such as 3600, -10 or 0.5", s)
	}
	if math.Abs(f) > maxOffsetSeconds {
		return 0, fmt.Errorf("%q seconds is out of range (at most %.0f either way)", s, maxOffsetSeconds)
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}
