//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// The working directory is entered again by its path after the set-up: with
// a private /tmp, a child whose working directory is under /tmp is in the
// private /tmp or, if its directory is not there, in /; never in the
// host's directory, where its relative paths would lead.

// A WorkDirView is what a child sees of its working directory.
type WorkDirView struct {
	Cwd      string `json:"cwd"`       // getcwd
	InTmp    bool   `json:"in_tmp"`    // "." is /tmp
	AtRoot   bool   `json:"at_root"`   // "." is /
	Marker   bool   `json:"marker"`    // the case's marker file is seen in "."
	WriteErr string `json:"write_err"` // writing the case's file in "." failed
}

// ProbeWorkDir returns what the calling thread sees of its working
// directory, after writing the file named write there, relative, unless
// write is empty.
func ProbeWorkDir(marker, write string) WorkDirView {
	var v WorkDirView
	v.Cwd, _ = unix.Getwd()
	var dot, tmp, root unix.Stat_t
	if unix.Stat(".", &dot) == nil && unix.Stat("/tmp", &tmp) == nil && unix.Stat("/", &root) == nil {
		v.InTmp = dot.Dev == tmp.Dev && dot.Ino == tmp.Ino
		v.AtRoot = dot.Dev == root.Dev && dot.Ino == root.Ino
	}
	if marker != "" {
		_, err := os.Lstat(marker)
		v.Marker = err == nil
	}
	if write != "" {
		if err := os.WriteFile(write, []byte("written inside"), 0o600); err != nil {
			v.WriteErr = err.Error()
		}
	}
	return v
}

var workDirTask = NewTask("test-workdir", func(ctx context.Context, in [2]string) (WorkDirView, error) {
	return ProbeWorkDir(in[0], in[1]), nil
})

// WorkDirScript is ProbeWorkDir for sh: it prints key=value lines that
// ParseWorkDirView reads.
func WorkDirScript(marker, write string) string {
	return `echo "cwd=$(pwd -P)"; d=$(stat -c %d:%i .)
[ "$d" = "$(stat -c %d:%i /tmp)" ] && echo in_tmp=true
[ "$d" = "$(stat -c %d:%i /)" ] && echo at_root=true
[ -n '` + marker + `' ] && [ -e '` + marker + `' ] && echo marker=true
[ -n '` + write + `' ] && { printf 'written inside' > '` + write + `' || echo write_err=failed; }
true`
}

// ParseWorkDirView reads WorkDirScript's output.
func ParseWorkDirView(out string) WorkDirView {
	var v WorkDirView
	for _, l := range strings.Split(out, "\n") {
		k, val, _ := strings.Cut(l, "=")
		switch k {
		case "cwd":
			v.Cwd = val
		case "in_tmp":
			v.InTmp = true
		case "at_root":
			v.AtRoot = true
		case "marker":
			v.Marker = true
		case "write_err":
			v.WriteErr = val
		}
	}
	return v
}

// A WorkDirCase is a working directory under the host's /tmp for a child
// with a private /tmp.
type WorkDirCase struct {
	Name string
	// Dir is the directory: /tmp itself, which the child finds again as
	// its private /tmp, or a fresh directory under it, which is not there
	// inside.
	Dir string
	// InTmp: Dir is /tmp; the child must be in its private /tmp and write
	// Write there. Otherwise it must be in /.
	InTmp bool
	// Marker is a file in Dir on the host, which the child must not see.
	Marker string
	// Write is the file the child writes, relative, when InTmp.
	Write string
}

// WorkDirCases returns the cases, with their files on the host; the test
// removes them at its end.
func WorkDirCases(t *testing.T) []WorkDirCase {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "linuxns-workdir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "host-marker"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	write := fmt.Sprintf("linuxns-workdir-%d-%s", os.Getpid(), filepath.Base(dir)[len("linuxns-workdir-"):])
	t.Cleanup(func() { os.Remove(filepath.Join("/tmp", write)) })
	return []WorkDirCase{
		{Name: "tmp", Dir: "/tmp", InTmp: true, Write: write},
		{Name: "under-tmp", Dir: dir, Marker: "host-marker"},
	}
}

// Check fails the test unless v is what a child in c must see, and the
// host's /tmp is as it was.
func (c WorkDirCase) Check(t *testing.T, v WorkDirView) {
	t.Helper()
	if c.InTmp {
		if v.Cwd != "/tmp" || !v.InTmp || v.WriteErr != "" {
			t.Errorf("working directory %s: the child is in %q (its private /tmp: %v; writing %s: %q); want its private /tmp", c.Dir, v.Cwd, v.InTmp, c.Write, v.WriteErr)
		}
		if _, err := os.Lstat(filepath.Join("/tmp", c.Write)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("working directory %s: the file the child wrote in it, relative, is in the host's /tmp (%v)", c.Dir, err)
			os.Remove(filepath.Join("/tmp", c.Write))
		}
		return
	}
	if v.Cwd != "/" || !v.AtRoot || v.Marker {
		t.Errorf("working directory %s, not in the private /tmp: the child is in %q (at /: %v; sees the host's %s there: %v); want /", c.Dir, v.Cwd, v.AtRoot, c.Marker, v.Marker)
	}
}

func TestRunWorkDir(t *testing.T) {
	for _, c := range WorkDirCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Chdir(c.Dir)
			v, err := workDirTask.Run(context.Background(), testNS(WithPrivateTmp()), [2]string{c.Marker, c.Write})
			if err != nil {
				t.Fatal(err)
			}
			c.Check(t, v)
		})
	}
}

