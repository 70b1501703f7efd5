//go:build linux

// Package proctest inspects processes and mounts for the tests of this
// module: which processes carry a marker argument, which children and
// zombies a process has, what state a process is in, how many threads it
// has, and the mount table as comparable text; and it opens
// pseudo-terminals.
package proctest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// WithArg returns the pids (as the caller's /proc shows them) of the
// processes that have arg among their command-line arguments.
func WithArg(arg string) []int {
	var pids []int
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// Children returns the pids of the calling process's children.
func Children() []int { return childrenIn("/proc/self") }

// ChildrenOf returns the pids of the children of process pid (as the
// caller's /proc shows them), zombies included.
func ChildrenOf(pid int) []int { return childrenIn("/proc/" + strconv.Itoa(pid)) }

func childrenIn(dir string) []int {
	var pids []int
	tasks, _ := filepath.Glob(dir + "/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, p := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(p)
			pids = append(pids, n)
		}
	}
	return pids
}

// State returns the state letter of process pid ('R', 'S', 'T', 'Z'...,
// the third field of /proc/PID/stat), or 0 if there is no such process.
func State(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := strings.LastIndexByte(string(b), ')')
	if err != nil || i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// Zombies returns the children of the calling process that are zombies.
func Zombies() []int {
	var z []int
	for _, pid := range Children() {
		if State(pid) == 'Z' {
			z = append(z, pid)
		}
	}
	return z
}

// Threads returns the number of threads of the calling process.
func Threads() int {
	tasks, _ := filepath.Glob("/proc/self/task/[0-9]*")
	return len(tasks)
}

// Mounts returns the calling process's mount table, one line per mount
// (mount point, type, source, options, propagation), for comparisons.
func Mounts() (string, error) {
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, m := range infos {
		fmt.Fprintln(&b, m.Mountpoint, m.FSType, m.Source, m.Options, m.Optional)
	}
	return b.String(), nil
}

// OpenPty opens a new pseudo-terminal and returns its master and its slave,
// neither of which becomes the caller's controlling terminal.
func OpenPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlock the pseudo-terminal: %w", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pseudo-terminal number: %w", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// Sleeper returns the pid of a process running `sleep marker`, or 0.
func Sleeper(marker string) int {
	for _, pid := range WithArg(marker) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err == nil && string(b) == "sleep\x00"+marker+"\x00" {
			return pid
		}
	}
	return 0
}

// WaitFor polls cond until it holds or a generous deadline has passed (a
// bound against a hang, not a timing requirement), and reports whether it
// held.
func WaitFor(cond func() bool) bool {
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Exited reports whether the process that pidfd refers to has exited.
func Exited(pidfd int) bool {
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, 0)
	return err == nil && n == 1
}
