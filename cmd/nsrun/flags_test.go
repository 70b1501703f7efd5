package main

import (
	"errors"
	"io"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{"512": 512, "64K": 64 << 10, "64M": 64 << 20, "1G": 1 << 30, "2m": 2 << 20, "3MiB": 3 << 20}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "M", "12X", "1.5G", "99999999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	good := map[string]time.Duration{"": 0, "10": 10 * time.Second, "-2.5": -2500 * time.Millisecond}
	for in, want := range good {
		if got, err := parseSeconds(in); err != nil || got != want {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "NaN", "Inf", "1e300"} {
		if _, err := parseSeconds(in); err == nil {
			t.Errorf("parseSeconds(%q) succeeded", in)
		}
	}
}

func TestParseArgs(t *testing.T) {
	c, _, err := parseArgs([]string{"-mpnu", "--tmp-size", "1M", "--", "sh", "-c", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.mount || !c.pid || !c.net || !c.uts || c.tmpSize != "1M" || len(c.argv) != 3 || c.argv[1] != "-c" {
		t.Errorf("combined flags parsed as %+v", c)
	}
	// Flags after COMMAND belong to it.
	c, _, err = parseArgs([]string{"-m", "ls", "-l"}, io.Discard)
	if err != nil || len(c.argv) != 2 || c.argv[1] != "-l" {
		t.Errorf("args after COMMAND: %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"-x"}, {"--nope"}, {"--kill-grace", "soon"}, {"--kill-grace=-1s"}, {"-r", "-c"}, {"--hostname"}} {
		if _, _, err := parseArgs(bad, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseArgs(%q) = %v, want a usage error", bad, err)
		}
	}
	c, _, _ = parseArgs([]string{"--tmp-size", "lots"}, io.Discard)
	if _, err := c.options(); !errors.Is(err, errUsage) {
		t.Errorf("bad --tmp-size: %v", err)
	}
}
