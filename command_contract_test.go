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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Command keeps the contract of os/exec: every exec.Cmd field behaves as
// documented there.

func TestCommandEnvAsOSExec(t *testing.T) {
	n := testNS(WithPrivateUTS())
	ctx := context.Background()

	// Replaced: the command gets exactly that environment.
	cmd := n.Command(ctx, "/usr/bin/env")
	cmd.Env = []string{"ONLY=1", "BYTES=\xff\xfe"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Env replaced: %v", err)
	}
	if got := string(out); got != "ONLY=1\nBYTES=\xff\xfe\n" {
		t.Errorf("Env replaced: the command's environment is %q, want exactly ONLY=1 and BYTES", got)
	}

	// Appended to os.Environ(), as os/exec's documentation shows.
	cmd = n.Command(ctx, "/usr/bin/env")
	cmd.Env = append(os.Environ(), "ADDED=yes")
	if out, err = cmd.Output(); err != nil {
		t.Fatalf("Env appended: %v", err)
	}
	if !strings.Contains(string(out), "\nADDED=yes\n") || !strings.Contains(string(out), "PATH=") {
		t.Errorf("Env appended: %q", out)
	}

	// Nil: the current environment, with PWD for Dir, as os/exec does.
	cmd = n.Command(ctx, "/usr/bin/env")
	cmd.Dir = "/"
	if out, err = cmd.Output(); err != nil {
		t.Fatalf("Env nil: %v", err)
	}
	if !strings.Contains(string(out), "PATH=") || !strings.Contains(string(out), "PWD=/\n") || strings.Contains(string(out), envChild) {
		t.Errorf("Env nil: %q", out)
	}
	// The fields are as the caller left them after Start.
	if cmd.Env != nil || cmd.ExtraFiles != nil || cmd.SysProcAttr != nil {
		t.Errorf("after Start: Env %q, ExtraFiles %v, SysProcAttr %+v; want the caller's (nil)", cmd.Env, cmd.ExtraFiles, cmd.SysProcAttr)
	}
}

func TestCommandExtraFilesAsOSExec(t *testing.T) {
	var readers []*os.File
	var writers []*os.File
	for range 3 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		readers = append(readers, r)
		writers = append(writers, w)
	}
	cmd := testNS(WithPrivateMount()).Command(context.Background(), "/bin/sh", "-c",
		`echo three >&3; echo four >&4; echo five >&5; for fd in 6 7 8 9; do [ -e /proc/self/fd/$fd ] && echo "fd $fd open"; done; exit 0`)
	cmd.ExtraFiles = writers
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for _, w := range writers {
		w.Close()
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for i, want := range []string{"three\n", "four\n", "five\n"} {
		got, _ := io.ReadAll(readers[i])
		if string(got) != want {
			t.Errorf("ExtraFiles[%d] (descriptor %d): got %q, want %q", i, 3+i, got, want)
		}
	}
	if out.Len() > 0 {
		t.Errorf("the command has descriptors it was not given: %s", out.String())
	}
	if len(cmd.ExtraFiles) != 3 {
		t.Errorf("ExtraFiles after Start: %d entries, want the caller's 3", len(cmd.ExtraFiles))
	}
}

func TestCommandSysProcAttrAsOSExec(t *testing.T) {
	ctx := context.Background()
	n := testNS(WithHostname("attr-test"))
	// Fields that do not make namespaces are honoured, in a struct of the
	// caller's own; the namespaces are still made.
	cmd := n.Command(ctx, "/bin/sh", "-c", `set -- $(cat /proc/$$/stat); echo "pid=$1 sid=$6"; cat /proc/sys/kernel/hostname`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var pid, sid int
	var host string
	if _, err := fmt.Sscanf(string(out), "pid=%d sid=%d\n%s", &pid, &sid, &host); err != nil || pid != sid || host != "attr-test" {
		t.Errorf("Setsid in the caller's SysProcAttr: %q (want its own session and hostname attr-test)", out)
	}
	if !cmd.SysProcAttr.Setsid || cmd.SysProcAttr.Cloneflags != 0 {
		t.Errorf("the caller's SysProcAttr was changed: %+v", cmd.SysProcAttr)
	}

	// Fields that make namespaces conflict: Start says which, and starts
	// nothing.
	for field, attr := range map[string]*syscall.SysProcAttr{
		"Cloneflags":   {Cloneflags: syscall.CLONE_NEWNET},
		"Unshareflags": {Unshareflags: syscall.CLONE_NEWNS},
		"UidMappings":  {UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}},
		"Chroot":       {Chroot: "/"},
	} {
		cmd := n.Command(ctx, "/bin/true")
		cmd.SysProcAttr = attr
		err := cmd.Start()
		if err == nil {
			_ = cmd.Wait()
			t.Errorf("SysProcAttr.%s: Start succeeded", field)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "SysProcAttr."+field) {
			t.Errorf("SysProcAttr.%s: %v; want ErrInvalid naming the field", field, err)
		}
		if cmd.Process != nil {
			t.Errorf("SysProcAttr.%s: a process was started", field)
		}
	}
}

