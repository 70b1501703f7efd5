//go:build linux

package syscalls

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The flag values of <linux/sched.h> and <linux/nsfs.h>, written out so
// that a wrong constant cannot hide behind another copy of itself.
func TestFlagValues(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"CSIGNAL", CSIGNAL, 0x000000ff},
		{"CLONE_NEWTIME", CLONE_NEWTIME, 0x00000080},
		{"CLONE_VM", CLONE_VM, 0x00000100},
		{"CLONE_FS", CLONE_FS, 0x00000200},
		{"CLONE_FILES", CLONE_FILES, 0x00000400},
		{"CLONE_SIGHAND", CLONE_SIGHAND, 0x00000800},
		{"CLONE_PIDFD", CLONE_PIDFD, 0x00001000},
		{"CLONE_PTRACE", CLONE_PTRACE, 0x00002000},
		{"CLONE_VFORK", CLONE_VFORK, 0x00004000},
		{"CLONE_THREAD", CLONE_THREAD, 0x00010000},
		{"CLONE_NEWNS", CLONE_NEWNS, 0x00020000},
		{"CLONE_SYSVSEM", CLONE_SYSVSEM, 0x00040000},
		{"CLONE_SETTLS", CLONE_SETTLS, 0x00080000},
		{"CLONE_PARENT_SETTID", CLONE_PARENT_SETTID, 0x00100000},
		{"CLONE_CHILD_CLEARTID", CLONE_CHILD_CLEARTID, 0x00200000},
		{"CLONE_DETACHED", CLONE_DETACHED, 0x00400000},
		{"CLONE_UNTRACED", CLONE_UNTRACED, 0x00800000},
		{"CLONE_CHILD_SETTID", CLONE_CHILD_SETTID, 0x01000000},
		{"CLONE_NEWCGROUP", CLONE_NEWCGROUP, 0x02000000},
		{"CLONE_NEWUTS", CLONE_NEWUTS, 0x04000000},
		{"CLONE_NEWIPC", CLONE_NEWIPC, 0x08000000},
		{"CLONE_NEWUSER", CLONE_NEWUSER, 0x10000000},
		{"CLONE_NEWPID", CLONE_NEWPID, 0x20000000},
		{"CLONE_NEWNET", CLONE_NEWNET, 0x40000000},
		{"CLONE_IO", CLONE_IO, 0x80000000},
		{"NamespaceFlags", NamespaceFlags, 0x7e020080},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// _IO(0xb7, n) in the generic ioctl encoding; mips, powerpc and sparc
	// encode the direction differently.
	switch runtime.GOARCH {
	case "386", "amd64", "arm", "arm64", "loong64", "riscv64", "s390x":
		for _, c := range []struct {
			name      string
			got, want uint64
		}{
			{"NS_GET_USERNS", NS_GET_USERNS, 0xb701},
			{"NS_GET_PARENT", NS_GET_PARENT, 0xb702},
			{"NS_GET_NSTYPE", NS_GET_NSTYPE, 0xb703},
			{"NS_GET_OWNER_UID", NS_GET_OWNER_UID, 0xb704},
		} {
			if c.got != c.want {
				t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
			}
		}
	}
}

func TestTypes(t *testing.T) {
	var names []string
	for _, typ := range Types() {
		names = append(names, typ.String())
	}
	if got, want := strings.Join(names, " "), "user mnt uts ipc net pid cgroup time"; got != want {
		t.Errorf("Types() = %s, want %s", got, want)
	}
	ts := Types()
	ts[0] = 0
	if Types()[0] != User {
		t.Error("Types() returns a shared slice")
	}

	var all uintptr
	for _, typ := range Types() {
		if all&typ.Flag() != 0 {
			t.Errorf("%s: flag %#x overlaps another kind", typ, typ.Flag())
		}
		all |= typ.Flag()
	}
	if all != NamespaceFlags {
		t.Errorf("OR of Types() flags = %#x, NamespaceFlags = %#x", all, NamespaceFlags)
	}
}

