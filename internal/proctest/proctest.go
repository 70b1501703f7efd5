// Package proctest inspects processes and mounts for the tests of this
// module: which processes carry a marker argument, which children and
// zombies a process has, how many threads it has, and the mount table as
// comparable text.
package proctest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
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
func Children() []int {
	var pids []int
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, p := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(p)
			pids = append(pids, n)
		}
	}
	return pids
}

// Zombies returns the children of the calling process that are zombies.
func Zombies() []int {
	var z []int
	for _, pid := range Children() {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && strings.HasPrefix(s[i+1:], " Z") {
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
