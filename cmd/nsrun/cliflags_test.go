//go:build linux

package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestLongForm: one-letter flags and clusters become long flags up to
// COMMAND, and a flag's value is passed on untouched, whatever it looks
// like.
func TestLongForm(t *testing.T) {
	fs := newFlagSet(&config{set: map[string]bool{}})
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-mpn", "true"}, []string{"--mount", "--pid", "--net", "true"}},
		{[]string{"-m=false", "--tmp"}, []string{"--mount=false", "--tmp"}},
		{[]string{"--monotonic", "-1.5", "-u", "sh", "-m"}, []string{"--monotonic=-1.5", "--uts", "sh", "-m"}},
		{[]string{"--hostname", "--", "x"}, []string{"--hostname=--", "x"}},
		{[]string{"-m", "--", "-p"}, []string{"--mount", "--", "-p"}},
		{[]string{"-", "-m"}, []string{"-", "-m"}},
		{[]string{"--dev", "--ro-bind", "/a:/b", "-v"}, []string{"--dev", "--ro-bind=/a:/b", "--verbose"}},
		{[]string{"--hostname"}, []string{"--hostname"}},
	} {
		got, err := fs.longForm(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("longForm(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for in, want := range map[string]string{
		"-x":     "unknown shorthand flag: 'x' in -x",
		"-mZ":    "unknown shorthand flag: 'Z' in -mZ",
		"-mount": "unknown shorthand flag: 'o' in -mount",
		"--nope": "unknown flag: --nope",
		"-mp=1":  "bad flag syntax: -mp=1",
	} {
		if _, err := fs.longForm([]string{in, "true"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("longForm(%q): %v; want %q", in, err, want)
		}
	}
}

// TestParseErrorsNameLongFlags: the flag package's messages name a flag
// with two dashes, as nsrun's help does.
func TestParseErrorsNameLongFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		name string
	}{
		{[]string{"--tmp-size", "huge"}, "tmp-size"}, {[]string{"--hostname"}, "hostname"},
		{[]string{"--pid=perhaps"}, "pid"}, {[]string{"--dev=false"}, "dev"},
		{[]string{"--landlock-connect", "http"}, "landlock-connect"},
	} {
		_, err := parseArgs(tc.args)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--"+tc.name) || strings.Contains(err.Error(), " -"+tc.name) {
			t.Errorf("parseArgs(%q): %v; want a usage error naming --%s", tc.args, err, tc.name)
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
