package namespace

// Cgroups left by a caller that died without cleaning up (SIGKILL, a crash
// between the child's end and the removal): the next process that makes a
// child's cgroup under the same parent removes them, killing what is left
// in them. See "Clean-up" in docs/cgroups.md.
//
// A cgroup's name says who made it:
//
//	namespace-PID-SEQ-START-PIDNS-TIMENS
//
// PID and START (the start time of /proc/PID/stat, in clock ticks since
// boot) identify the maker, and PIDNS and TIMENS the namespaces in which
// those numbers mean that process (the inode numbers of its pid and time
// namespaces: a start time reads differently in another time namespace).
// A sweeper judges only names that parse exactly, made in its own pid and
// time namespaces, whose directory belongs to its own effective uid (a
// name is easy to forge; the owner of a directory in a cgroup hierarchy is
// who made it, or root), and only if the maker is gone: no process PID, or
// one with another start time (the pid was reused). Anything else is left
// alone: other users' cgroups, cgroups of makers it cannot see, live ones.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// cgroupMaker identifies a process that makes cgroups.
type cgroupMaker struct {
	pid          int
	start        uint64
	pidNS, timNS uint64
}

// selfMaker is this process as named in its cgroups' names, or ok false
// where it cannot be told (no /proc of its own pid namespace): then its
// cgroups have the short name namespace-PID-SEQ, which no sweep removes.
var selfMaker = sync.OnceValues(func() (cgroupMaker, bool) {
	pid := os.Getpid()
	if s, err := os.Readlink("/proc/self"); err != nil || s != strconv.Itoa(pid) {
		return cgroupMaker{}, false // /proc shows another pid namespace
	}
	start, err := procStartTime(pid)
	if err != nil {
		return cgroupMaker{}, false
	}
	pidNS, err := nsInode("/proc/self/ns/pid")
	if err != nil {
		return cgroupMaker{}, false
	}
	timNS, err := nsInode("/proc/self/ns/time")
	if errors.Is(err, fs.ErrNotExist) {
		timNS, err = 0, nil // before Linux 5.6: one time for everyone
	}
	if err != nil {
		return cgroupMaker{}, false
	}
	return cgroupMaker{pid: pid, start: start, pidNS: pidNS, timNS: timNS}, true
})

// cgroupName returns the name of this process's seq-th cgroup.
func cgroupName(seq uint64) string {
	name := "namespace-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(seq, 10)
	if m, ok := selfMaker(); ok {
		name += fmt.Sprintf("-%d-%d-%d", m.start, m.pidNS, m.timNS)
	}
	return name
}

// parseCgroupName returns the maker of a cgroup named by cgroupName with
// a maker, or ok false for any other name.
func parseCgroupName(name string) (cgroupMaker, bool) {
	rest, found := strings.CutPrefix(name, "namespace-")
	f := strings.Split(rest, "-")
	if !found || len(f) != 5 {
		return cgroupMaker{}, false
	}
	var n [5]uint64
	for i, s := range f {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || strconv.FormatUint(v, 10) != s {
			return cgroupMaker{}, false
		}
		n[i] = v
	}
	if n[0] == 0 || n[0] > 1<<22 {
		return cgroupMaker{}, false
	}
	return cgroupMaker{pid: int(n[0]), start: n[2], pidNS: n[3], timNS: n[4]}, true
}

// procStartTime returns field 22 of /proc/PID/stat.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold anything
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): the start time, field 22, is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return st.Ino, nil
}

// makerGone reports whether the process m named is certainly gone: no
// such pid, or one that started at another time. Anything unsure is
// alive.
func makerGone(m cgroupMaker) bool {
	start, err := procStartTime(m.pid)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH)
	}
	return start != m.start
}

// sweptParents holds the parents this process has swept: once each, at
// its first cgroup there.
var sweptParents sync.Map

// sweepCgroupsOnce sweeps parent (open at pfd) if this process has not
// yet.
func (n *Namespace) sweepCgroupsOnce(parent string, pfd int) {
	if _, done := sweptParents.LoadOrStore(parent, true); done {
		return
	}
	for _, dir := range sweepCgroups(pfd, parent) {
		n.log().Debug("removed a cgroup whose maker is gone", "cgroup", dir)
	}
}

// sweepCgroups removes the cgroups under the directory pfd (path parent)
// left by makers that are gone (see the top of this file), killing what
// is in them first, and returns those it removed. Each is opened once,
// under pfd, without following links, and judged by that descriptor (its
// owner), as the clean-up of cgroup_files_linux.go works. Errors leave a
// cgroup for a later sweep.
func sweepCgroups(pfd int, parent string) []string {
	self, ok := selfMaker()
	if !ok {
		return nil
	}
	names, err := subCgroups(pfd)
	if err != nil {
		return nil
	}
	euid := uint32(os.Geteuid())
	var removed []string
	for _, name := range names {
		m, ok := parseCgroupName(name)
		if !ok || m.pidNS != self.pidNS || m.timNS != self.timNS || m.pid == self.pid && m.start == self.start {
			continue
		}
		if !makerGone(m) {
			continue
		}
		dir := filepath.Join(parent, name)
		dfd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(dfd, &st) != nil || st.Uid != euid {
			unix.Close(dfd) // not made by this user: never touched
			continue
		}
		_ = unix.Fchmod(dfd, 0o755) // the child may have locked it (see unlock)
		err = killCgroup(dfd, dir)
		unix.Close(dfd)
		if err != nil || removeCgroup(pfd, name, dir) != nil {
			continue
		}
		removed = append(removed, dir)
	}
	return removed
}
