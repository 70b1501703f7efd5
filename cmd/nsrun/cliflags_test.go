//go:build linux

package main

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
)

// TestCommandLine: one-letter flags and clusters are their long flags, a
// flag's value is taken whole whatever it looks like, and COMMAND with
// its arguments, or what follows "--", is left alone.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		given   string // the flags given, sorted, as name=value
		command []string
	}{
		{[]string{"-mpn", "true"}, "mount=true net=true pid=true", []string{"true"}},
		{[]string{"-m=false", "--tmp"}, "mount=false tmp=true", nil},
		{[]string{"-mp=false", "x"}, "mount=true pid=false", []string{"x"}},
		{[]string{"--monotonic", "-1.5", "-u", "sh", "-m"}, "monotonic=-1.5 uts=true", []string{"sh", "-m"}},
		{[]string{"--hostname", "--", "x"}, "hostname=--", []string{"x"}},
		{[]string{"-m", "--", "-p"}, "mount=true", []string{"-p"}},
		{[]string{"-", "-m"}, "", []string{"-", "-m"}},
		{[]string{"", "-m"}, "", []string{"", "-m"}},
		{[]string{"--dev", "--ro-bind", "/a:/b", "-v"}, "dev= ro-bind= verbose=true", nil},
		{[]string{"--kill-grace=1s", "--kill-grace", "3s", "\xff"}, "kill-grace=3s", []string{"\xff"}},
	} {
		fs := newFlagSet(&config{set: map[string]bool{}})
		if err := fs.Parse(tc.in); err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		var given []string
		fs.Visit(func(f *flag.Flag) { given = append(given, f.Name+"="+f.Value.String()) })
		slices.Sort(given)
		want := strings.Fields(tc.given)
		if !slices.Equal(given, want) || !slices.Equal(fs.Args(), tc.command) {
			t.Errorf("Parse(%q): flags %q, COMMAND %q; want %q, %q", tc.in, given, fs.Args(), want, tc.command)
		}
	}
	for in, want := range map[string]string{
		"-x":          "unknown shorthand flag: 'x' in -x",
		"-mZ":         "unknown shorthand flag: 'Z' in -mZ",
		"-mé":         "unknown shorthand flag: 'é' in -mé",
		"-mount":      "unknown shorthand flag: 'o' in -mount",
		"-tmp-size=1": "a long flag takes two dashes: --tmp-size=1",
		"--nope":      "unknown flag: --nope",
		"--=x":        "bad flag syntax: --=x",
		"-=x":         "bad flag syntax: -=x",
		"--hostname":  "flag needs an argument: --hostname",
	} {
		fs := newFlagSet(&config{set: map[string]bool{}})
		if err := fs.Parse([]string{in}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): %v; want %q", in, err, want)
		}
	}
}

// TestParseErrorsNameLongFlags: a value that does not fit is reported with
// the flag's long name and what to give instead.
func TestParseErrorsNameLongFlags(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		name, hint string
	}{
		{[]string{"--tmp-size", "huge"}, "tmp-size", "size"},
		{[]string{"--pid=perhaps"}, "pid", "true or false"},
		{[]string{"-p=perhaps"}, "pid", "true or false"},
		{[]string{"--dev=false"}, "dev", "takes no value"},
		{[]string{"--kill-grace", "5"}, "kill-grace", "duration"},
		{[]string{"--pids", "x"}, "pids", "integer"},
		{[]string{"--cpus", "half"}, "cpus", "number"},
		{[]string{"--landlock-connect", "http"}, "landlock-connect", "decimal"},
		{[]string{"--landlock-connect", "0443"}, "landlock-connect", "decimal"},
		{[]string{"--landlock-connect", "80,0x1bb"}, "landlock-connect", "decimal"},
	} {
		_, err := parseArgs(tc.args)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--"+tc.name+":") || !strings.Contains(err.Error(), tc.hint) {
			t.Errorf("parseArgs(%q): %v; want a usage error naming --%s and saying %q", tc.args, err, tc.name, tc.hint)
		}
	}
}

// TestValueFlags: the flags with values of nsrun's own types: lists given
// once per item or separated by commas, switches without a value.
func TestValueFlags(t *testing.T) {
	c, err := parseArgs([]string{"--landlock-connect", "80,443", "--landlock-connect=8080", "--dev", "--tmpfs", "/run", "--seccomp-deny", "bpf,keyctl", "--setenv", "A=1,2", "true"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.priv.landlockConnect, []uint{80, 443, 8080}) {
		t.Errorf("--landlock-connect: %v", c.priv.landlockConnect)
	}
	if len(c.fs) != 2 || c.fs[0].flag != "dev" || c.fs[1].flag != "tmpfs" || c.fs[1].value != "/run" {
		t.Errorf("filesystem flags: %+v", c.fs)
	}
	if !slices.Equal(c.priv.seccompDeny, []string{"bpf", "keyctl"}) || !slices.Equal(c.priv.setenv, []string{"A=1,2"}) {
		t.Errorf("lists: %q %q", c.priv.seccompDeny, c.priv.setenv)
	}
	if !c.set["dev"] || !c.set["landlock-connect"] || c.set["mount"] {
		t.Errorf("flags given: %v", c.set)
	}
}
