//go:build linux

package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPrivFlags runs nsrun with the flags of privileges, limits and the
// environment and reads their effect from inside, as root and as uid
// 65534 (no namespace is needed for these: nsrun adds -r unprivileged).
func TestPrivFlags(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	script := `grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/self/status | tr -d '\t'
echo "nofile=$(ulimit -n)"
echo "env=${DROPPED-unset}:${KEEP-unset}:${SET-unset}:${HOME-unset}"
touch ` + dir + `/ok && echo rw=ok
touch /dev/shm/linuxns-privflags 2>/dev/null && echo shm=ok || echo shm=denied
unshare -U true 2>/dev/null && echo userns=ok || echo userns=refused`
	flags := []string{"--no-new-privs", "--cap-keep", "none", "--seccomp-default", "--seccomp-deny", "keyctl,add_key",
		"--rlimit", "nofile=40:50", "--disable-userns", "--new-session",
		"--landlock-ro", "/usr", "--landlock-ro", "/bin", "--landlock-ro", "/lib", "--landlock-ro", "/proc", "--landlock-ro", "/dev", "--landlock-rw", "/dev/null", "--landlock-rw", dir,
		"--clear-env", "--keep-env", "KEEP", "--keep-env", "PATH", "--setenv", "SET=yes", "--unsetenv", "HOME"}
	for _, p := range []string{"/lib64", "/sbin"} {
		if _, err := os.Stat(p); err == nil {
			flags = append(flags, "--landlock-ro", p)
		}
	}
	if landlockABI(t) < 3 {
		// Linux 6.1 has ABI 2: strict Landlock refuses to run there
		// (TestLandlockStrictOldABI), the best effort still denies writes.
		flags = append(flags, "--landlock-best-effort")
	}
	t.Setenv("KEEP", "kept")
	t.Setenv("DROPPED", "dropped")
	out := mustShell(t, script, flags...)
	kv := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.Contains(k, "=") {
			kv[k] = v
		}
	}
	got := keyValues(out)
	for k, want := range map[string]string{"nofile": "40", "env": "unset:kept:yes:unset", "rw": "ok", "shm": "denied", "userns": "refused"} {
		if got[k] != want {
			t.Errorf("%s=%q, want %q\n%s", k, got[k], want, out)
		}
	}
	for k, want := range map[string]string{"NoNewPrivs": "1", "Seccomp": "2", "CapEff": "0000000000000000", "CapBnd": "0000000000000000"} {
		if kv[k] != want {
			t.Errorf("%s: %q, want %q\n%s", k, kv[k], want, out)
		}
	}
}

// TestPrivFlagsInvalid: bad values are usage errors, before anything runs.
func TestPrivFlagsInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--cap-keep", "cap_bogus"},
		{"--rlimit", "nofile"},
		{"--rlimit", "bogus=1"},
		{"--rlimit", "nofile=x"},
		{"--setenv", "NOVALUE"},
	} {
		c, err := parseArgs(append(args, "--", "true"))
		if err == nil {
			_, err = c.priv.options(false)
			if err == nil {
				_, err = c.priv.environ(nil)
			}
		}
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: %v; want a usage error", args, err)
		}
	}
	out, code := shell(t, "true", "--seccomp-deny", "no_such_call")
	if code != exitFailed || !strings.Contains(out, "no_such_call") {
		t.Errorf("--seccomp-deny no_such_call: status %d\n%s", code, out)
	}
}

// landlockABI returns the kernel's Landlock ABI version (0: none).
func landlockABI(t *testing.T) int {
	t.Helper()
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(v)
}

// TestLandlockStrictOldABI: on a kernel whose Landlock ABI is older than 3,
// Landlock path rules without --landlock-best-effort run nothing and say
// what is missing.
func TestLandlockStrictOldABI(t *testing.T) {
	if abi := landlockABI(t); abi >= 3 {
		t.Skipf("this kernel has Landlock ABI %d: strict file system rules are enforced (TestPrivFlags); the kernel matrix's 6.1 has ABI 2", abi)
	}
	out, code := shell(t, "echo ran", "--landlock-ro", "/")
	if code != exitFailed || strings.Contains(out, "ran") || !strings.Contains(out, "LandlockBestEffort") {
		t.Errorf("--landlock-ro / on an old ABI: status %d\n%s", code, out)
	}
}
