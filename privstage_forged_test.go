//go:build linux

package namespace

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestForgedPrivStage: a user who starts a program with elevated
// privilege (setuid root, or a file capability: AT_SECURE with the same
// ids) that embeds the package, with the privilege stage's variables and a
// socket of their own, has no job run: verifyPrivStage's fallback is for
// a process that gained nothing at its execution. The same program
// without the privilege (the control) asks the forger for its job: the
// fallback is reached, so a refusal above is the privilege check's.
func TestForgedPrivStage(t *testing.T) {
	if !asRoot() {
		t.Skip("needs root: makes a setuid-root and a file-capability program and runs them as uid 65534")
	}
	dir, b := suidDir(t, "linuxns-forged-priv-")
	for _, c := range []struct {
		name    string
		prepare func(path string) error
		elev    bool
	}{
		{"plain", func(string) error { return nil }, false},
		{"setuid", func(p string) error { return os.Chmod(p, os.ModeSetuid|0o755) }, true},
		{"filecap", func(p string) error {
			// vfs_cap_data revision 2, effective: CAP_NET_BIND_SERVICE
			// permitted (security.capability, as setcap writes it).
			var v [20]byte
			binary.LittleEndian.PutUint32(v[0:], 0x02000000|1)
			binary.LittleEndian.PutUint32(v[4:], 1<<unix.CAP_NET_BIND_SERVICE)
			return unix.Setxattr(p, "security.capability", v[:], 0)
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if err := os.WriteFile(path, b, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := c.prepare(path); err != nil {
				t.Skipf("cannot give %s its privilege here: %v", c.name, err)
			}
			asked, out := forgePrivStage(t, path)
			if c.elev && asked {
				t.Fatalf("a forged privilege stage in a %s program asked the forger for its job (the fallback accepted it):\n%s", c.name, out)
			}
			if !c.elev && !asked {
				t.Fatalf("control: the forged stage in a program without privilege did not reach the fallback:\n%s", out)
			}
			if c.elev && !strings.Contains(out, "refused the job") {
				t.Errorf("want a refusal, got:\n%s", out)
			}
		})
	}
}

// forgePrivStage starts path as uid 65534 with the privilege stage's
// variables naming a socket of this process, and reports whether the
// program asked for a job on it, and what it said.
func forgePrivStage(t *testing.T, path string) (bool, string) {
	t.Helper()
	parent, childEnd, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	var out bytes.Buffer
	cmd := exec.Command(path, "run")
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		envChild + "=" + markerValue(3, newToken()),
		envStage + "=" + stagePriv + "1:" + strconv.Itoa(os.Getpid()),
	}
	cmd.ExtraFiles = []*os.File{childEnd}
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Start(); err != nil {
		childEnd.Close()
		t.Fatal(err)
	}
	childEnd.Close()
	// The job is asked for with a hello frame at once; a refusal closes
	// the socket (EOF).
	_ = parent.SetReadDeadline(time.Now().Add(20 * time.Second))
	var buf [1]byte
	n, rerr := parent.Read(buf[:])
	parent.Close()
	_ = cmd.Wait()
	if rerr != nil && rerr != io.EOF {
		t.Fatalf("read the socket: %v\n%s", rerr, out.String())
	}
	return n > 0, out.String()
}

// forgerSrc is a process that makes a socket pair as uid 65534, forks a
// child that waits for a FIFO and then executes the setuid program with
// the child marker on the socket, and executes the same setuid program
// itself: it becomes the child's parent, running the same program with
// the same credentials, and the socket's maker (its pid did not change).
const forgerSrc = `package main

import (
	"os"
	"strconv"
	"syscall"
)

func main() {
	prog, fifo, token := os.Args[1], os.Args[2], os.Args[3]
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "_LINUXNS_CHILD=3:" + token, "_LINUXNS_STAGE=2"}
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "read x < \"$0\"; exec \"$1\" run", fifo, prog},
		&syscall.ProcAttr{Env: env, Files: []uintptr{0, 1, 1, uintptr(fds[1])}})
	if err != nil {
		panic(err)
	}
	os.Stdout.WriteString(strconv.Itoa(pid) + "\n")
	panic(syscall.Exec(prog, []string{prog}, []string{"PATH=/usr/bin:/bin"}))
}
`