// TestCommandCredentialAndPgid: SysProcAttr.Credential and Setpgid are
// honoured as with os/exec; the child, whose ids the parent set, is still
// trusted (a parent holding CAP_SETUID and CAP_SETGID could give them).
func TestCommandCredentialAndPgid(t *testing.T) {
	n := testNS(WithPrivateMount(), WithPrivateTmp())
	cmd := n.Command(context.Background(), "/bin/sh", "-c", `set -- $(cat /proc/$$/stat); echo "pid=$1 pgid=$5 uid=$(id -u) gid=$(id -g) tmp=$(stat -f -c %T /tmp)"`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if asRoot() {
		// Another group (the uid stays 0, so that the program, in a
		// directory only root may enter, can still be executed).
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 65534, NoSetGroups: true}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var pid, pgid, uid, gid int
	var tmp string
	if _, err := fmt.Sscanf(string(out), "pid=%d pgid=%d uid=%d gid=%d tmp=%s", &pid, &pgid, &uid, &gid, &tmp); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if pid != pgid {
		t.Errorf("Setpgid: the command's process group is %d, not its own (%d)", pgid, pid)
	}
	if asRoot() && (uid != 0 || gid != 65534) {
		t.Errorf("Credential gid 65534: the command runs as uid %d gid %d", uid, gid)
	}
	if tmp != "tmpfs" {
		t.Errorf("the command's /tmp is %s, not the private tmpfs", tmp)
	}
}

func TestCommandCancelAsOSExec(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := testNS(WithPrivateMount()).Command(ctx, "/bin/sleep", "60")
	var called atomic.Bool
	cmd.Cancel = func() error {
		called.Store(true)
		return cmd.Process.Kill()
	}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := cmd.Wait()
	if !called.Load() {
		t.Errorf("the caller's Cancel was not called")
	}
	if !errors.Is(err, context.Canceled) {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("Wait after cancel: %v", err)
		}
	}
}

// TestCommandKeepsOthersDescriptors runs Commands, and makes and drops
// unstarted ones, while another goroutine keeps opening files: every
// descriptor of the program's own still refers to its file afterwards.
func TestCommandKeepsOthersDescriptors(t *testing.T) {
	runs, drops := 1000, 2000
	if testing.Short() {
		runs, drops = 100, 200
	}
	dir := t.TempDir()
	type owned struct {
		f   *os.File
		ino uint64
	}
	var (
		mu      sync.Mutex
		files   []owned
		stop    = make(chan struct{})
		opener  sync.WaitGroup
		openErr error
	)
	opener.Add(1)
	go func() {
		defer opener.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f, err := os.Create(dir + "/f" + strconv.Itoa(i%200))
			if err != nil {
				openErr = err
				return
			}
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				openErr = err
				return
			}
			mu.Lock()
			files = append(files, owned{f, st.Ino})
			if len(files) > 100 {
				files[0].f.Close()
				files = files[1:]
			}
			mu.Unlock()
			runtime.Gosched()
		}
	}()
	n := testNS(WithPrivateMount())
	ctx := context.Background()
	for i := range runs {
		if out, err := n.Command(ctx, "/bin/true").CombinedOutput(); err != nil {
			t.Errorf("run %d: %v\n%s", i, err, out)
			break
		}
		for range drops / runs {
			_ = n.Command(ctx, "/bin/true")
		}
		if i%50 == 0 {
			runtime.GC()
		}
		mu.Lock()
		for _, o := range files {
			var st unix.Stat_t
			if err := unix.Fstat(int(o.f.Fd()), &st); err != nil || st.Ino != o.ino {
				t.Errorf("after %d Commands, descriptor %d (%s) no longer refers to its file: %v, inode %d want %d", i+1, o.f.Fd(), o.f.Name(), err, st.Ino, o.ino)
			}
		}
		mu.Unlock()
		if t.Failed() {
			break
		}
	}
	runtime.GC()
	time.Sleep(10 * time.Millisecond) // cleanups run after a GC
	close(stop)
	opener.Wait()
	if openErr != nil {
		t.Fatal(openErr)
	}
	for _, o := range files {
		var st unix.Stat_t
		if err := unix.Fstat(int(o.f.Fd()), &st); err != nil || st.Ino != o.ino {
			t.Errorf("descriptor %d (%s) no longer refers to its file: %v", o.f.Fd(), o.f.Name(), err)
		}
		o.f.Close()
	}
}

// largeArgs returns 16 arguments of 64 KiB: 1 MiB.
func largeArgs() []string {
	args := make([]string, 16)
	for i := range args {
		args[i] = strings.Repeat(string(rune('a'+i)), 64<<10)
	}
	return args
}

// argLengthScript prints the total length of its arguments.
const argLengthScript = `n=0; for a; do n=$((n+${#a})); done; echo $n`

var sumArgs = Register("sum-args", func(ctx context.Context, args []string) error {
	total := 0
	for _, a := range args {
		total += len(a)
	}
	if total != 1<<20 || len(args) != 16 {
		return fmt.Errorf("got %d arguments, %d bytes", len(args), total)
	}
	return nil
})

// TestLargeArgv: an argument list of 1 MiB neither hangs nor fails, for
// Command, Run and StartProcess.
func TestLargeArgv(t *testing.T) {
	// The deadline only guards against a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := testNS(WithPrivateMount())
	args := largeArgs()

	out, err := n.Command(ctx, "/bin/sh", append([]string{"-c", argLengthScript, "sh"}, args...)...).Output()
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(1<<20) {
		t.Errorf("Command with 1 MiB of arguments: %v, %q", err, out)
	}
	if err := n.Run(ctx, sumArgs, args...); err != nil {
		t.Errorf("Run with 1 MiB of arguments: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := n.StartProcess("/bin/sh", append([]string{"sh", "-c", argLengthScript, "sh"}, args...), &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatalf("StartProcess with 1 MiB of arguments: %v", err)
	}
	out, _ = io.ReadAll(r)
	if _, err := p.Wait(); err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(1<<20) {
		t.Errorf("StartProcess with 1 MiB of arguments: %v, %q", err, out)
	}
	if ctx.Err() != nil {
		t.Errorf("hung until the deadline")
	}
}
