//go:build linux

package proctest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DebugBuildFlags are the go build flags that README.md ("Debug builds")
// gives for a program built as a debugger wants it: every package without
// optimisations or inlining but internal/rawproc and syscall, whose code
// the raw child runs without growing its stack. The first alone is what a
// debugger asks for.
var DebugBuildFlags = []string{"-gcflags=all=-N -l", "-gcflags=github.com/linuxns/namespace/internal/rawproc=", "-gcflags=syscall="}

// GoTool returns the go command and an environment for it that shares the
// build cache of whoever runs the tests or, where there is none (no HOME,
// say), uses one in dir. It skips the test if the go command is not in
// PATH.
func GoTool(t testing.TB, dir string) (goBin string, env []string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not in PATH: the test builds a program with it")
	}
	env = os.Environ()
	out, err := exec.Command(goBin, "env", "GOCACHE").Output()
	if c := string(bytes.TrimSpace(out)); err != nil || c == "" || c == "off" {
		env = append(env, "GOCACHE="+filepath.Join(dir, "gocache"))
	}
	return goBin, env
}
