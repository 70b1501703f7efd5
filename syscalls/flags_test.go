//go:build linux

package syscalls

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// On other systems flags_other.go spells out the values that
// golang.org/x/sys/unix gives on Linux; they must be Linux's.
func TestOtherFlagsAreLinuxValues(t *testing.T) {
	linux := map[string]uint64{
		"CLONE_VM": uint64(CLONE_VM), "CLONE_FS": uint64(CLONE_FS), "CLONE_FILES": uint64(CLONE_FILES),
		"CLONE_SIGHAND": uint64(CLONE_SIGHAND), "CLONE_PIDFD": uint64(CLONE_PIDFD), "CLONE_PTRACE": uint64(CLONE_PTRACE),
		"CLONE_VFORK": uint64(CLONE_VFORK), "CLONE_THREAD": uint64(CLONE_THREAD), "CLONE_NEWNS": uint64(CLONE_NEWNS),
		"CLONE_SYSVSEM": uint64(CLONE_SYSVSEM), "CLONE_SETTLS": uint64(CLONE_SETTLS),
		"CLONE_PARENT_SETTID": uint64(CLONE_PARENT_SETTID), "CLONE_CHILD_CLEARTID": uint64(CLONE_CHILD_CLEARTID),
		"CLONE_DETACHED": uint64(CLONE_DETACHED), "CLONE_UNTRACED": uint64(CLONE_UNTRACED),
		"CLONE_CHILD_SETTID": uint64(CLONE_CHILD_SETTID), "CLONE_NEWCGROUP": uint64(CLONE_NEWCGROUP),
		"CLONE_NEWUTS": uint64(CLONE_NEWUTS), "CLONE_NEWIPC": uint64(CLONE_NEWIPC), "CLONE_NEWUSER": uint64(CLONE_NEWUSER),
		"CLONE_NEWPID": uint64(CLONE_NEWPID), "CLONE_NEWNET": uint64(CLONE_NEWNET), "CLONE_IO": uint64(CLONE_IO),
		"CLONE_NEWTIME": uint64(CLONE_NEWTIME), "CSIGNAL": uint64(CSIGNAL), "NamespaceFlags": uint64(NamespaceFlags),
		"NS_GET_USERNS": unix.NS_GET_USERNS, "NS_GET_PARENT": unix.NS_GET_PARENT,
		"NS_GET_NSTYPE": unix.NS_GET_NSTYPE, "NS_GET_OWNER_UID": unix.NS_GET_OWNER_UID,
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "flags_other.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := new(types.Config).Check("syscalls", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := map[string]uint64{}
	for _, name := range pkg.Scope().Names() {
		if c, ok := pkg.Scope().Lookup(name).(*types.Const); ok {
			other[name], _ = constant.Uint64Val(c.Val())
		}
	}
	for name, want := range linux {
		got, ok := other[name]
		switch {
		case !ok:
			t.Errorf("flags_other.go lacks %s", name)
		case strings.HasPrefix(name, "NS_GET_") && (strings.HasPrefix(runtime.GOARCH, "ppc") || strings.HasPrefix(runtime.GOARCH, "mips")):
			// These set a direction bit in _IO requests; flags_other.go
			// has the value of the other architectures.
		case got != want:
			t.Errorf("flags_other.go: %s = %#x; Linux has %#x", name, got, want)
		}
	}
	for name := range other {
		if _, ok := linux[name]; !ok {
			t.Errorf("flags_other.go has %s, which this test does not know on Linux", name)
		}
	}
}
