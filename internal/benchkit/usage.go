//go:build linux

package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Usage sums what the kernel charged the processes that an operation
// waited for (wait4's rusage): CPU time (user and system) and page faults
// (minor and major), for their whole tree as far as each waited for its
// own children. CPU time and page faults vary far less with the load of the
// machine than wall time does.
type Usage struct {
	mu     sync.Mutex
	runs   int
	cpu    time.Duration
	faults int64
}

// Add records the rusage of one run.
func (u *Usage) Add(ru *syscall.Rusage) {
	if u == nil || ru == nil {
		return
	}
	u.mu.Lock()
	u.runs++
	u.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	u.faults += int64(ru.Minflt) + int64(ru.Majflt)
	u.mu.Unlock()
}

// PerRun returns the mean CPU time and page faults of a run, and the number
// of runs.
func (u *Usage) PerRun() (cpu time.Duration, faults float64, runs int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.runs == 0 {
		return 0, 0, 0
	}
	return u.cpu / time.Duration(u.runs), float64(u.faults) / float64(u.runs), u.runs
}

// Reset forgets the runs recorded so far (the warm-up rounds, say).
func (u *Usage) Reset() {
	u.mu.Lock()
	u.runs, u.cpu, u.faults = 0, 0, 0
	u.mu.Unlock()
}

// ExecOpUsage is ExecOp that also records each run's rusage in u. okCodes
// are exit statuses other than 0 that count as success (unshare -n
// /bin/false exits 1).
func ExecOpUsage(argv []string, u *Usage, okCodes ...int) func() error {
	return ExecOpEnv(nil, argv, u, okCodes...)
}

// ExecOpEnv is ExecOpUsage with env ("KEY=value") added to the
// environment of argv.
func ExecOpEnv(env, argv []string, u *Usage, okCodes ...int) func() error {
	return func() error {
		cmd := exec.Command(argv[0], argv[1:]...)
		if env != nil {
			cmd.Env = append(os.Environ(), env...)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if cmd.ProcessState != nil {
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				u.Add(ru)
			}
			for _, c := range okCodes {
				if cmd.ProcessState.ExitCode() == c {
					err = nil
				}
			}
		}
		if err != nil {
			return fmt.Errorf("%q: %w: %s", argv, err, bytes.TrimSpace(out.Bytes()))
		}
		return nil
	}
}

// SelfCounts are the calling process's open descriptors, threads and
// resident set, to check that nothing grows over many operations.
type SelfCounts struct {
	Fds, Threads   int
	RSSKiB, HWMKiB int // VmRSS and VmHWM (the peak)
}

// Self returns the calling process's SelfCounts.
func Self() (SelfCounts, error) {
	var c SelfCounts
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return c, err
	}
	c.Fds = len(fds) - 1 // the directory being read
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return c, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "Threads":
			c.Threads = n
		case "VmRSS":
			c.RSSKiB = n
		case "VmHWM":
			c.HWMKiB = n
		}
	}
	return c, nil
}
