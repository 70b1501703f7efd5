//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/proctest"
)

// TestDebugBuild builds nsrun as a debugger wants a program (every package
// without optimisations or inlining, as `dlv debug` builds one) with the
// exception README.md gives, and runs a command in new namespaces with it:
// PID 1 of a PID namespace with its own /proc, started by the raw child
// that the exception keeps within the linker's limit for functions that
// must not grow their stack. It also says whether the build without the
// exception still fails, so that the README is mended the day it does not.
func TestDebugBuild(t *testing.T) {
	dir := t.TempDir()
	goBin, env := proctest.GoTool(t, dir)
	build := func(flags ...string) (string, error) {
		out := filepath.Join(dir, "nsrun-debug")
		cmd := exec.Command(goBin, append(append([]string{"build", "-buildvcs=false", "-o", out}, flags...), ".")...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		if err != nil {
			return "", &buildError{err, string(b)}
		}
		return out, os.Chmod(out, 0o755)
	}
	if _, err := build(proctest.DebugBuildFlags[0]); err != nil && offline(err) {
		t.Skipf("the modules cannot be fetched (an unprivileged run has an empty module cache of its own): %v", err)
	} else if err == nil {
		t.Log("a build with -gcflags='all=-N -l' alone links now: README.md's exception for internal/rawproc may no longer be needed")
	} else if !strings.Contains(err.Error(), "nosplit stack over") {
		t.Fatalf("the debug build without the exception failed, but not at the linker's limit: %v", err)
	}
	bin, err := build(proctest.DebugBuildFlags...)
	if err != nil {
		t.Fatalf("the debug build that README.md gives: %v", err)
	}
	cmd := command(t, withUser([]string{"-m", "-p", "--", "/bin/sh", "-c", `echo "$$ $(cut -d' ' -f1 /proc/self/stat)"`})...)
	cmd.Path, cmd.Args[0] = bin, bin
	out, code := result(t, cmd)
	if code != 0 || strings.TrimSpace(out) != "1 2" {
		t.Fatalf("the debug build's nsrun -m -p: exit status %d, output %q (want \"1 2\": the shell is PID 1 and its /proc shows its child as 2)", code, out)
	}
}

// offline reports whether a go build failed for want of the modules: an
// unprivileged run (scripts/as-nobody) starts with an empty module cache.
func offline(err error) bool {
	s := err.Error()
	return strings.Contains(s, "module lookup disabled") || strings.Contains(s, "dial tcp") || strings.Contains(s, "proxy.golang.org")
}

// buildError is a failed go build with its output.
type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }
func (e *buildError) Unwrap() error { return e.err }
