//go:build linux

package syscalls

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestNSPath(t *testing.T) {
	self := os.Getpid()
	for _, c := range []struct {
		pid, tid int
		want     string
	}{
		{0, 0, "/proc/self/ns/net"},
		{42, 0, "/proc/42/ns/net"},
		{42, 43, "/proc/42/task/43/ns/net"},
		{0, 43, "/proc/self/task/43/ns/net"},
		{0, -1, "/proc/thread-self/ns/net"},
		{self, -1, "/proc/thread-self/ns/net"},
	} {
		if got, err := nsPath(c.pid, c.tid, "net"); err != nil || got != c.want {
			t.Errorf("nsPath(%d, %d) = %q, %v; want %q", c.pid, c.tid, got, err, c.want)
		}
	}
	for _, c := range [][2]int{{-1, 0}, {self + 1, -1}} {
		if got, err := nsPath(c[0], c[1], "net"); !errors.Is(err, unix.EINVAL) {
			t.Errorf("nsPath(%d, %d) = %q, %v; want EINVAL", c[0], c[1], got, err)
		}
	}
}

// IDOf, OpenNS+IDOfFile, ThreadID and readlink(2) agree for every kind, and
// the eight namespaces are distinct.
func TestIDOf(t *testing.T) {
	seen := map[ID]Type{}
	for _, typ := range Types() {
		id, err := IDOf(0, 0, typ)
		if err != nil {
			t.Fatal(err)
		}
		if id.Type != typ || id.Ino == 0 {
			t.Errorf("IDOf(0, 0, %s) = %+v", typ, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s have the same ID %v", typ, other, id)
		}
		seen[id] = typ

		link, err := os.Readlink("/proc/self/ns/" + typ.ProcName())
		if err != nil {
			t.Fatal(err)
		}
		if id.String() != link {
			t.Errorf("ID.String() = %q, readlink = %q", id.String(), link)
		}
		byPID, err := IDOf(os.Getpid(), 0, typ)
		if err != nil || !byPID.Equal(id) {
			t.Errorf("IDOf(getpid, 0, %s) = %v, %v; want %v", typ, byPID, err, id)
		}
		kids, err := ChildrenIDOf(0, 0, typ)
		if err != nil || !kids.Equal(id) {
			t.Errorf("ChildrenIDOf(0, 0, %s) = %v, %v; want %v", typ, kids, err, id)
		}

		f, err := OpenNS(0, 0, typ)
		if err != nil {
			t.Fatal(err)
		}
		fid, err := IDOfFile(f)
		f.Close()
		if err != nil || !fid.Equal(id) {
			t.Errorf("IDOfFile(OpenNS(0, 0, %s)) = %v, %v; want %v", typ, fid, err, id)
		}

		// A thread of this process that did nothing is in the process's
		// namespaces, whether addressed as thread-self or by its tid.
		err = onThread(func() error {
			tid := unix.Gettid()
			thr, err := ThreadID(typ)
			if err != nil {
				return err
			}
			byTid, err := IDOf(0, tid, typ)
			if err != nil {
				return err
			}
			if !thr.Equal(id) || !byTid.Equal(id) {
				t.Errorf("%s: ThreadID %v, IDOf(0, tid) %v; process %v", typ, thr, byTid, id)
			}
			tf, err := OpenNS(0, -1, typ)
			if err != nil {
				return err
			}
			defer tf.Close()
			if tf.Name() != "/proc/thread-self/ns/"+typ.ProcName() {
				t.Errorf("OpenNS(0, -1) opened %s", tf.Name())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if (ID{Type: Net, Ino: 1}).Equal(ID{Type: Net, Ino: 2}) || (ID{Type: Net, Dev: 1, Ino: 1}).Equal(ID{Type: Net, Dev: 2, Ino: 1}) {
		t.Error("Equal ignores Ino or Dev")
	}
	if s := (ID{Type: Type(3), Ino: 5}).String(); s != "Type(0x3):[5]" {
		t.Errorf("String of invalid ID = %q", s)
	}
}

func TestIDErrors(t *testing.T) {
	if _, err := IDOf(0, 0, 0); !errors.Is(err, ErrInvalidType) {
		t.Errorf("IDOf(type 0): %v", err)
	}
	if f, err := OpenNS(0, 0, Type(CLONE_VM)); !errors.Is(err, ErrInvalidType) {
		f.Close()
		t.Errorf("OpenNS(CLONE_VM): %v", err)
	}
	if _, err := ChildrenIDOf(0, 0, Type(CLONE_NEWNS|CLONE_NEWPID)); !errors.Is(err, ErrInvalidType) {
		t.Errorf("ChildrenIDOf(two kinds): %v", err)
	}
	if _, err := IDOf(-5, 0, Net); !errors.Is(err, unix.EINVAL) {
		t.Errorf("IDOf(pid -5): %v", err)
	}
	if _, err := IDOf(os.Getpid()+1, -1, Net); !errors.Is(err, unix.EINVAL) {
		t.Errorf("IDOf(other pid, calling thread): %v", err)
	}
	var pe *os.PathError
	if _, err := IDOf(math.MaxInt32, 0, Net); !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
		t.Errorf("IDOf(missing pid): %v", err)
	}
	if f, err := OpenNS(math.MaxInt32, 0, Net); !errors.Is(err, fs.ErrNotExist) {
		f.Close()
		t.Errorf("OpenNS(missing pid): %v", err)
	}
	if _, err := IDOf(0, math.MaxInt32, Net); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("IDOf(missing tid): %v", err)
	}

	regular, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	if _, err := IDOfFile(regular); !errors.Is(err, unix.ENOTTY) || !errors.As(err, &pe) {
		t.Errorf("IDOfFile(regular file): %v", err)
	}
	if _, err := IDOfFile(nil); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("IDOfFile(nil): %v", err)
	}
	closed, err := OpenNS(0, 0, Net)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := IDOfFile(closed); err == nil {
		t.Error("IDOfFile(closed file) succeeded")
	}
}

// The pid addressing reaches other processes: a child in new namespaces
// has different IDs, and those it did not unshare are ours.
func TestIDOfChild(t *testing.T) {
	b := startBlockerT(t, userNSAttr(CLONE_NEWUTS|CLONE_NEWNET), "")
	for _, typ := range Types() {
		ours, err := IDOf(0, 0, typ)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := IDOf(b.pid(), 0, typ)
		if err != nil {
			t.Fatal(err)
		}
		changed := typ == User || typ == UTS || typ == Net
		if theirs.Equal(ours) == changed {
			t.Errorf("%s: child %v, us %v; want different: %v", typ, theirs, ours, changed)
		}
		byTid, err := IDOf(b.pid(), b.pid(), typ)
		if err != nil || !byTid.Equal(theirs) {
			t.Errorf("%s: IDOf(child, child main thread) = %v, %v; want %v", typ, byTid, err, theirs)
		}
	}
}
