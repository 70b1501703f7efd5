// Package systab holds the Linux system call numbers of the architectures
// that seccomp filters are written for (x86_64, i386, aarch64, arm), as
// static data: the tables cost nothing at start-up (no package
// initialisation, no page touched until a filter is compiled).
//
// The tables are those of github.com/elastic/go-seccomp-bpf/arch, copied
// by TestTables (SYSTAB_UPDATE=1 go test ./internal/systab writes
// ztables.go again; without it the test fails if they differ). That
// package builds maps of every architecture in its initialisation, which
// cost every program linking it about 0.3-0.8 ms of CPU time and 70-100
// page faults at start, before main, whether it compiles a filter or not.
package systab

import (
	"fmt"
	"runtime"
	"sort"
)

// A Table is one architecture's system calls.
type Table struct {
	Name string // the Linux architecture's name: x86_64, i386, aarch64, arm
	ID   uint32 // its audit architecture (AUDIT_ARCH_*), seccomp_data.arch

	names string   // the names, sorted, one after the other
	off   []uint16 // names[off[i]:off[i+1]] is the i-th name
	nrs   []uint32 // the i-th name's number
}

// Len returns the number of system calls in t.
func (t *Table) Len() int { return len(t.nrs) }

// name returns the i-th name.
func (t *Table) name(i int) string { return t.names[t.off[i]:t.off[i+1]] }

// Number returns the number of the system call name, and whether t has it.
func (t *Table) Number(name string) (int, bool) {
	i := sort.Search(len(t.nrs), func(i int) bool { return t.name(i) >= name })
	if i < len(t.nrs) && t.name(i) == name {
		return int(t.nrs[i]), true
	}
	return 0, false
}

// All calls f with each name and number, in the order of the names.
func (t *Table) All(f func(name string, nr int)) {
	for i := range t.nrs {
		f(t.name(i), int(t.nrs[i]))
	}
}

// ForGOARCH returns the table of the Go architecture goarch ("" for the
// program's own), or an error if there is none.
func ForGOARCH(goarch string) (*Table, error) {
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	switch goarch {
	case "amd64":
		return X86_64, nil
	case "386":
		return I386, nil
	case "arm64":
		return AARCH64, nil
	case "arm":
		return ARM, nil
	}
	return nil, fmt.Errorf("unsupported arch: %v", goarch)
}