// Every kind round-trips through its flag, its name and its /proc name.
func TestTypeRoundTrip(t *testing.T) {
	procNames := map[Type]string{Mount: "mnt", UTS: "uts", IPC: "ipc", Net: "net",
		PID: "pid", User: "user", Cgroup: "cgroup", Time: "time"}
	flags := map[Type]uintptr{Mount: CLONE_NEWNS, UTS: CLONE_NEWUTS, IPC: CLONE_NEWIPC, Net: CLONE_NEWNET,
		PID: CLONE_NEWPID, User: CLONE_NEWUSER, Cgroup: CLONE_NEWCGROUP, Time: CLONE_NEWTIME}
	if len(Types()) != 8 {
		t.Fatalf("len(Types()) = %d", len(Types()))
	}
	for _, typ := range Types() {
		if !typ.Valid() {
			t.Errorf("%s not Valid", typ)
		}
		if typ.Flag() != flags[typ] || uintptr(typ) != flags[typ] {
			t.Errorf("%s.Flag() = %#x, want %#x", typ, typ.Flag(), flags[typ])
		}
		if typ.String() != procNames[typ] || typ.ProcName() != procNames[typ] {
			t.Errorf("%#x: String %q ProcName %q, want %q", uintptr(typ), typ.String(), typ.ProcName(), procNames[typ])
		}
		if got, err := TypeFromFlag(typ.Flag()); err != nil || got != typ {
			t.Errorf("TypeFromFlag(%#x) = %v, %v", typ.Flag(), got, err)
		}
		for _, s := range []string{typ.String(), typ.ProcName(), strings.ToUpper(typ.String())} {
			if got, err := ParseType(s); err != nil || got != typ {
				t.Errorf("ParseType(%q) = %v, %v; want %v", s, got, err, typ)
			}
		}
		if got := TypesOf(typ.Flag()); !slices.Equal(got, []Type{typ}) {
			t.Errorf("TypesOf(%#x) = %v", typ.Flag(), got)
		}
		wantChildren := typ.ProcName()
		if typ == PID || typ == Time {
			wantChildren += "_for_children"
		}
		if typ.ChildrenProcName() != wantChildren {
			t.Errorf("%s.ChildrenProcName() = %q, want %q", typ, typ.ChildrenProcName(), wantChildren)
		}
	}
	for s, want := range map[string]Type{"mount": Mount, "ns": Mount, "Mount": Mount, "network": Net, "NETWORK": Net, "cGroup": Cgroup} {
		if got, err := ParseType(s); err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

func TestTypesOf(t *testing.T) {
	if got := TypesOf(NamespaceFlags); !slices.Equal(got, Types()) {
		t.Errorf("TypesOf(NamespaceFlags) = %v", got)
	}
	if got, want := TypesOf(CLONE_NEWPID|CLONE_VM|CLONE_NEWNS|CLONE_FILES|CLONE_NEWUSER), []Type{User, Mount, PID}; !slices.Equal(got, want) {
		t.Errorf("TypesOf = %v, want %v", got, want)
	}
	if got := TypesOf(CLONE_VM | CLONE_FS | CLONE_SYSVSEM); len(got) != 0 {
		t.Errorf("TypesOf(non-namespace flags) = %v", got)
	}
}

func TestTypeInvalid(t *testing.T) {
	for _, s := range []string{"bogus", "", " mnt", "mnt ", "pid_for_children", "newns", "users"} {
		typ, err := ParseType(s)
		if !errors.Is(err, ErrInvalidType) || typ != 0 {
			t.Errorf("ParseType(%q) = %v, %v; want ErrInvalidType", s, typ, err)
		}
	}
	for _, f := range []uintptr{0, CLONE_VM, CLONE_NEWNS | CLONE_NEWPID, CLONE_NEWNET | CLONE_FILES, NamespaceFlags, CSIGNAL} {
		typ, err := TypeFromFlag(f)
		if !errors.Is(err, ErrInvalidType) || typ != 0 {
			t.Errorf("TypeFromFlag(%#x) = %v, %v; want ErrInvalidType", f, typ, err)
		}
	}
	for _, typ := range []Type{0, Type(CLONE_VM), Type(CLONE_NEWNS | CLONE_NEWUTS), Type(NamespaceFlags)} {
		if typ.Valid() || typ.ProcName() != "" || typ.ChildrenProcName() != "" {
			t.Errorf("%#x: Valid %v ProcName %q ChildrenProcName %q", uintptr(typ), typ.Valid(), typ.ProcName(), typ.ChildrenProcName())
		}
		if want := fmt.Sprintf("Type(%#x)", uintptr(typ)); typ.String() != want {
			t.Errorf("String() = %q, want %q", typ.String(), want)
		}
	}
}
