//go:build !linux

package syscalls

import (
	"errors"
	"os"
	"testing"
)

// The tests of the package on systems other than Linux. They run there
// (go test on macOS or Windows); on Linux, make cross type-checks them
// with go vet for darwin and windows.

func TestWrappersUnsupported(t *testing.T) {
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		syscallErr *os.SyscallError
		pathErr    *os.PathError
		linkErr    *os.LinkError
	)
	check := func(name string, err error, as any) {
		t.Helper()
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s = %v, want an error wrapping errors.ErrUnsupported", name, err)
		}
		if as != nil && !errors.As(err, as) {
			t.Errorf("%s = %T, not the documented error type", name, err)
		}
	}
	_, err1 := OpenNS(0, 0, Mount)
	_, err2 := IDOf(0, 0, Net)
	_, err3 := ChildrenIDOf(0, 0, PID)
	_, err4 := IDOfFile(f)
	_, err5 := ThreadID(UTS)
	_, err6 := GetUserns(f)
	_, err7 := GetParent(f)
	_, err8 := GetNSType(f)
	_, err9 := GetOwnerUID(f)
	_, err10 := Kcmp(1, 1, KCMP_VM, 0, 0)
	_, err11 := KcmpSame(1, 1, KCMP_FS, 0, 0)
	_, err12 := KcmpEpollTFD(1, 1, 0, KcmpEpollSlot{})
	check("Unshare", Unshare(CLONE_NEWNS), &syscallErr)
	check("Setns", Setns(int(f.Fd()), Net), &syscallErr)
	check("SetnsFile", SetnsFile(f, Net), &pathErr)
	check("PivotRoot", PivotRoot("/new", "/new/old"), &linkErr)
	check("OpenNS", err1, &pathErr)
	check("IDOf", err2, &pathErr)
	check("ChildrenIDOf", err3, &pathErr)
	check("IDOfFile", err4, &pathErr)
	check("ThreadID", err5, &pathErr)
	check("GetUserns", err6, &pathErr)
	check("GetParent", err7, &pathErr)
	check("GetNSType", err8, &pathErr)
	check("GetOwnerUID", err9, &pathErr)
	check("Kcmp", err10, &syscallErr)
	check("KcmpSame", err11, &syscallErr)
	check("KcmpEpollTFD", err12, &syscallErr)
	check("ConfigureLoopback", ConfigureLoopback(), nil)
}

func TestTypesWork(t *testing.T) {
	if typ, err := ParseType("mount"); err != nil || typ != Mount || typ.String() != "mnt" {
		t.Errorf("ParseType(mount) = %v, %v", typ, err)
	}
	if got := TypesOf(CLONE_NEWUSER | CLONE_NEWPID | CLONE_VM); len(got) != 2 || got[0] != User || got[1] != PID {
		t.Errorf("TypesOf = %v", got)
	}
	if id := (ID{Type: Net, Ino: 4026531840}); id.String() != "net:[4026531840]" {
		t.Errorf("ID.String = %q", id)
	}
	if KCMP_SYSVSEM.String() != "KCMP_SYSVSEM" {
		t.Errorf("KcmpType.String = %q", KCMP_SYSVSEM)
	}
}