// TestSocketMadeBeforeSetuidExec: a socket made by a process before it
// executed a setuid program is not the job socket of that program's
// child, though the maker is now the child's parent running the same
// program with the same credentials (a setuid launcher that then
// executes the user's command as the same pid would let that command
// send the job, run with the program's privilege).
func TestSocketMadeBeforeSetuidExec(t *testing.T) {
	if !asRoot() {
		t.Skip("needs root: makes a setuid-root program and runs it as uid 65534")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found to build the forger")
	}
	dir, b := suidDir(t, "linuxns-forged-maker-")
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prog, os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "forger.go"), []byte(forgerSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	forger := filepath.Join(dir, "forger")
	build := exec.Command(goBin, "build", "-o", forger, filepath.Join(dir, "forger.go"))
	build.Dir = dir
	build.Env = append(os.Environ(), "GO111MODULE=off", "CGO_ENABLED=0")
	if o, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the forger: %v\n%s", err, o)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	// The maker, once it executes the setuid program, blocks writing its
	// usage to a full pipe: it stays the child's parent.
	var full [2]int
	if err := unix.Pipe2(full[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	fullR, fullW := os.NewFile(uintptr(full[0]), "full-r"), os.NewFile(uintptr(full[1]), "full-w")
	defer fullR.Close()
	for chunk := make([]byte, 4096); ; {
		if _, err := unix.Write(full[1], chunk); err != nil {
			break
		}
	}
	// The forger's child is orphaned when the forger is killed: this
	// process reaps it (a subreaper for the test's time).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) }()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	cmd := exec.Command(forger, prog, fifo, newToken())
	cmd.Stdout, cmd.Stderr = outW, fullW
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	fullW.Close()
	var childPid int
	defer func() {
		if childPid > 0 {
			_ = unix.Kill(childPid, unix.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if childPid > 0 {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(childPid, &ws, 0, nil) // orphaned to this subreaper
		}
	}()
	_ = outR.SetReadDeadline(time.Now().Add(20 * time.Second))
	var line [16]byte
	n, err := outR.Read(line[:])
	if err != nil {
		t.Fatalf("the forger's child: %v", err)
	}
	if childPid, err = strconv.Atoi(strings.TrimSpace(string(line[:n]))); err != nil {
		t.Fatalf("the forger's child: %q", line[:n])
	}
	// Wait until the maker runs the setuid program, with its privilege.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe")
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
		if exe == prog && strings.Contains(string(st), "\nUid:\t65534\t0\t0\t0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the maker did not execute the setuid program: %q\n%s", exe, st)
		}
	}
	if err := os.WriteFile(fifo, []byte("go\n"), 0); err != nil {
		t.Fatal(err)
	}
	// A refusal is said at once; a child that took the maker for its
	// parent waits silently for its job.
	_ = outR.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out []byte
	for buf := make([]byte, 4096); !bytes.Contains(out, []byte("refused the job")); {
		n, err := outR.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	t.Logf("%s", out)
	if !strings.Contains(string(out), "refused the job") {
		t.Fatalf("the setuid program's child took a socket made before its parent executed the program (it waits for a job from it); it said: %q", out)
	}
}

// suidDir makes a directory that uid 65534 may enter, removed when the
// test ends, for programs made setuid or given file capabilities, and
// returns it with the bytes of the test program "noinit" to copy there. It
// skips where the directory's file system ignores setuid bits and file
// capabilities (nosuid): nothing executed there gains privilege.
func suidDir(t *testing.T, pattern string) (string, []byte) {
	t.Helper()
	src := testBinary(t, "noinit")
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Flags&unix.ST_NOSUID != 0 {
		t.Skipf("%s is on a nosuid file system: a program there gains no privilege", dir)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return dir, b
}
