//go:build linux

package namespace

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// parentRaceEnv makes the test binary a helper of TestVerifyParentGone:
// "middle MODE" is the parent, which makes the socket pair, starts the
// victim with its end at descriptor 3, and exits when the victim writes a
// byte (or when the victim is done); "victim MODE" runs verifyParent on
// descriptor 3 and prints "accepted" or "refused: ERROR". MODE is "stay",
// "gone" (the victim asks its parent to exit, and waits until it has been
// reaped, between the checks of the parent and the last look at it),
// "zombie" (the same, but the parent is a zombie, not reaped, at the last
// look) or "unconnected" (descriptor 3 is a socket without a peer), with
// "-pidns" for a victim in a new PID namespace; "privstage-unconnected"
// is the privilege stage's check (verifyPrivStage) of such a socket.
const parentRaceEnv = "LINUXNS_TEST_PARENT_RACE"

// TestVerifyParentGone: a parent that exits after the child's checks of it
// is refused, whether its pid could be another process's by then (reaped)
// or not (a zombie, which no longer is the parent), whichever way
// verifyParent makes sure of the parent at the end: getppid (same PID
// namespace), the maker's pidfd (a new PID namespace, Linux 6.5 and later)
// or the parent's pid read again from /proc (a new PID namespace on older
// kernels). A socket without a peer, whose SO_PEERCRED pid is 0 as a
// parent's outside the PID namespace is, is refused too, by the privilege
// stage's check as well. A parent that stays is accepted, so the test can
// fail.
func TestVerifyParentGone(t *testing.T) {
	for _, mode := range []string{"stay", "gone", "zombie", "unconnected", "stay-pidns", "gone-pidns", "zombie-pidns", "unconnected-pidns", "privstage-unconnected"} {
		t.Run(mode, func(t *testing.T) {
			if strings.HasSuffix(mode, "-pidns") && os.Geteuid() != 0 && !userNSAvailable() {
				t.Skip("a new PID namespace needs root or an unprivileged user namespace")
			}
			out := runParentRace(t, mode)
			want, why := "accepted", ""
			switch {
			case strings.Contains(mode, "unconnected"):
				want, why = "refused: ", "has no peer"
			case !strings.HasPrefix(mode, "stay"):
				want = "refused: "
			}
			if !strings.HasPrefix(out, want) {
				t.Fatalf("verifyParent, %s: %q, want %q...", mode, out, want)
			}
			if why != "" && !strings.Contains(out, why) {
				t.Errorf("refused for another reason: %q, want %q", out, why)
			}
		})
	}
}

// runParentRace starts the middle process for mode, reaps it when it
// exits, and returns what the victim printed.
func runParentRace(t *testing.T, mode string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), parentRaceEnv+"=middle "+mode)
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatal(err)
	}
	w.Close()
	waited := make(chan error, 1)
	if strings.HasPrefix(mode, "zombie") {
		// Reaped only once the victim is done: a zombie until then.
		defer func() { _ = cmd.Wait() }()
	} else {
		go func() { waited <- cmd.Wait() }() // reaps the middle as soon as it exits
	}
	_ = r.SetReadDeadline(time.Now().Add(30 * time.Second))
	out, err := io.ReadAll(r)
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("reading the victim's report: %v (so far %q)", err, out)
	}
	if !strings.HasPrefix(mode, "zombie") {
		if err := <-waited; err != nil {
			t.Fatalf("middle: %v", err)
		}
	}
	return strings.TrimSpace(string(out))
}

// parentRaceHelper is the middle or the victim of TestVerifyParentGone.
func parentRaceHelper(v string) {
	role, mode, _ := strings.Cut(v, " ")
	if role == "victim" {
		parentRaceVictim(strings.TrimSuffix(mode, "-pidns"))
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil && strings.Contains(mode, "unconnected") {
		unix.Close(fds[1])
		fds[1], err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		fmt.Printf("middle: socket: %v\n", err)
		os.Exit(1)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), parentRaceEnv+"=victim "+mode)
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(fds[1]), "victim-end")}
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if strings.HasSuffix(mode, "-pidns") {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
		if os.Geteuid() != 0 {
			cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
			cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
	}
	if err := cmd.Start(); err != nil {
		fmt.Printf("middle: start the victim: %v\n", err)
		os.Exit(1)
	}
	unix.Close(fds[1])
	var b [1]byte
	if n, _ := unix.Read(fds[0], b[:]); n == 1 {
		os.Exit(0) // asked to go, the victim still running
	}
	_ = cmd.Wait()
	os.Exit(0)
}

// parentRaceVictim checks its parent with verifyParent; with mode "gone"
// or "zombie", it has the parent exit between the checks and the last
// look, and waits until the parent is reaped, or until it has been handed
// to another parent and every other thread of the parent is gone (the
// parent a whole zombie: while its last threads end, its pidfd does not
// poll readable yet, though its children have been handed on).
func parentRaceVictim(mode string) {
	verifyParentHook = func(ppid int) {
		if mode != "gone" && mode != "zombie" {
			return
		}
		if _, err := unix.Write(3, []byte{1}); err != nil {
			fmt.Printf("victim: write: %v\n", err)
			os.Exit(1)
		}
		dir := fmt.Sprintf("/proc/%d", ppid) // the host's /proc: none is mounted here
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			if mode == "gone" {
				if _, err := os.Stat(dir); os.IsNotExist(err) {
					return
				}
			} else if b, err := os.ReadFile(dir + "/status"); err == nil && strings.Contains(string(b), "\nState:\tZ") && strings.Contains(string(b), "\nThreads:\t1\n") {
				if self, err := os.ReadFile("/proc/self/status"); err == nil {
					if again, _ := statusField(self, "PPid:"); again != strconv.Itoa(ppid) {
						return
					}
				}
			}
			if time.Now().After(deadline) {
				fmt.Println("victim: the parent did not go")
				os.Exit(1)
			}
		}
	}
	var p *parentProc
	var err error
	if mode == "privstage-unconnected" {
		// The privilege stage's check, whose fallback (a process that
		// gained nothing) compares SO_PEERCRED's pid with the one the
		// stage names: 0 here, as an unconnected socket gives.
		p, err = verifyPrivStage(3, "1:0")
	} else {
		p, err = verifyParent(3, 1)
	}
	if err != nil {
		fmt.Printf("refused: %v\n", err)
	} else {
		if p.dir >= 0 {
			unix.Close(p.dir)
		}
		fmt.Println("accepted")
	}
	os.Exit(0)
}
