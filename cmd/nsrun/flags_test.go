//go:build linux

package main

import (
	"errors"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linuxns/namespace"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"512": 512, "64K": 64 << 10, "64k": 64 << 10, "64M": 64 << 20, "1G": 1 << 30,
		"2m": 2 << 20, "3MiB": 3 << 20, "1T": 1 << 40, "007": 7,
	}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0M", "-1", "+1", "M", "12X", "1.5G", " 1M", "1M ", "1e6", "0x10", "1_000", "99999999999999T", "9223372036854775808"} {
		if n, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, n)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	good := map[string]time.Duration{
		"10": 10 * time.Second, "-2.5": -2500 * time.Millisecond, "0": 0, "+3": 3 * time.Second,
		"0.000000001": time.Nanosecond, ".5": 500 * time.Millisecond, "86400": 24 * time.Hour,
	}
	for in, want := range good {
		if got, err := parseSeconds(in); err != nil || got != want {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "NaN", "Inf", "-inf", "1e3", "1e300", "0x10", "1_0", "1s", "--1", "1.2.3", "9999999999999"} {
		if d, err := parseSeconds(in); err == nil {
			t.Errorf("parseSeconds(%q) = %v, want an error", in, d)
		}
	}
}

func TestParseArgs(t *testing.T) {
	c, err := parseArgs([]string{"-mpnu", "--tmp-size", "1M", "--", "sh", "-c", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.mount || !c.pid || !c.net || !c.uts || c.tmpSize != 1<<20 || !slices.Equal(c.argv, []string{"sh", "-c", "x"}) {
		t.Errorf("combined flags parsed as %+v", c)
	}
	if c.killGrace != defaultKillGrace {
		t.Errorf("default kill grace %v, want %v", c.killGrace, defaultKillGrace)
	}

	// Options end at COMMAND: what follows is COMMAND's.
	c, err = parseArgs([]string{"-m", "ls", "-l", "--", "-p"})
	if err != nil || !slices.Equal(c.argv, []string{"ls", "-l", "--", "-p"}) || c.pid {
		t.Errorf("args after COMMAND: %+v, %v", c, err)
	}

	c, err = parseArgs([]string{"-Ucr", "--hostname=h", "--monotonic", "-1.5", "--boottime=2", "--kill-grace=150ms", "-CTiv", "--init", "--no-proc", "--sysvsem", "true"})
	if err == nil {
		t.Errorf("-r with -c accepted: %+v", c)
	}
	c, err = parseArgs([]string{"-U", "--hostname=h", "--monotonic", "-1.5", "--boottime=2", "--kill-grace=150ms", "-CTiv", "--init", "--no-proc", "--sysvsem", "true"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.user || c.hostname != "h" || time.Duration(c.monotonic) != -1500*time.Millisecond ||
		time.Duration(c.boottime) != 2*time.Second || c.killGrace != 150*time.Millisecond ||
		!c.cgroup || !c.timeNS || !c.ipc || !c.verbose || !c.init || !c.noProc || !c.sysvsem {
		t.Errorf("long flags parsed as %+v", c)
	}

	for _, bad := range [][]string{
		{"-x"}, {"--nope"}, {"-m", "--pid=maybe"}, {"--kill-grace", "soon"}, {"--kill-grace=-1s"},
		{"-r", "-c"}, {"--hostname"}, {"--hostname="}, {"--tmp-size="}, {"--tmp-size", "huge"},
		{"--tmp-size=0"}, {"--monotonic"}, {"--monotonic=abc"}, {"--boottime="}, {"-mX"},
	} {
		if c, err := parseArgs(bad); !errors.Is(err, errUsage) {
			t.Errorf("parseArgs(%q) = %+v, %v; want a usage error", bad, c, err)
		}
	}
	if c, err := parseArgs([]string{"-h"}); err != nil || !c.help {
		t.Errorf("-h: %+v, %v", c, err)
	}
	if c, err := parseArgs([]string{"--version"}); err != nil || !c.version {
		t.Errorf("--version: %+v, %v", c, err)
	}
}

// TestUsageListsEveryFlag keeps the hand-written help in step with the
// flags nsrun defines.
func TestUsageListsEveryFlag(t *testing.T) {
	fs := newFlagSet(&config{})
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		want := "--" + f.Name
		if s := fs.shorthand(f.Name); s != "" {
			want = "-" + s + ", --" + f.Name
		}
		if !strings.Contains(usageText, "  "+want+" ") {
			t.Errorf("usage lacks %q", want)
		}
	})
	if got := strings.Count(usageText, "  --") + strings.Count(usageText, ", --"); got != n {
		t.Errorf("usage lists %d flags, nsrun defines %d", got, n)
	}
}

// TestCLIDocHelp keeps the help that docs/cli.md shows (its first code
// block) the same as nsrun --help.
func TestCLIDocHelp(t *testing.T) {
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```\n")
	doc, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("docs/cli.md has no code block")
	}
	if doc != usageText {
		t.Errorf("docs/cli.md's help differs from usageText: paste the output of nsrun --help into its first code block")
	}
}

// TestOptions checks the namespaces each flag asks of the library.
func TestOptions(t *testing.T) {
	cases := []struct {
		args []string
		want string // Namespace.String
	}{
		{[]string{"-m"}, "namespace{mnt}"},
		{[]string{"--tmp"}, "namespace{mnt}"},
		{[]string{"--tmp-size=1M"}, "namespace{mnt}"},
		{[]string{"-p"}, "namespace{mnt,pid}"},
		{[]string{"-p", "--no-proc"}, "namespace{pid}"},
		{[]string{"--init"}, "namespace{mnt,pid}"},
		{[]string{"-n"}, "namespace{net}"},
		{[]string{"-i"}, "namespace{ipc}"},
		{[]string{"-u"}, "namespace{uts}"},
		{[]string{"--hostname=box"}, "namespace{uts}"},
		{[]string{"-U"}, "namespace{user}"},
		{[]string{"-r"}, "namespace{user}"},
		{[]string{"-c"}, "namespace{user}"},
		{[]string{"-C"}, "namespace{cgroup}"},
		{[]string{"-T"}, "namespace{time}"},
		{[]string{"--monotonic=5"}, "namespace{time}"},
		{[]string{"--boottime=5"}, "namespace{time}"},
		{[]string{"--sysvsem"}, "namespace{}"},
		{[]string{}, "namespace{}"},
	}
	for _, tc := range cases {
		c, err := parseArgs(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		ns := namespace.New(c.options(1000, 1000)...)
		// The order of kinds in String is the library's; compare sets.
		got, want := kindSet(ns.String()), kindSet(tc.want)
		if !slices.Equal(got, want) {
			t.Errorf("%q: %s, want %s", tc.args, ns, tc.want)
		}
		if err := ns.Validate(); err != nil && !strings.Contains(strings.Join(tc.args, " "), "-c") {
			t.Errorf("%q: Validate: %v", tc.args, err)
		}
	}
	c, _ := parseArgs([]string{"--sysvsem"})
	if ns := namespace.New(c.options(0, 0)...); ns.Flags() == 0 {
		t.Error("--sysvsem adds no CLONE_SYSVSEM")
	}
}

func kindSet(s string) []string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "namespace{"), "}")
	if s == "" {
		return nil
	}
	k := strings.Split(s, ",")
	slices.Sort(k)
	return k
}

func TestCheckPrivileges(t *testing.T) {
	for _, tc := range []struct {
		args []string
		euid int
		ok   bool
	}{
		{[]string{"-c", "-m"}, 0, true}, // root inside stays root
		{[]string{"-c", "-u", "-i", "-C", "--sysvsem"}, 65534, true},
		{[]string{"-c", "-p", "--no-proc"}, 65534, true},
		{[]string{"-r", "-m", "-p", "-n", "--tmp", "--hostname=h", "-T"}, 65534, true},
		{[]string{"-m", "-n"}, 65534, true}, // no user namespace: the kernel says no, with a hint
		{[]string{"-c", "-m"}, 65534, false},
		{[]string{"-c", "--tmp"}, 65534, false},
		{[]string{"-c", "-p"}, 65534, false},
		{[]string{"-c", "-p", "--no-proc", "--init"}, 65534, false},
		{[]string{"-c", "-n"}, 65534, false},
		{[]string{"-c", "--hostname=h"}, 65534, false},
		{[]string{"-c", "--boottime=1"}, 65534, false},
	} {
		c, err := parseArgs(tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		err = c.checkPrivileges(tc.euid)
		if (err == nil) != tc.ok {
			t.Errorf("%q as uid %d: %v, want ok=%v", tc.args, tc.euid, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), "use -r")) {
			t.Errorf("%q: %v does not suggest -r", tc.args, err)
		}
	}
}

// TestListFlags: a flag given once per item keeps each value whole, commas
// included, in the order given, for every such flag; --seccomp-deny splits
// at commas and adds up, and given empty it is given (a process is needed)
// with no name.
func TestListFlags(t *testing.T) {
	c, err := parseArgs([]string{"--setenv", "A=1,2", "--setenv", "B=\"x\"", "--unsetenv", "C", "--keep-env", "D",
		"--landlock-ro", "/a,b", "--landlock-rw", "/c", "--landlock-exec", "/e", "--rlimit", "nofile=1:2",
		"--cap-keep", "net_raw", "--join", "net=/run/n,1", "--pin", "uts=/run/u",
		"--seccomp-deny", "keyctl,add_key", "--seccomp-deny", "bpf", "--", "true"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ got, want []string }{
		"setenv":        {c.priv.setenv, []string{"A=1,2", `B="x"`}},
		"unsetenv":      {c.priv.unsetenv, []string{"C"}},
		"keep-env":      {c.priv.keepEnv, []string{"D"}},
		"landlock-ro":   {c.priv.landlockRO, []string{"/a,b"}},
		"landlock-rw":   {c.priv.landlockRW, []string{"/c"}},
		"landlock-exec": {c.priv.landlockExec, []string{"/e"}},
		"rlimit":        {c.priv.rlimits, []string{"nofile=1:2"}},
		"cap-keep":      {c.priv.capKeep, []string{"net_raw"}},
		"join":          {c.join.joins, []string{"net=/run/n,1"}},
		"pin":           {c.join.pins, []string{"uts=/run/u"}},
		"seccomp-deny":  {c.priv.seccompDeny, []string{"keyctl", "add_key", "bpf"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("--%s: %q, want %q", name, tc.got, tc.want)
		}
	}
	c, err = parseArgs([]string{"--seccomp-deny=", "--", "true"})
	if err != nil || c.priv.seccompDeny == nil || len(c.priv.seccompDeny) != 0 {
		t.Errorf("--seccomp-deny=: %q (nil %v), %v; want given and empty", c.priv.seccompDeny, c.priv.seccompDeny == nil, err)
	}
}

// shorthand returns the one-letter name of the long flag name, or "".
func (f *cliFlags) shorthand(name string) string {
	for c, n := range f.short {
		if n == name {
			return string(c)
		}
	}
	return ""
}
