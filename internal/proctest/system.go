package proctest

import (
	"os"
	"sort"
)

// A SystemEntry is one of the host's top-level system directories (bin,
// sbin, lib, lib32, lib64, libx32), as the host has it: a symbolic link
// (Link, its content: "usr/bin" on a merged-/usr system) or a directory.
type SystemEntry struct {
	Name string // e.g. "/bin"
	Link string // the link's content, or "" for a directory
}

// SystemLayout returns the host's top-level system directories that exist,
// so that a test can build a root from nothing that runs the host's
// programs: /usr read-only, and these as links or read-only binds.
func SystemLayout() []SystemEntry {
	var out []SystemEntry
	for _, n := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(n)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if l, err := os.Readlink(n); err == nil {
				out = append(out, SystemEntry{Name: n, Link: l})
			}
		case fi.IsDir():
			out = append(out, SystemEntry{Name: n})
		}
	}
	return out
}

// SystemNames returns the names in / of a root built with SystemLayout and
// extra (names without "/"), sorted, as ls lists them.
func SystemNames(extra ...string) []string {
	names := append([]string(nil), extra...)
	for _, e := range SystemLayout() {
		names = append(names, e.Name[1:])
	}
	sort.Strings(names)
	return names
}
