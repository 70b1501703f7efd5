//go:build linux

package namespace

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linuxns/namespace/internal/proctest"
	"golang.org/x/sys/unix"
)

// Attacks on the trust boundary (trust.go) from the security review.

// envExecedParent makes the test binary the attacker of
// TestForgedJobFromExecedParent: "PROGRAM|WITNESS".
const envExecedParent = "LINUXNS_TEST_EXECED_PARENT"

// TestExecedParentAttacker is the attacker's process (uid 65534) of
// TestForgedJobFromExecedParent. It makes the socket pair itself, so that
// SO_PEERCRED names its pid, queues a forged job on it, forks a shell that
// waits for this process to execute the setuid program and then executes
// the setuid program with the marker, and executes the setuid program:
// the pid that made the socket is now the parent of the marked child, and
// runs the same program with the same credentials.
func TestExecedParentAttacker(t *testing.T) {
	v := os.Getenv(envExecedParent)
	if v == "" {
		t.Skip("helper of TestForgedJobFromExecedParent")
	}
	prog, rest, _ := strings.Cut(v, "|")
	witness, mode, _ := strings.Cut(rest, "|")
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0) // not close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	token := newToken()
	var buf bytes.Buffer
	j := job{Token: token, Role: roleFunc, Func: trustWitness.Name(), Args: []string{witness}}
	if err := writeFrame(&buf, &j); err != nil {
		t.Fatal(err)
	}
	// Only the processes given an end hold it.
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	if mode == "respond" {
		// A process of the attacker's holds the socket's other end and
		// answers the child's hello, as the parent would.
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		z := exec.Command(self, "-test.run=^TestExecedParentResponder$")
		z.Env = append(os.Environ(), envResponder+"="+token+"|"+witness)
		z.ExtraFiles = []*os.File{os.NewFile(uintptr(fds[0]), "maker-end")}
		z.Stderr = os.Stderr
		if err := z.Start(); err != nil {
			t.Fatal(err)
		}
	} else if _, err := unix.Write(fds[0], buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, envExecedParent+"=") {
			env = append(env, e)
		}
	}
	// The shell waits for EOF on the pipe: this process executed prog.
	y := exec.Command("/bin/sh", "-c", `cat <&4 >/dev/null; exec "$0" -test.run='^TestNothing$'`, prog)
	y.Env = append(env, envChild+"="+markerValue(3, token))
	y.ExtraFiles = []*os.File{os.NewFile(uintptr(fds[1]), "child-end"), os.NewFile(uintptr(p[0]), "wait")}
	y.Stdout = os.NewFile(3, "report") // the test's pipe: EOF when the child is done
	y.Stderr = y.Stdout
	if err := y.Start(); err != nil {
		t.Fatal(err)
	}
	unix.CloseOnExec(3)
	err = syscall.Exec(prog, []string{prog, "-test.run=^$"}, env)
	t.Fatalf("exec %s: %v", prog, err)
}

// envResponder makes the test binary the attacker's responder: "TOKEN|WITNESS".
const envResponder = "LINUXNS_TEST_RESPONDER"

// TestExecedParentResponder holds the socket's maker end (fd 3) for the
// attacker and answers the marked child's hello with a forged job carrying
// its nonce.
func TestExecedParentResponder(t *testing.T) {
	v := os.Getenv(envResponder)
	if v == "" {
		t.Skip("helper of TestForgedJobFromExecedParent")
	}
	token, witness, _ := strings.Cut(v, "|")
	syscall.SetNonblock(3, true)
	sock := os.NewFile(3, "maker-end")
	_ = sock.SetReadDeadline(time.Now().Add(time.Minute)) // never outlive the test
	for {
		var m message
		if err := readFrame(sock, &m); err != nil {
			return
		}
		if m.Type == msgHello {
			j := job{Token: token, Role: roleFunc, Func: trustWitness.Name(), Args: []string{witness}}
			_ = answerHello(sock, &j, m.Msg)
			return
		}
	}
}

