//go:build linux

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv makes the test binary run main with the arguments after "--".
const helperEnv = "SETPRIV_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Unsetenv(helperEnv)
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"setpriv"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		return
	}
	os.Exit(m.Run())
}

// setpriv runs main in a process of its own with args.
func setpriv(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestDropsToTheUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it changes its user IDs")
	}
	out, err := setpriv(t, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		"sh", "-c", "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff):' /proc/self/status")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534", "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if g, ok := strings.CutPrefix(l, "Groups:"); ok && strings.TrimSpace(g) != "" {
			t.Errorf("supplementary groups left: %q", g)
		}
	}
}

func TestRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"--reuid=4294967296", "--regid=65534", "--clear-groups", "true"}, // cut to 32 bits, it would be root
		{"--reuid=4294967295", "--regid=65534", "--clear-groups", "true"}, // "leave unchanged"
		{"--reuid=-1", "--regid=65534", "--clear-groups", "true"},
		{"--reuid=65534", "--regid=65534", "true"}, // groups not cleared
		{"--reuid=65534", "--clear-groups", "true"},
		{"--reuid=65534", "--regid=65534", "--clear-groups", "--nnp", "true"},
		{"--reuid=65534", "--regid=65534", "--clear-groups"},
	} {
		out, err := setpriv(t, args...)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 || !strings.HasPrefix(out, "setpriv: ") {
			t.Errorf("setpriv %s: %v, %q; want exit status 127 and why", strings.Join(args, " "), err, out)
		}
	}
}
