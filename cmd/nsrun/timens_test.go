//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestTimeNamespaceGoProgram: with --time, a Go program, which makes
// threads at start, runs in the new time namespace (the inner nsrun, which
// then runs cat), on every kernel: before Linux 6.3 only a fork enters it,
// and COMMAND runs behind a relay (docs/kernels.md). TestTimeNamespace
// checks the offsets.
func TestTimeNamespaceGoProgram(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("this kernel has no time namespaces")
	}
	const offset = 1_000_000 // seconds: more than this host's uptime
	for _, extra := range [][]string{nil, {"--kill-descendants"}, {"-p", "-f"}} {
		args := append([]string{"--time", "--boottime", strconv.Itoa(offset)}, extra...)
		args = append(args, "--", nsrunBinary(t), "--", "cat", "/proc/uptime")
		out, code := result(t, nsrun(t, args...))
		if code != 0 {
			t.Fatalf("nsrun %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		f := strings.Fields(out)
		if len(f) == 0 {
			t.Fatalf("no output from cat /proc/uptime: %q", out)
		}
		up, err := strconv.ParseFloat(f[0], 64)
		if err != nil || up < offset {
			t.Errorf("nsrun %s: uptime inside %q, want at least %d (the boot time offset)", strings.Join(args, " "), f[0], offset)
		}
	}
}
