//go:build linux

package syscalls

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// unshareEachProof unshares every kind but user, each on its own thrown-away
// thread, and checks that exactly that thread (or, for PID and time, its
// future children) moved to a new namespace owned by our user namespace,
// while the process stayed where it was. It needs CAP_SYS_ADMIN in the
// process's user namespace.
func unshareEachProof() error {
	owner, err := IDOf(0, 0, User)
	if err != nil {
		return err
	}
	for _, typ := range Types() {
		if typ == User {
			continue // EINVAL in a multi-threaded process: TestUnshareUserEINVAL
		}
		if err := onThread(func() error { return unshareOneProof(typ, owner) }); err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
	}
	return nil
}

func unshareOneProof(typ Type, owner ID) error {
	procBefore, err := IDOf(0, 0, typ)
	if err != nil {
		return err
	}
	thrBefore, err := ThreadID(typ)
	if err != nil {
		return err
	}
	if !thrBefore.Equal(procBefore) {
		return fmt.Errorf("fresh thread in %v, process in %v", thrBefore, procBefore)
	}
	kidsBefore, err := ChildrenIDOf(0, -1, typ)
	if err != nil {
		return err
	}

	if err := Unshare(typ.Flag()); err != nil {
		return err
	}

	thrAfter, err := ThreadID(typ)
	if err != nil {
		return err
	}
	if procAfter, err := IDOf(0, 0, typ); err != nil || !procAfter.Equal(procBefore) {
		return fmt.Errorf("the process's namespace changed from %v to %v (%v)", procBefore, procAfter, err)
	}
	var kidsAfter ID
	switch typ {
	case PID, Time:
		if !thrAfter.Equal(thrBefore) {
			return fmt.Errorf("the thread itself moved from %v to %v", thrBefore, thrAfter)
		}
		if typ == PID {
			if _, err := ChildrenIDOf(0, -1, typ); !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("pid_for_children before the first child: %v, want ENOENT", err)
			}
		}
		// A child started from this thread lands in the new namespace.
		b, err := startBlocker(nil, "")
		if typ == Time && errors.Is(err, unix.EINVAL) {
			// Before Linux 6.3 a thread whose time namespace differs
			// from its children's cannot clone with CLONE_VM, which
			// os/exec's vfork uses: only a fork enters the new time
			// namespace. os/exec forks when the child gets a user
			// namespace of its own.
			b, err = startBlocker(&syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER}, "")
		}
		if err != nil {
			return err
		}
		defer b.stop()
		child, err := IDOf(b.pid(), 0, typ)
		if err != nil {
			return err
		}
		if kidsAfter, err = ChildrenIDOf(0, -1, typ); err != nil {
			return err
		}
		if child.Equal(procBefore) || !child.Equal(kidsAfter) || kidsAfter.Equal(kidsBefore) {
			return fmt.Errorf("child in %v, thread's children in %v (before %v), process in %v", child, kidsAfter, kidsBefore, procBefore)
		}
		if typ == PID && b.innerPID != "1" {
			return fmt.Errorf("first child of the new PID namespace sees itself as pid %s, want 1", b.innerPID)
		}
		if err := b.stop(); err != nil {
			return err
		}
	default:
		if thrAfter.Equal(thrBefore) {
			return fmt.Errorf("thread still in %v", thrBefore)
		}
		if kidsAfter, err = ChildrenIDOf(0, -1, typ); err != nil || !kidsAfter.Equal(thrAfter) {
			return fmt.Errorf("children namespace %v (%v), thread %v", kidsAfter, err, thrAfter)
		}
	}

	// The new namespace is of kind typ and owned by our user namespace.
	f, err := os.Open("/proc/thread-self/ns/" + typ.ChildrenProcName())
	if err != nil {
		return err
	}
	defer f.Close()
	if got, err := GetNSType(f); err != nil || got != typ {
		return fmt.Errorf("NS_GET_NSTYPE = %v, %v", got, err)
	}
	uf, err := GetUserns(f)
	if err != nil {
		return err
	}
	defer uf.Close()
	if got, err := IDOfFile(uf); err != nil || !got.Equal(owner) {
		return fmt.Errorf("NS_GET_USERNS = %v, %v; want %v", got, err, owner)
	}
	return nil
}

// Proof (7), in a user-namespaced child: works as root and as uid 65534.
func TestUnshareEachKind(t *testing.T) {
	runHelper(t, "unshare-each", "", userNSAttr(0))
}

// Proof (7) in the test process itself, on thrown-away threads.
func TestUnshareEachKindInProcess(t *testing.T) {
	requireRoot(t)
	checkMountsUnchanged(t)
	if err := unshareEachProof(); err != nil {
		t.Fatal(err)
	}
}

func TestUnshareUserEINVAL(t *testing.T) {
	for _, flags := range []uintptr{CLONE_NEWUSER, CLONE_NEWUSER | CLONE_NEWNS} {
		err := onThread(func() error { return Unshare(flags) })
		wantErrno(t, err, unix.EINVAL)
		var se *os.SyscallError
		if !errors.As(err, &se) || se.Syscall != "unshare" {
			t.Errorf("error %#v is not an *os.SyscallError for unshare", err)
		}
	}
}

func TestUnsharePermission(t *testing.T) {
	if isRoot() {
		t.Skip("root has CAP_SYS_ADMIN; the EPERM case applies to uid 65534")
	}
	for _, typ := range Types() {
		if typ == User {
			continue
		}
		err := onThread(func() error { return Unshare(typ.Flag()) })
		if !errors.Is(err, unix.EPERM) {
			t.Errorf("Unshare(%s) without capabilities: %v, want EPERM", typ, err)
		}
	}
}

// CLONE_FS and CLONE_FILES need no privilege: the thread gets its own copy.
func TestUnshareFSFiles(t *testing.T) {
	err := onThread(func() error {
		tid := unix.Gettid()
		for _, c := range []struct {
			flag uintptr
			kind KcmpType
		}{{CLONE_FS, KCMP_FS}, {CLONE_FILES, KCMP_FILES}} {
			if same, err := KcmpSame(os.Getpid(), tid, c.kind, 0, 0); err != nil || !same {
				return fmt.Errorf("%v before unshare: same=%v, %v", c.kind, same, err)
			}
			if err := Unshare(c.flag); err != nil {
				return err
			}
			if same, err := KcmpSame(os.Getpid(), tid, c.kind, 0, 0); err != nil || same {
				return fmt.Errorf("%v after unshare: same=%v, %v", c.kind, same, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
