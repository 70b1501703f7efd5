//go:build linux

package main

import (
	"strings"
	"testing"
)

// TestFreshProcReadOnly checks that nsrun -p's fresh /proc has read-only
// sysctls: core_pattern is not writable, and a write to the hostname (of
// the UTS namespace made here) fails with EROFS; with --ro and every
// capability dropped too, and with --init.
func TestFreshProcReadOnly(t *testing.T) {
	const script = `test -w /proc/sys/kernel/core_pattern && { echo core_pattern writable; exit 3; }
echo procguard > /proc/sys/kernel/hostname && exit 4; exit 0`
	for _, flags := range [][]string{
		{"-p", "--uts"},
		{"--ro", "-p", "--uts", "--cap-keep", "none", "--no-new-privs"},
		{"--init", "--uts"},
	} {
		out, code := result(t, nsrun(t, append(flags, "--", "sh", "-c", script)...))
		if code != 0 || !strings.Contains(out, "Read-only file system") {
			t.Errorf("nsrun %s: exit %d, want 0 and EROFS:\n%s", strings.Join(flags, " "), code, out)
		}
	}
}
