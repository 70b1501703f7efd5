package namespace

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linuxns/namespace/syscalls"
)

// trustWitness is the function a forged job asks for: it leaves a file.
var trustWitness = Register("trust-witness", func(ctx context.Context, args []string) error {
	return os.WriteFile(args[0], []byte("the forged job ran\n"), 0o644)
})

// envTrustWitness names the witness file that TestTrustSetupWitness writes
// if Setup returned nil in a forged child.
const envTrustWitness = "LINUXNS_TEST_TRUST_WITNESS"

// TestTrustSetupWitness is the program's main for a forged Setup job (run by
// TestForgedJobSetuid): if Setup returns nil, the forged job was taken.
func TestTrustSetupWitness(t *testing.T) {
	path := os.Getenv(envTrustWitness)
	if path == "" {
		t.Skip("helper of TestForgedJobSetuid")
	}
	if err := New(WithPrivateTmp(), WithHostname("forged")).Setup(); err == nil && child.setup {
		_ = os.WriteFile(path, []byte("Setup returned nil in a forged child\n"), 0o644)
	}
}

// TestForgedJobSetuid starts a setuid-root copy of the test binary as uid
// 65534 with a forged marker, token, socket and job for each kind of job,
// from the test process itself and from an unprivileged shell: nothing of
// the job runs, the child says why and exits 125, and the mount table and
// hostname are untouched. (The attack runs in a mount and UTS namespace
// the test makes, so that even a failing test cannot change the host.)
func TestForgedJobSetuid(t *testing.T) {
	if !asRoot() {
		t.Skip("making a setuid-root copy of the test binary needs root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Under /var/tmp: a file system that honours setuid, and outside the
	// /tmp that a forged set-up would cover.
	dir, err := os.MkdirTemp("/var/tmp", "linuxns-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "setuid-copy")
	if err := copyFile(self, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	hostname, _ := os.Hostname()
	mounts := hostMounts(t)

	forgedPlan := plan{Steps: []step{{Kind: stepRPrivate, Target: "/", Flags: syscall.MS_REC | syscall.MS_PRIVATE},
		{Kind: stepHostname, Data: "forged"}, {Kind: stepTmpfs, Target: "/tmp", Data: "mode=0777"}}}
	for _, kind := range []string{"exec", "function", "setup"} {
		for _, via := range []string{"test process", "unprivileged shell"} {
			t.Run(kind+" via "+via, func(t *testing.T) {
				witness := filepath.Join(dir, strings.ReplaceAll(kind+"-"+via, " ", "-"))
				token := newToken()
				var j job
				switch kind {
				case "exec":
					j = job{Token: token, Role: roleExec, Plan: forgedPlan, Path: "/bin/sh", Argv: []string{"sh", "-c", "echo ran > " + witness}}
				case "function":
					j = job{Token: token, Role: roleFunc, Plan: forgedPlan, Func: trustWitness.Name(), Args: []string{witness}}
				case "setup":
					j = job{Token: token, Role: roleSetup, Plan: forgedPlan}
				}
				parentEnd, childEnd, err := socketPair()
				if err != nil {
					t.Fatal(err)
				}
				defer parentEnd.Close()
				args := []string{"-test.run=^TestTrustSetupWitness$"}
				var cmd *exec.Cmd
				if via == "test process" {
					cmd = exec.Command(bin, args...)
				} else {
					// The shell forks the copy: its parent is the attacker.
					cmd = exec.Command("/bin/sh", "-c", `"$0" "$@"; echo "exit=$?"`, bin, args[0])
				}
				cmd.Env = append(os.Environ(), envChild+"="+markerValue(3, token), envTrustWitness+"="+witness)
				cmd.ExtraFiles = []*os.File{childEnd}
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				cmd.SysProcAttr = &syscall.SysProcAttr{
					Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
					Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}},
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				childEnd.Close()
				if err := writeFrame(parentEnd, &j); err != nil && !errors.Is(err, syscall.EPIPE) {
					t.Errorf("write the forged job: %v", err)
				}
				// Keep the socket open for the child's reports, as a
				// parent would, until the child is gone.
				_ = parentEnd.SetReadDeadline(time.Now().Add(time.Minute))
				_, _ = io.Copy(io.Discard, parentEnd)
				waitErr := cmd.Wait()
				code := cmd.ProcessState.ExitCode()
				if via != "test process" {
					code = -1
					if strings.Contains(out.String(), "exit=125") {
						code = 125
					}
				}
				if code != 125 || !strings.Contains(out.String(), "refused the job") {
					t.Errorf("forged %s job: exit %d (%v), want 125 and a refusal on stderr:\n%s", kind, code, waitErr, out.String())
				}
				if _, err := os.Stat(witness); err == nil {
					t.Errorf("forged %s job: it ran (witness %s exists):\n%s", kind, witness, out.String())
				}
			})
		}
	}
	if h, _ := os.Hostname(); h != hostname {
		t.Errorf("hostname changed: %q -> %q", hostname, h)
	}
	checkMountsUnchanged(t, mounts)
}

// TestChildRefusesSharedNamespaces gives a child (started by its true
// parent, so trusted) a job that asks for namespaces the clone did not
// make: it refuses before reporting the set-up done.
func TestChildRefusesSharedNamespaces(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, flags := range []uintptr{syscalls.CLONE_NEWIPC, syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWNET} {
		parentEnd, childEnd, err := socketPair()
		if err != nil {
			t.Fatal(err)
		}
		token := newToken()
		cmd := exec.Command(self, "-test.run=^TestNothing$")
		cmd.Env = append(os.Environ(), envChild+"="+markerValue(3, token))
		cmd.ExtraFiles = []*os.File{childEnd}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		childEnd.Close()
		j := job{Token: token, Role: roleSetup, Plan: plan{Flags: flags, ParentNS: parentNamespaces(flags)}}
		if err := writeFrame(parentEnd, &j); err != nil {
			t.Fatal(err)
		}
		_ = parentEnd.SetReadDeadline(time.Now().Add(time.Minute))
		rep := readReport(parentEnd, nil)
		parentEnd.Close()
		_ = cmd.Wait()
		if rep.ready || rep.failure == nil || rep.failure.Step != "check namespaces" || cmd.ProcessState.ExitCode() != 125 {
			t.Errorf("flags %#x: ready=%v failure=%+v exit %d; want the step \"check namespaces\" and 125:\n%s",
				flags, rep.ready, rep.failure, cmd.ProcessState.ExitCode(), out.String())
		}
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
