//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// TestJoinPathFIFO: WithJoin's path names a FIFO (a path that someone
// else controls, as in /tmp). Every verb must refuse it as not a namespace
// file (ErrInvalid), at once: opening it for reading used to wait for a
// writer, forever, whatever the context said.
func TestJoinPathFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ns")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, a blocked open is released at the end.
	defer func() {
		if fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			time.Sleep(10 * time.Millisecond)
			unix.Close(fd)
		}
	}()
	n := New(WithJoin(syscalls.UTS, fifo))
	for name, verb := range map[string]func() error{
		"StartProcess": func() error {
			p, err := n.StartProcess("/bin/true", []string{"true"}, nil)
			if err == nil {
				_, _ = p.Wait()
			}
			return err
		},
		"Command": func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return n.Command(ctx, "/bin/true").Run()
		},
		"Do": func() error { return n.Do(func() error { return nil }) },
	} {
		done := make(chan error, 1)
		go func() { done <- verb() }()
		select {
		case err := <-done:
			if name == "Command" {
				// The re-executed child opens it: it must fail, not hang.
				if err == nil {
					t.Errorf("%s: joined a FIFO", name)
				}
			} else if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: still opening the FIFO %s after 10 s", name, fifo)
			if fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
				<-done
				unix.Close(fd)
			}
		}
	}
	_ = os.Remove(fifo)
}

// TestJoinPathNotOpened: a WithJoin path that is not a namespace file is
// refused without being opened for reading (a device's open can act: a
// watchdog starts, a tape rewinds). A writer blocked in open(2) on a FIFO
// there stays blocked: an open for reading would have released it.
func TestJoinPathNotOpened(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ns")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	opened := make(chan int, 1)
	go func() {
		fd, _ := unix.Open(fifo, unix.O_WRONLY|unix.O_CLOEXEC, 0) // blocks until a reader opens
		opened <- fd
	}()
	defer func() {
		// Release the writer whatever happened.
		if fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			if w := <-opened; w >= 0 {
				unix.Close(w)
			}
			unix.Close(fd)
		}
	}()
	time.Sleep(20 * time.Millisecond) // the writer is in open(2)
	n := New(WithJoin(syscalls.UTS, fifo))
	p, err := n.StartProcess("/bin/true", []string{"true"}, nil)
	if err == nil {
		_, _ = p.Wait()
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("StartProcess: %v, want ErrInvalid", err)
	}
	if err := n.Do(func() error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("Do: %v, want ErrInvalid", err)
	}
	select {
	case fd := <-opened:
		opened <- fd // for the deferred release
		t.Error("the FIFO was opened for reading: its writer was released")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestOpenNSFileNeedsProc: a namespace file is opened for setns(2) through
// its O_PATH descriptor in /proc; where /proc is not a proc file system
// (here a tmpfs over it), a namespace file elsewhere (a bind mount, as ip
// netns makes) is refused with a reason (ErrUnsupported) rather than
// opened by its path again, which could open whatever replaced the file
// checked; a FIFO is refused as before, as not a namespace file.
func TestOpenNSFileNeedsProc(t *testing.T) {
	if !asRoot() {
		t.Skip("needs root: bind-mounts a namespace file and hides /proc in a mount namespace of its own")
	}
	dir := t.TempDir()
	file, fifo := filepath.Join(dir, "uts"), filepath.Join(dir, "fifo")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	err := New(WithPrivateMount()).Do(func() error {
		if err := unix.Mount("/proc/self/ns/uts", file, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		if err := unix.Mount("none", "/proc", "tmpfs", 0, ""); err != nil {
			return err
		}
		if fd, err := openNSFile(file); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "mount proc on /proc") {
			if err == nil {
				unix.Close(fd)
			}
			return fmt.Errorf("the bound namespace file without /proc: %v, want ErrUnsupported saying to mount proc", err)
		}
		if fd, err := openNSFile(fifo); !errors.Is(err, errNotNSFile) {
			if err == nil {
				unix.Close(fd)
			}
			return fmt.Errorf("the FIFO: %v, want errNotNSFile", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