// TestForgedJobFromExecedParent: uid 65534 makes a socket pair, forks, and
// executes a setuid-root program that uses this package (a copy of the test
// binary); the forked process executes the same program with the marker
// and the other end of the socket. The child's parent made the socket and
// runs the same program with the same credentials, so every check of
// trust.go passes, and the forged job runs as root.
func TestForgedJobFromExecedParent(t *testing.T) {
	if !asRoot() {
		t.Skip("making a setuid-root copy of the test binary needs root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := proctest.SharedDir(t, "/var/tmp", 0o755) // uid 65534 cannot write here
	prog := proctest.CopyProgram(t, self, dir, "setuid-copy", 0o755)
	attacker := proctest.CopyProgram(t, self, dir, "plain-copy", 0o755)
	for _, mode := range []string{"queued", "respond"} {
		t.Run("setuid/"+mode, func(t *testing.T) {
			if err := os.Chmod(prog, os.ModeSetuid|0o755); err != nil {
				t.Fatal(err)
			}
			forgeFromExecedParent(t, attacker, prog, filepath.Join(dir, "witness-setuid-"+mode), mode)
		})
	}
	t.Run("file capabilities", func(t *testing.T) {
		if err := os.Chmod(prog, 0o755); err != nil {
			t.Fatal(err)
		}
		// CAP_DAC_OVERRIDE: the job can write the witness in dir,
		// which uid 65534 cannot.
		if out, err := exec.Command("setcap", "cap_dac_override+ep", prog).CombinedOutput(); err != nil {
			t.Skipf("setcap: %v: %s", err, out)
		}
		for _, mode := range []string{"queued", "respond"} {
			forgeFromExecedParent(t, attacker, prog, filepath.Join(dir, "witness-caps-"+mode), mode)
		}
	})
}

// forgeFromExecedParent runs the attack: with mode "queued" the job waits
// on the socket before the child starts; with "respond" another process of
// the attacker's answers the child's hello.
func forgeFromExecedParent(t *testing.T, attacker, prog, witness, mode string) {

	// The executed program's standard output is a full pipe: it blocks
	// when it prints its result, staying alive (as any program that runs
	// for a moment does) until the test closes the read end.
	fullR, fullW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer fullR.Close()
	wfd := int(fullW.Fd()) // Fd makes the descriptor blocking
	_ = syscall.SetNonblock(wfd, true)
	chunk := make([]byte, 4096)
	for {
		if _, err := syscall.Write(wfd, chunk); err != nil {
			break
		}
	}
	_ = syscall.SetNonblock(wfd, false)
	reportR, reportW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}

	x := exec.Command(attacker, "-test.run=^TestExecedParentAttacker$")
	x.Env = append(os.Environ(), envExecedParent+"="+prog+"|"+witness+"|"+mode)
	x.Stdout = fullW
	var xerr bytes.Buffer
	x.Stderr = &xerr
	x.ExtraFiles = []*os.File{reportW}
	x.SysProcAttr = &syscall.SysProcAttr{
		// A mount namespace of the test's own: a forged set-up cannot
		// change the host's.
		Cloneflags: syscall.CLONE_NEWNS,
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}},
	}
	if err := x.Start(); err != nil {
		t.Fatal(err)
	}
	fullW.Close()
	reportW.Close()
	report, _ := io.ReadAll(reportR) // EOF: the marked child is gone
	reportR.Close()
	fullR.Close() // the executed program may finish now
	_ = x.Wait()

	if st, err := os.Stat(witness); err == nil {
		uid := st.Sys().(*syscall.Stat_t).Uid
		t.Errorf("a forged job from uid 65534 ran in the privileged program (the witness was written by uid %d); child's output:\n%s", uid, report)
	} else if why := map[string]string{"queued": "were waiting on the socket", "respond": "not from the parent"}[mode]; !strings.Contains(string(report), why) &&
		!strings.Contains(string(report), "made before the maker executed") { // setuid: refused at the parent check (TestSocketMadeBeforeSetuidExec)
		t.Errorf("the forged job did not run, but the child did not refuse it for %q:\n%s\nattacker:\n%s", why, report, xerr.String())
	}
}
