//go:build linux

package namespace

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// sandboxDevList lists /dev and /dev/pts, and says whether /dev/null
// takes a write.
var sandboxDevList = NewTask("test-sandbox-dev", func(ctx context.Context, _ struct{}) (string, error) {
	return devListing(), nil
})

func devListing() string {
	var names []string
	for _, d := range []string{"/dev", "/dev/pts"} {
		es, err := os.ReadDir(d)
		if err != nil {
			return err.Error()
		}
		for _, e := range es {
			names = append(names, strings.TrimPrefix(d+"/"+e.Name(), "/dev/"))
		}
	}
	slices.Sort(names)
	s := strings.Join(names, " ")
	if err := os.WriteFile("/dev/null", []byte("x"), 0); err != nil {
		s += " (write /dev/null: " + err.Error() + ")"
	}
	return s
}

// TestSandboxDev: WithSandbox on the host's view has a private /dev with
// the minimal nodes only, through every executor, and the host's /dev is
// unchanged.
func TestSandboxDev(t *testing.T) {
	needSeccomp(t)
	before, err := os.ReadDir("/dev")
	if err != nil {
		t.Fatal(err)
	}
	mounts := hostMounts(t)
	const want = "core fd full null ptmx pts pts/ptmx random shm stderr stdin stdout tty urandom zero"
	script := `cd /dev && ls -A . pts | grep -v -e '^$' -e ':$' | sort | tr '\n' ' '`
	n := New(WithSandbox())
	for _, verb := range []string{"Run", "Command", "StartProcess"} {
		var out string
		var err error
		switch verb {
		case "Run":
			out, err = sandboxDevList.Run(context.Background(), n, struct{}{})
		case "Command":
			var b []byte
			b, err = n.Command(context.Background(), "/bin/sh", "-c", script).CombinedOutput()
			out = string(b)
		case "StartProcess":
			var b []byte
			b, err = startSh(n, script)
			out = string(b)
		}
		if errors.Is(err, ErrPermission) {
			t.Skipf("user namespaces blocked here: %v", err)
		}
		if verb != "Run" {
			// ls lists pts/ptmx as ptmx under "pts:".
			out = strings.Replace(strings.TrimSpace(out), "ptmx ptmx", "ptmx pts/ptmx", 1)
		}
		if err != nil || strings.TrimSpace(out) != want && !(verb != "Run" && sameWords(out, want)) {
			t.Errorf("%s: %v: /dev holds\n%s\nwant\n%s", verb, err, out, want)
		}
	}
	after, err := os.ReadDir("/dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the host's /dev changed: %d entries, then %d", len(before), len(after))
	}
	checkMountsUnchanged(t, mounts)
}

// sameWords reports whether a and b hold the same words.
func sameWords(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
