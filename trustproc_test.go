//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// forgedProc is the script of a target whose mount namespace has a tmpfs
// on /proc holding a forged process: /proc/self leads to it, and it
// claims every process for its parent.
const forgedProc = `mkdir /proc/1 /proc/1/ns && ln -s 1 /proc/self && echo forged > /proc/forged &&
printf 'Name:\tforged\nPid:\t1\nPPid:\t1\nNSpid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n' > /proc/1/status && exec sleep 1000`

var forgedProcFunc = Register("join-test-forged-proc", func(ctx context.Context, args []string) error {
	b, err := os.ReadFile("/proc/forged")
	if err != nil || string(b) != "forged\n" {
		return fmt.Errorf("not in the joined mount namespace with the forged /proc: %q %v", b, err)
	}
	return nil
})

// TestJoinForgedProc: a Go child's stage 2 in a joined mount namespace
// whose /proc is a forged tmpfs checks its parents through the caller's
// /proc, passed to it: the job runs, and the forgery is never read.
func TestJoinForgedProc(t *testing.T) {
	needUserNS(t)
	target, err := testNS(WithTmpfs("/proc")).StartProcess("/bin/sh", []string{"sh", "-c", forgedProc},
		&os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = target.Kill(); _, _ = target.Wait() }()
	p := strconv.Itoa(target.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + p + "/comm"); strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the target did not start")
		}
	}
	kinds := joinKinds(syscalls.Mount)
	if err := New(WithJoinProcess(target.Pid, kinds...)).Run(context.Background(), forgedProcFunc); err != nil {
		t.Errorf("Run in a mount namespace with a forged /proc: %v", err)
	}
	if err := New(WithJoinProcess(target.Pid, kinds...)).Command(context.Background(), "/bin/sh", "-c", "test \"$(cat /proc/forged)\" = forged").Run(); err != nil {
		t.Errorf("Command in a mount namespace with a forged /proc: %v", err)
	}
}

// passedProcProbe checks, in a mount namespace of its own, that a
// passed /proc is refused unless it is the root of a proc file system,
// and that a file mounted over a part of it is refused when read.
var passedProcProbe = Register("trust-test-passed-proc", func(ctx context.Context, args []string) error {
	defer endPassedProc()
	tmp, err := unix.Open("/tmp", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := usePassedProc(strconv.Itoa(tmp)); !errors.Is(err, errUntrusted) {
		return fmt.Errorf("a tmpfs passed as /proc: %v, want refused", err)
	}
	unix.Close(tmp)
	sub, err := unix.Open("/proc/self", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := usePassedProc(strconv.Itoa(sub)); !errors.Is(err, errUntrusted) {
		return fmt.Errorf("/proc/self passed as /proc: %v, want refused", err)
	}
	unix.Close(sub)
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := usePassedProc(strconv.Itoa(proc)); err != nil {
		return fmt.Errorf("the real /proc: %v", err)
	}
	if _, err := readSmallFile(procAt("self/status")); err != nil {
		return fmt.Errorf("self/status through the passed /proc: %v", err)
	}
	// A forged status mounted over this process's.
	forged := "/tmp/forged-status"
	if err := os.WriteFile(forged, []byte("PPid:\t1\n"), 0o600); err != nil {
		return err
	}
	target := "/proc/" + strconv.Itoa(os.Getpid()) + "/status"
	if err := unix.Mount(forged, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("SKIP: cannot mount over %s here: %v", target, err)
	}
	if _, err := readSmallFile(procAt("self/status")); !errors.Is(err, errUntrusted) {
		return fmt.Errorf("a status mounted over the passed /proc's: %v, want refused", err)
	}
	if _, err := procOpenDir(strconv.Itoa(os.Getpid())); err != nil {
		return fmt.Errorf("the process's directory, not itself mounted over: %v", err)
	}
	return nil
})

// TestPassedProc: the checks of a passed /proc (trustproc_linux.go).
func TestPassedProc(t *testing.T) {
	needUserNS(t)
	err := testNS(WithPrivateTmp()).Run(context.Background(), passedProcProbe)
	if err != nil && strings.Contains(err.Error(), "SKIP: ") {
		t.Skip(err)
	}
	if err != nil {
		t.Error(err)
	}
}

// TestProcVariableNotInherited: a program started with envProc in its
// environment (inherited, or set by whoever started it) does not hand it
// to its children as it does not the marker and the stage: a first-stage
// child refuses a passed /proc, so every job would fail.
func TestProcVariableNotInherited(t *testing.T) {
	t.Setenv(envProc, "3")
	if err := New().Run(context.Background(), benchNop); err != nil {
		t.Errorf("Run with %s in the caller's environment: %v", envProc, err)
	}
	if env := childEnv([]string{envProc + "=3", "A=b"}, "3:x"); slices.Contains(env, envProc+"=3") {
		t.Errorf("childEnv kept %s: %q", envProc, env)
	}
}
