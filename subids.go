package namespace

// Subordinate id ranges: WithPrivateUser(SubIDs()).

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// subIDKind is the IDKind of the IDMap that SubIDs returns.
const subIDKind IDKind = 64

// SubIDs returns the id map that, given to WithPrivateUser alone, maps 0
// inside to the caller's uid and gid, and 1, 2, … to the caller's
// subordinate ranges from /etc/subuid and /etc/subgid, in the order of
// the files, as podman and rootlesskit do: programs inside that change
// user (chown, su, package managers) work without privilege. The maps
// are written by the setuid helpers newuidmap and newgidmap (Debian's
// package uidmap, shadow-utils elsewhere), looked up in $PATH.
//
// A missing helper is an error wrapping ErrUnsupported that names the
// package; no range for the user in either file, an error wrapping
// ErrPermission that names the file and how to add one (Command says so
// at Start, Pool when it is made). Every verb that starts a process
// honours it: the maps are written before the child takes its job. Each
// helper has 10 seconds: one that has not finished by then is killed, with
// what it started, and the start fails with an error wrapping
// os.ErrDeadlineExceeded.
func SubIDs() IDMap { return IDMap{Kind: subIDKind} }

// usesSubIDs reports whether maps ask for the subordinate ranges.
func usesSubIDs(maps []IDMap) bool {
	for _, m := range maps {
		if m.Kind == subIDKind {
			return true
		}
	}
	return false
}

// subIDRange is a line of /etc/subuid or /etc/subgid.
type subIDRange struct{ start, count int }

// subIDRanges returns the ranges of u in file (by name or uid).
func subIDRanges(file string, u *user.User) ([]subIDRange, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: add a range for %s (as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", ErrPermission, err, u.Username, u.Username)
	}
	defer f.Close()
	var out []subIDRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(p) != 3 || (p[0] != u.Username && p[0] != u.Uid) {
			continue
		}
		start, err1 := strconv.Atoi(p[1])
		count, err2 := strconv.Atoi(p[2])
		if err1 == nil && err2 == nil && start >= 0 && count > 0 {
			out = append(out, subIDRange{start, count})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s has no subordinate range for user %s (uid %s): as root, usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", ErrPermission, file, u.Username, u.Uid, u.Username)
	}
	return out, nil
}

// subIDMaps returns the arguments of newuidmap and newgidmap (after the
// pid): "0 UID 1 1 START COUNT …", or the error of a missing helper or
// range.
func subIDMaps() (uidArgs, gidArgs []string, err error) {
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := subIDTool(tool); err != nil {
			return nil, nil, fmt.Errorf("%w: WithPrivateUser(SubIDs()): %s is not installed: install the uidmap package (Debian, Ubuntu) or shadow-utils", ErrUnsupported, tool)
		}
	}
	u, err := user.Current()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: WithPrivateUser(SubIDs()): the user has no name: %w", ErrPermission, err)
	}
	args := func(file string, own int) ([]string, error) {
		rs, err := subIDRanges(file, u)
		if err != nil {
			return nil, err
		}
		a := []string{"0", strconv.Itoa(own), "1"}
		next := 1
		for _, r := range rs {
			a = append(a, strconv.Itoa(next), strconv.Itoa(r.start), strconv.Itoa(r.count))
			next += r.count
		}
		return a, nil
	}
	uidArgs, err1 := args("/etc/subuid", os.Geteuid())
	gidArgs, err2 := args("/etc/subgid", os.Getegid())
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, fmt.Errorf("WithPrivateUser(SubIDs()): %w", err)
	}
	return uidArgs, gidArgs, nil
}

// checkSubIDs is Validate's check of WithPrivateUser(SubIDs()).
func checkSubIDs(maps []IDMap) error {
	if len(maps) != 1 {
		return invalidf("SubIDs() must be the only id map of WithPrivateUser")
	}
	_, _, err := subIDMaps()
	return err
}

// writeSubIDMaps writes the id maps of the child pid by newuidmap and
// newgidmap.
func writeSubIDMaps(pid int) error {
	uidArgs, gidArgs, err := subIDMaps()
	if err != nil {
		return err
	}
	for _, c := range []struct {
		tool string
		args []string
	}{{"newuidmap", uidArgs}, {"newgidmap", gidArgs}} {
		path, err := subIDTool(c.tool)
		if err != nil {
			return fmt.Errorf("namespace: %w: %w", ErrUnsupported, err)
		}
		if err := runSubIDTool(path, append([]string{strconv.Itoa(pid)}, c.args...)); err != nil {
			return err
		}
	}
	return nil
}