// shOutput runs cmd and returns its output, failing the test unless it
// exits 0.
func shOutput(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return string(out)
}

func TestCommandWorkDir(t *testing.T) {
	for _, c := range WorkDirCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			for name, n := range map[string]*Namespace{
				"plain": testNS(WithPrivateTmp()),
				// PID 1 mounts /proc after the child's set-up.
				"init": testNS(WithPrivateTmp(), WithPrivatePID(), WithMinimalInit()),
			} {
				t.Run("inherited/"+name, func(t *testing.T) {
					t.Chdir(c.Dir)
					cmd := n.Command(context.Background(), "sh", "-c", WorkDirScript(c.Marker, c.Write))
					c.Check(t, ParseWorkDirView(shOutput(t, cmd)))
				})
			}
			t.Run("Dir", func(t *testing.T) {
				cmd := testNS(WithPrivateTmp()).Command(context.Background(), "sh", "-c", WorkDirScript(c.Marker, c.Write))
				cmd.Dir = c.Dir
				out, err := cmd.CombinedOutput()
				if !c.InTmp {
					// An explicit Dir that is not there inside is a
					// set-up failure (status 125) that names it.
					var ee *exec.ExitError
					if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(string(out), stepWorkDirName) || !strings.Contains(string(out), c.Dir) {
						t.Errorf("Dir %s missing inside: %v, want status 125 naming the step and the directory:\n%s", c.Dir, err, out)
					}
					return
				}
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				c.Check(t, ParseWorkDirView(string(out)))
			})
		})
	}
}

func TestSetupWorkDir(t *testing.T) {
	bin := testBinary(t, "setupdemo")
	for _, c := range WorkDirCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			marker, write := c.Marker, c.Write
			if marker == "" {
				marker = "-"
			}
			if write == "" {
				write = "-"
			}
			cmd := exec.Command(bin, "workdir", marker, write)
			cmd.Dir = c.Dir
			out, code := runCmd(t, cmd)
			if code != 0 {
				t.Fatalf("exit status %d:\n%s", code, out)
			}
			c.Check(t, ParseWorkDirView(out))
		})
	}
}

// startWorkDir runs WorkDirScript with StartProcess (Prepare and Start if
// prepare) and returns its view.
func startWorkDir(t *testing.T, n *Namespace, c WorkDirCase, dir string, prepare bool) WorkDirView {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	attr := &os.ProcAttr{Dir: dir, Files: []*os.File{nil, w, os.Stderr}}
	argv := []string{"sh", "-c", WorkDirScript(c.Marker, c.Write)}
	var p *os.Process
	if prepare {
		var pp *Prepared
		if pp, err = n.Prepare("/bin/sh", argv, attr); err == nil {
			p, err = pp.Start()
		}
	} else {
		p, err = n.StartProcess("/bin/sh", argv, attr)
	}
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_, _ = io.Copy(&out, r)
	if st, err := p.Wait(); err != nil || !st.Success() {
		t.Fatalf("%v %v\n%s", st, err, out.String())
	}
	return ParseWorkDirView(out.String())
}

func TestStartProcessWorkDir(t *testing.T) {
	before := hostMounts(t)
	for _, c := range WorkDirCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			for name, n := range map[string]*Namespace{
				"plain": testNS(WithPrivateTmp()),
				"init":  testNS(WithPrivateTmp(), WithPrivatePID(), WithMinimalInit()),
			} {
				t.Run("inherited/"+name, func(t *testing.T) {
					t.Chdir(c.Dir)
					c.Check(t, startWorkDir(t, n, c, "", false))
				})
			}
			t.Run("inherited/Prepare", func(t *testing.T) {
				t.Chdir(c.Dir)
				c.Check(t, startWorkDir(t, testNS(WithPrivateTmp()), c, "", true))
			})
			if c.InTmp {
				t.Run("Dir", func(t *testing.T) {
					c.Check(t, startWorkDir(t, testNS(WithPrivateTmp()), c, c.Dir, false))
				})
				// A relative attr.Dir is relative to the caller's
				// working directory, found again inside.
				t.Run("Dir-relative", func(t *testing.T) {
					t.Chdir(c.Dir)
					c.Check(t, startWorkDir(t, testNS(WithPrivateTmp()), c, ".", false))
				})
				return
			}
			// An explicit directory that is not there inside is an error.
			for _, prepare := range []bool{false, true} {
				n := testNS(WithPrivateTmp())
				attr := &os.ProcAttr{Dir: c.Dir}
				var err error
				if prepare {
					_, err = n.Prepare("/bin/true", nil, attr)
				} else {
					_, err = n.StartProcess("/bin/true", nil, attr)
				}
				var se *SetupError
				if !errors.As(err, &se) || se.Step != stepWorkDirName || !strings.Contains(err.Error(), c.Dir) || !errors.Is(err, syscall.ENOENT) {
					t.Errorf("Dir %s, not in the private /tmp (Prepare %v): %v; want a *SetupError of step %q naming it, wrapping ENOENT", c.Dir, prepare, err, stepWorkDirName)
				}
			}
			if ch := proctest.Children(); len(ch) != 0 {
				t.Errorf("children left: %v", ch)
			}
		})
	}
	checkMountsUnchanged(t, before)
}
