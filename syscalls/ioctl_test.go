//go:build linux

package syscalls

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linuxns/namespace/internal/proctest"
	"golang.org/x/sys/unix"
)

func mustOpenNS(t *testing.T, pid int, typ Type) *os.File {
	t.Helper()
	f, err := OpenNS(pid, 0, typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func mustIDOf(t *testing.T, pid int, typ Type) ID {
	t.Helper()
	id, err := IDOf(pid, 0, typ)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fileID returns the ID of the namespace file that ioctl (GetParent or
// GetUserns) returns for ns, and closes it.
func fileID(t *testing.T, ioctl func(*os.File) (*os.File, error), ns *os.File) ID {
	t.Helper()
	f, err := ioctl(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, err := IDOfFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != id.String() {
		t.Errorf("file named %q, want %q", f.Name(), id.String())
	}
	return id
}

// NS_GET_NSTYPE names each kind, of our namespaces and of a child's new ones.
func TestGetNSType(t *testing.T) {
	b := startBlockerT(t, userNSAttr(NamespaceFlags&^(CLONE_NEWUSER|CLONE_NEWTIME)), "")
	for _, pid := range []int{0, b.pid()} {
		for _, typ := range Types() {
			got, err := GetNSType(mustOpenNS(t, pid, typ))
			if err != nil || got != typ {
				t.Errorf("pid %d: GetNSType(%s) = %v, %v", pid, typ, got, err)
			}
		}
	}
}

// Proof (5): NS_GET_PARENT of a child's PID namespace is ours, of its user
// namespace is ours; NS_GET_USERNS of each of its namespaces is its user
// namespace.
func TestGetParentAndUserns(t *testing.T) {
	b := startBlockerT(t, userNSAttr(NamespaceFlags&^(CLONE_NEWUSER|CLONE_NEWTIME)), "")
	if b.innerPID != "1" {
		t.Errorf("child sees itself as pid %s, want 1", b.innerPID)
	}
	ourPID, ourUser := mustIDOf(t, 0, PID), mustIDOf(t, 0, User)
	childPID, childUser := mustIDOf(t, b.pid(), PID), mustIDOf(t, b.pid(), User)
	if childPID.Equal(ourPID) || childUser.Equal(ourUser) {
		t.Fatalf("child not in new namespaces: pid %v user %v", childPID, childUser)
	}

	if got := fileID(t, GetParent, mustOpenNS(t, b.pid(), PID)); !got.Equal(ourPID) {
		t.Errorf("NS_GET_PARENT(child pid ns) = %v, want ours %v", got, ourPID)
	}
	if got := fileID(t, GetParent, mustOpenNS(t, b.pid(), User)); !got.Equal(ourUser) {
		t.Errorf("NS_GET_PARENT(child user ns) = %v, want ours %v", got, ourUser)
	}
	for _, typ := range Types() {
		want := childUser
		switch typ {
		case User:
			want = ourUser // a user namespace's owner is its parent
		case Time:
			want = ourUser // the child did not get a new time namespace
		}
		if got := fileID(t, GetUserns, mustOpenNS(t, b.pid(), typ)); !got.Equal(want) {
			t.Errorf("NS_GET_USERNS(child %s) = %v, want %v", typ, got, want)
		}
	}

	// NS_GET_PARENT is for PID and user namespaces only.
	_, err := GetParent(mustOpenNS(t, b.pid(), UTS))
	wantErrno(t, err, unix.EINVAL)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "ioctl NS_GET_PARENT" {
		t.Errorf("error %#v is not an *os.PathError for ioctl NS_GET_PARENT", err)
	}
}

// insideUsernsProof runs in a child that is root of its own user namespace:
// it owns that namespace (NS_GET_OWNER_UID shows its creator as 0, the
// creator's uid as mapped inside) and cannot see past it (NS_GET_PARENT and
// NS_GET_USERNS of its user namespace give EPERM).
func insideUsernsProof() error {
	f, err := OpenNS(0, 0, User)
	if err != nil {
		return err
	}
	defer f.Close()
	if uid, err := GetOwnerUID(f); err != nil || uid != 0 {
		return fmt.Errorf("NS_GET_OWNER_UID of own user namespace = %d, %v; want 0", uid, err)
	}
	if p, err := GetParent(f); !errors.Is(err, unix.EPERM) {
		if p != nil {
			p.Close()
		}
		return fmt.Errorf("NS_GET_PARENT of own user namespace: %v, want EPERM", err)
	}
	if p, err := GetUserns(f); !errors.Is(err, unix.EPERM) {
		if p != nil {
			p.Close()
		}
		return fmt.Errorf("NS_GET_USERNS of own user namespace: %v, want EPERM", err)
	}
	return nil
}

func TestInsideUserns(t *testing.T) {
	runHelper(t, "inside-userns", "", userNSAttr(0))
}

// ownerUIDProof creates a user namespace (a child with CLONE_NEWUSER),
// checks that NS_GET_OWNER_UID reports our uid as its owner and returns it.
func ownerUIDProof() (int, error) {
	b, err := startBlocker(userNSAttr(0), "")
	if err != nil {
		return 0, err
	}
	defer b.stop()
	f, err := OpenNS(b.pid(), 0, User)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	uid, err := GetOwnerUID(f)
	if err != nil {
		return 0, err
	}
	if uid != os.Getuid() {
		return 0, fmt.Errorf("NS_GET_OWNER_UID = %d, want the creator's uid %d", uid, os.Getuid())
	}
	return uid, b.stop()
}

// Proof (5): the owner of a user namespace created by uid U is U; run
// directly (U = 0 as root, 65534 as nobody) and, as root, through a helper
// running as 65534.
func TestGetOwnerUID(t *testing.T) {
	if uid, err := ownerUIDProof(); err != nil || uid != os.Getuid() {
		t.Fatalf("owner = %d, %v", uid, err)
	}

	_, err := GetOwnerUID(mustOpenNS(t, 0, UTS))
	wantErrno(t, err, unix.EINVAL)
	if _, err := GetOwnerUID(nil); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("GetOwnerUID(nil): %v", err)
	}

	t.Run("created-by-65534", func(t *testing.T) {
		if !isRoot() {
			if os.Getuid() != 65534 {
				t.Skipf("running as uid %d", os.Getuid())
			}
			return // the direct run above was as 65534
		}
		// Credential plus CLONE_NEWUSER would not do: the child's user
		// namespace is created by clone(2), as root, before the child
		// switches to 65534. A helper that already is 65534 creates it.
		exe := worldReadableTestBinary(t)
		out := runHelperExe(t, exe, "owner-uid", "", &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: 65534, Gid: 65534},
		})
		if uid, err := strconv.Atoi(strings.TrimSpace(out)); err != nil || uid != 65534 {
			t.Errorf("owner seen by the 65534 helper: %q", out)
		}
	})

	// The pitfall the helper above avoids, checked so that it stays known:
	// os/exec creates the user namespace in clone(2), while still root, and
	// only then switches the child to the Credential.
	t.Run("credential-plus-newuser-is-owned-by-root", func(t *testing.T) {
		if !isRoot() {
			t.Skip("only root can start a child with another Credential")
		}
		exe := worldReadableTestBinary(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd, err := helperCmd(ctx, exe, "block", "", &syscall.SysProcAttr{
			Cloneflags:  CLONE_NEWUSER,
			Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 65534, HostID: 65534, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 65534, HostID: 65534, Size: 1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Error(err)
			}
		}()
		if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
			t.Fatalf("child not ready: %q, %v", line, err)
		}
		if uid, err := GetOwnerUID(mustOpenNS(t, cmd.Process.Pid, User)); err != nil || uid != 0 {
			t.Errorf("owner of the user namespace of a Credential{65534} child = %d, %v; want 0", uid, err)
		}
	})
}

// worldReadableTestBinary copies the test binary where uid 65534 can
// execute it: go test builds it in a directory only root can read.
func worldReadableTestBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return proctest.CopyProgram(t, exe, proctest.SharedDir(t, "", 0o755), "", 0o755)
}

func TestNSIoctlErrors(t *testing.T) {
	regular, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	if _, err := GetNSType(regular); !errors.Is(err, unix.ENOTTY) {
		t.Errorf("GetNSType(regular file): %v, want ENOTTY", err)
	}
	if f, err := GetUserns(regular); !errors.Is(err, unix.ENOTTY) || f != nil {
		t.Errorf("GetUserns(regular file) = %v, %v; want nil, ENOTTY", f, err)
	}
	if f, err := GetParent(nil); !errors.Is(err, os.ErrInvalid) || f != nil {
		t.Errorf("GetParent(nil) = %v, %v", f, err)
	}
	if _, err := GetNSType(nil); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("GetNSType(nil): %v", err)
	}
}
