//go:build linux

package syscalls

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func nodename() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Nodename[:]), nil
}

const childHost = "b-host"

// setnsUTSProof starts child B in a new UTS namespace with hostname
// childHost, joins that namespace from a thrown-away thread with SetnsFile
// and reads the hostname there, returns with Setns to the original
// namespace, and checks that the rest of the process never moved. It needs
// CAP_SYS_ADMIN in the user namespace of the caller (which owns B's UTS
// namespace).
func setnsUTSProof() error {
	ourHost, err := nodename()
	if err != nil {
		return err
	}
	if ourHost == childHost {
		return fmt.Errorf("our hostname is already %q", childHost)
	}
	ours, err := IDOf(0, 0, UTS)
	if err != nil {
		return err
	}
	b, err := startBlocker(&syscall.SysProcAttr{Cloneflags: CLONE_NEWUTS}, "hostname="+childHost)
	if err != nil {
		return err
	}
	defer b.stop()
	theirs, err := IDOf(b.pid(), 0, UTS)
	if err != nil {
		return err
	}
	if theirs.Equal(ours) {
		return fmt.Errorf("child shares our UTS namespace %v", ours)
	}

	err = onThread(func() error {
		orig, err := OpenNS(0, -1, UTS)
		if err != nil {
			return err
		}
		defer orig.Close()
		target, err := OpenNS(b.pid(), 0, UTS)
		if err != nil {
			return err
		}
		defer target.Close()

		if err := SetnsFile(target, UTS); err != nil {
			return err
		}
		if h, err := nodename(); err != nil || h != childHost {
			return fmt.Errorf("after setns: hostname %q (%v), want %q", h, err, childHost)
		}
		if id, err := ThreadID(UTS); err != nil || !id.Equal(theirs) {
			return fmt.Errorf("after setns: thread in %v (%v), want %v", id, err, theirs)
		}
		if id, err := IDOf(0, 0, UTS); err != nil || !id.Equal(ours) {
			return fmt.Errorf("after setns: process in %v (%v), want %v", id, err, ours)
		}
		// Another thread, at this very moment, still sees our hostname.
		if err := onThread(func() error {
			if h, err := nodename(); err != nil || h != ourHost {
				return fmt.Errorf("other thread: hostname %q (%v), want %q", h, err, ourHost)
			}
			return nil
		}); err != nil {
			return err
		}

		// Back, by raw fd and nstype 0 (any kind).
		if err := Setns(int(orig.Fd()), 0); err != nil {
			return err
		}
		if h, err := nodename(); err != nil || h != ourHost {
			return fmt.Errorf("after setns back: hostname %q (%v), want %q", h, err, ourHost)
		}
		if id, err := ThreadID(UTS); err != nil || !id.Equal(ours) {
			return fmt.Errorf("after setns back: thread in %v (%v), want %v", id, err, ours)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if h, err := nodename(); err != nil || h != ourHost {
		return fmt.Errorf("afterwards: hostname %q (%v), want %q", h, err, ourHost)
	}
	return b.stop()
}

// Proof (3), in a user-namespaced child A that owns the UTS namespace of
// its own child B: works as root and as uid 65534. A has a UTS namespace of
// its own too, so that it may setns back (it has no rights over the host's).
func TestSetnsUTS(t *testing.T) {
	runHelper(t, "setns-uts", "", userNSAttr(CLONE_NEWUTS))
}

// Proof (3) from the test process itself, on a thrown-away thread.
func TestSetnsUTSInProcess(t *testing.T) {
	requireRoot(t)
	if err := setnsUTSProof(); err != nil {
		t.Fatal(err)
	}
}

// Without capabilities over the target, setns fails with EPERM.
func TestSetnsPermission(t *testing.T) {
	if isRoot() {
		t.Skip("root may join any namespace; the EPERM case applies to uid 65534")
	}
	b := startBlockerT(t, userNSAttr(CLONE_NEWUTS), "hostname="+childHost)
	f, err := OpenNS(b.pid(), 0, UTS)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wantErrno(t, onThread(func() error { return SetnsFile(f, UTS) }), unix.EPERM)
}

// setnsMountProof shows the mount-namespace caveat: setns fails with EINVAL
// while the thread shares its filesystem attributes with the others, and
// works after Unshare(CLONE_FS) (implied here by CLONE_NEWNS).
func setnsMountProof() error {
	return onThread(func() error {
		proc, err := OpenNS(0, 0, Mount)
		if err != nil {
			return err
		}
		defer proc.Close()
		procID, err := IDOfFile(proc)
		if err != nil {
			return err
		}
		if err := SetnsFile(proc, Mount); !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("setns(mnt) with shared fs_struct: %v, want EINVAL", err)
		}
		if err := Unshare(CLONE_NEWNS); err != nil {
			return err
		}
		if id, err := ThreadID(Mount); err != nil || id.Equal(procID) {
			return fmt.Errorf("after unshare: thread in %v (%v), process in %v", id, err, procID)
		}
		if err := SetnsFile(proc, Mount); err != nil {
			return err
		}
		if id, err := ThreadID(Mount); err != nil || !id.Equal(procID) {
			return fmt.Errorf("after setns: thread in %v (%v), want %v", id, err, procID)
		}
		return nil
	})
}

func TestSetnsMount(t *testing.T) {
	runHelper(t, "setns-mnt", "", userNSAttr(CLONE_NEWNS))
}

func TestSetnsMountInProcess(t *testing.T) {
	requireRoot(t)
	checkMountsUnchanged(t)
	if err := setnsMountProof(); err != nil {
		t.Fatal(err)
	}
}

func TestSetnsErrors(t *testing.T) {
	var se *os.SyscallError
	err := onThread(func() error { return Setns(-1, 0) })
	wantErrno(t, err, unix.EBADF)
	if !errors.As(err, &se) || se.Syscall != "setns" {
		t.Errorf("error %#v is not an *os.SyscallError for setns", err)
	}

	regular, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	wantErrno(t, onThread(func() error { return Setns(int(regular.Fd()), 0) }), unix.EINVAL)

	// The kernel checks nstype against the file before any permission.
	uts, err := OpenNS(0, 0, UTS)
	if err != nil {
		t.Fatal(err)
	}
	defer uts.Close()
	err = onThread(func() error { return SetnsFile(uts, Net) })
	wantErrno(t, err, unix.EINVAL)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "setns" || pe.Path != uts.Name() {
		t.Errorf("error %#v is not an *os.PathError for setns on %s", err, uts.Name())
	}

	// Joining a user namespace is refused in a multi-threaded process
	// (checked before permissions, so as root and as 65534 alike).
	b := startBlockerT(t, userNSAttr(0), "")
	user, err := OpenNS(b.pid(), 0, User)
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	wantErrno(t, onThread(func() error { return SetnsFile(user, User) }), unix.EINVAL)

	if err := SetnsFile(nil, UTS); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("SetnsFile(nil): %v", err)
	}
}
