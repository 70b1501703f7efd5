//go:build linux

package namespace

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// TestCgroupParentPathSwapped: the cgroup parent is named through a path
// that someone else can change (a symbolic link in /tmp). Once the child
// is born, the link is pointed at a directory of files that look like a
// cgroup's. When the child ends, the clean-up must act on the cgroup it
// made, not on whatever the path names then: it must not write "1" into
// the file that a fake cgroup.kill links to, nor SIGKILL the pid that a
// fake cgroup.procs lists (with the caller's privilege: as root, any
// process), and it must remove the cgroup it made.
func TestCgroupParentPathSwapped(t *testing.T) {
	parent := cgroupParentFor(t)
	for _, how := range []string{"cgroup.kill", "cgroup.procs"} {
		t.Run(how, func(t *testing.T) {
			tmp := t.TempDir()
			link := filepath.Join(tmp, "parent")
			if err := os.Symlink(parent, link); err != nil {
				t.Fatal(err)
			}
			victim := exec.Command("sleep", "1000")
			if err := victim.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = victim.Process.Kill(); _ = victim.Wait() }()
			victimFile := filepath.Join(tmp, "victim")
			if err := os.WriteFile(victimFile, []byte("untouched"), 0o600); err != nil {
				t.Fatal(err)
			}

			p, err := testNS(WithCgroupParent(link)).StartProcess("/bin/sleep", []string{"sleep", "1000"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			made := cgroupChildren(t, parent)
			if len(made) != 1 {
				_ = p.Kill()
				_, _ = p.Wait()
				t.Fatalf("cgroups made under %s: %v, want one", parent, made)
			}
			real := made[0]
			defer func() { // whatever happens, nothing is left on the host
				if _, err := os.Stat(real); err == nil {
					_ = os.WriteFile(filepath.Join(real, "cgroup.kill"), []byte("1"), 0)
					time.Sleep(100 * time.Millisecond)
					_ = unix.Rmdir(real)
				}
			}()

			// The fake cgroup, under the same name, and the link turned to it.
			fake := filepath.Join(tmp, "fake")
			fakeCg := filepath.Join(fake, filepath.Base(real))
			if err := os.MkdirAll(fakeCg, 0o755); err != nil {
				t.Fatal(err)
			}
			write := func(name, s string) {
				if err := os.WriteFile(filepath.Join(fakeCg, name), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("cgroup.events", "populated 1\nfrozen 0\n")
			if how == "cgroup.kill" {
				if err := os.Symlink(victimFile, filepath.Join(fakeCg, "cgroup.kill")); err != nil {
					t.Fatal(err)
				}
			} else { // no cgroup.kill: the older kernels' way, freeze and kill the listed
				write("cgroup.freeze", "0\n")
				write("cgroup.procs", strconv.Itoa(victim.Process.Pid)+"\n")
			}
			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(fake, link); err != nil {
				t.Fatal(err)
			}
			// Once the clean-up has done its harm, the fake says it is empty,
			// so that it does not wait 10 s.
			stop, stopped := make(chan struct{}), make(chan struct{})
			defer func() { close(stop); <-stopped }() // before the victim is ended
			go func() {
				defer close(stopped)
				for {
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					b, _ := os.ReadFile(victimFile)
					if st := proctest.State(victim.Process.Pid); st == 'Z' || st == 0 || !bytes.Equal(b, []byte("untouched")) {
						_ = os.WriteFile(filepath.Join(fakeCg, "cgroup.events"), []byte("populated 0\nfrozen 0\n"), 0o644)
						return
					}
				}
			}()

			_ = p.Kill()
			_, _ = p.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			u, err := ProcessCgroup(ctx, p)
			if b, _ := os.ReadFile(victimFile); !bytes.Equal(b, []byte("untouched")) {
				t.Errorf("the clean-up wrote into %s through the fake %s/cgroup.kill: it holds %q", victimFile, fakeCg, b)
			}
			if st := proctest.State(victim.Process.Pid); st == 'Z' || st == 0 {
				t.Errorf("the clean-up killed pid %d, listed in the fake %s/cgroup.procs", victim.Process.Pid, fakeCg)
			}
			if _, serr := os.Stat(real); serr == nil {
				t.Errorf("the cgroup %s that the child was born in is left (ProcessCgroup: %+v, %v)", real, u, err)
			} else if err != nil {
				t.Errorf("ProcessCgroup: %v", err)
			}
		})
	}
}

// TestCgroupNameTaken: the name the next cgroup would get is taken in the
// parent already (another process with this pid, in another PID
// namespace, shares the parent, or someone made it). The child is still
// born in a cgroup of its own, made under another name, and the taken
// directory is left alone.
func TestCgroupNameTaken(t *testing.T) {
	parent := cgroupParentFor(t)
	taken := filepath.Join(parent, cgroupName(cgroupSeq.Load()+1))
	if err := os.Mkdir(taken, 0o755); err != nil {
		t.Skipf("cannot make a cgroup for the test: %v", err)
	}
	defer unix.Rmdir(taken)
	ns := testNS(WithCgroupParent(parent))
	p, err := ns.StartProcess("/bin/true", []string{"true"}, nil)
	if err != nil {
		t.Fatalf("StartProcess with the name %s taken: %v", taken, err)
	}
	_, _ = p.Wait()
	u, err := ProcessCgroup(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path == taken {
		t.Errorf("the child's cgroup is the taken %s", taken)
	}
	if _, err := os.Stat(taken); err != nil {
		t.Errorf("the taken directory %s: %v, want it left alone", taken, err)
	}
	if _, err := os.Stat(u.Path); err == nil {
		t.Errorf("the child's cgroup %s is left", u.Path)
	}
}

// TestCgroupChildLocksItsCgroup: the child owns its cgroup as the caller
// does (same uid, or root in a user namespace mapped to it) and takes the
// write permission off it and off a cgroup it made below it. The cgroups
// are removed all the same when it ends.
func TestCgroupChildLocksItsCgroup(t *testing.T) {
	parent := cgroupParentFor(t)
	mnt := cgroupMount(t)
	script := `cg=` + mnt + `$(sed -n 's/^0:://p' /proc/self/cgroup)
mkdir "$cg/sub" && mkdir "$cg/sub/sub" && chmod 500 "$cg/sub" "$cg" && echo locked`
	p, err := testNS(WithCgroupParent(parent)).StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Wait()
	u, err := ProcessCgroup(context.Background(), p)
	if _, serr := os.Stat(u.Path); serr == nil {
		defer func() { // nothing left on the host
			_ = os.Chmod(u.Path, 0o755)
			_ = os.Chmod(filepath.Join(u.Path, "sub"), 0o755)
			_ = unix.Rmdir(filepath.Join(u.Path, "sub", "sub"))
			_ = unix.Rmdir(filepath.Join(u.Path, "sub"))
			_ = unix.Rmdir(u.Path)
		}()
		t.Errorf("the cgroup %s is left after the child locked it (ProcessCgroup: %v)", u.Path, err)
	} else if err != nil {
		t.Error(err)
	}
}
