//go:build linux

package namespace

import (
	"bytes"
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
	"time"

	"github.com/linuxns/namespace/internal/proctest"
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
	dir := proctest.SharedDir(t, "/var/tmp", 0o777)
	bins := map[string]string{"setuid": proctest.CopyProgram(t, self, dir, "setuid-copy", os.ModeSetuid|0o755)}
	if capsBin, err := fileCapsCopy(t, self, dir); err != nil {
		t.Logf("no file-capabilities copy (%v): that case is not run", err)
	} else {
		bins["file caps"] = capsBin
	}
	hostname, _ := os.Hostname()
	mounts := hostMounts(t)

	forgedPlan := plan{Steps: []step{{Kind: stepRPrivate, Target: "/", Flags: syscall.MS_REC | syscall.MS_PRIVATE},
		{Kind: stepHostname, Data: "forged"}, {Kind: stepTmpfs, Target: "/tmp", Data: "mode=0777"}}}
	for priv, bin := range bins {
		for _, kind := range []string{"exec", "function", "setup"} {
			for _, via := range []string{"test process", "unprivileged shell"} {
				t.Run(priv+"/"+kind+" via "+via, func(t *testing.T) {
					witness := filepath.Join(dir, strings.ReplaceAll(priv+"-"+kind+"-"+via, " ", "-"))
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
		if err := answerHello(parentEnd, &j, awaitHello(t, parentEnd)); err != nil {
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

// fileCapsCopy copies the test binary into dir with the file capability
// CAP_SYS_ADMIN (setcap(8)), as a program that uses the library without
// being setuid would be installed.
func fileCapsCopy(t *testing.T, self, dir string) (string, error) {
	setcap, err := exec.LookPath("setcap")
	if err != nil {
		return "", err
	}
	bin := proctest.CopyProgram(t, self, dir, "filecaps-copy", 0o755)
	if out, err := exec.Command(setcap, "cap_sys_admin+ep", bin).CombinedOutput(); err != nil {
		return "", fmt.Errorf("setcap: %v: %s", err, out)
	}
	return bin, nil
}

// envFileCapsProbe makes TestFileCapsRunProbe run.
const envFileCapsProbe = "LINUXNS_TEST_FILECAPS_PROBE"

// TestFileCapsRunProbe is the main of TestPrivilegedProgramRuns' program.
func TestFileCapsRunProbe(t *testing.T) {
	if os.Getenv(envFileCapsProbe) == "" {
		t.Skip("helper of TestPrivilegedProgramRuns")
	}
	// With a mount namespace: the child keeps the program's privilege
	// (it executes the program by its path in its own mount namespace).
	if err := New(WithPrivateMount(), WithPrivateTmp(), WithPrivateUTS(), WithHostname("privileged")).Run(context.Background(), trustWitness, filepath.Join(os.Getenv(envFileCapsProbe), "ran-as-child")); err != nil {
		t.Fatalf("Run in a program with gained privilege: %v", err)
	}
	out, err := New(WithPrivateMount(), WithPrivateTmp()).Command(context.Background(), "/bin/sh", "-c", "stat -f -c %T /tmp").Output()
	if err != nil || strings.TrimSpace(string(out)) != "tmpfs" {
		t.Fatalf("Command in a program with gained privilege: %v, %q", err, out)
	}
}

// TestPrivilegedProgramRuns: a program installed setuid root, or with file
// capabilities (not dumpable, so its child cannot read its executable), and
// started by an unprivileged user still runs its own jobs, with a mount
// namespace: the child is the same program with the same credentials, and
// keeps the privilege.
func TestPrivilegedProgramRuns(t *testing.T) {
	if !asRoot() {
		t.Skip("setting file capabilities needs root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := proctest.SharedDir(t, "/var/tmp", 0o777)
	bins := map[string]string{}
	if bin, err := fileCapsCopy(t, self, dir); err != nil {
		t.Logf("no file-capabilities copy: %v", err)
	} else {
		bins["file caps"] = bin
	}
	bins["setuid"] = proctest.CopyProgram(t, self, dir, "setuid-copy", os.ModeSetuid|0o755)
	for name, bin := range bins {
		os.Remove(filepath.Join(dir, "ran-as-child"))
		cmd := exec.Command(bin, "-test.run=^TestFileCapsRunProbe$", "-test.v")
		cmd.Env = append(os.Environ(), envFileCapsProbe+"="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestFileCapsRunProbe") {
			t.Errorf("%s: %v\n%s", name, err, out)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "ran-as-child")); err != nil {
			t.Errorf("%s: the function did not run: %v", name, err)
		}
	}
}

// awaitHello reads a child's frames on r until its hello, as a parent
// does, and returns the hello's nonce.
func awaitHello(t *testing.T, r io.Reader) string {
	t.Helper()
	for {
		var m message
		if err := readFrame(r, &m); err != nil {
			t.Fatalf("no hello from the child: %v", err)
		}
		if m.Type == msgHello {
			return m.Msg
		}
	}
}
