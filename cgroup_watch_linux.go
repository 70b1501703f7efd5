package namespace

// The end of the cgroup of a child that the caller waits for itself
// (Command, StartProcess, Prepare): a goroutine waits on a pidfd of the
// child, then kills what is left in its cgroup and removes it; the caller
// learns the outcome from CommandCgroup or ProcessCgroup.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"golang.org/x/sys/unix"
)

// A cgroupWatch is the end of a child's cgroup: done is closed once it is
// removed, with what it counted.
type cgroupWatch struct {
	done  chan struct{}
	usage CgroupUsage
	err   error
}

// cgroupWatches holds the watch of each *exec.Cmd (Command) and
// *os.Process (StartProcess, Prepared.Start), by a weak pointer: an entry
// goes when its key is garbage collected.
var cgroupWatches sync.Map

// watchCgroup registers the watch of key's child.
func watchCgroup[T any](key *T) *cgroupWatch {
	w := &cgroupWatch{done: make(chan struct{})}
	k := weak.Make(key)
	cgroupWatches.Store(k, w)
	runtime.AddCleanup(key, func(k weak.Pointer[T]) { cgroupWatches.Delete(k) }, k)
	return w
}

// end removes cg once the process of pidfd (closed then) has exited; if
// pidfd is negative, at once, or, with started, once the cgroup is empty.
func (w *cgroupWatch) end(cg *cgroupDir, pidfd int, started bool) {
	if pidfd < 0 && started && cg.own {
		for populated(cg.dir) == 1 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if pidfd >= 0 {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				break
			}
		}
		unix.Close(pidfd)
	}
	w.usage, w.err = cg.finish()
	close(w.done)
}

// wait waits for w (nil: the key had no cgroup options) and returns its
// outcome.
func (w *cgroupWatch) wait(ctx context.Context, what string) (CgroupUsage, error) {
	if w == nil {
		return CgroupUsage{}, fmt.Errorf("namespace: %s: %w: it was not started by a Namespace with cgroup options", what, ErrInvalid)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return CgroupUsage{}, ctx.Err()
	}
	if w.err != nil {
		return w.usage, w.err
	}
	return w.usage, w.usage.Err()
}

func lookupWatch[T any](key *T) *cgroupWatch {
	if key == nil {
		return nil
	}
	if w, ok := cgroupWatches.Load(weak.Make(key)); ok {
		return w.(*cgroupWatch)
	}
	return nil
}

// CommandCgroup waits until the cgroup that Command made for cmd's
// process (WithMemoryLimit, WithPidsLimit, WithCPULimit, WithCgroupParent)
// is removed, which happens as soon as the process has exited (whatever it
// left in the cgroup is killed then), and returns what the cgroup
// counted. The error wraps ErrMemoryLimit if the memory limit killed a
// process, and says so if the cgroup could not be removed. Call it after
// cmd.Wait (or once the process has exited) to learn why a command was
// killed; until the process exits it waits, or until ctx is done. With
// WithCgroup it returns at once, the cgroup left in place; for a cmd that
// Command did not start with cgroup options, it returns ErrInvalid.
func CommandCgroup(ctx context.Context, cmd *exec.Cmd) (CgroupUsage, error) {
	return lookupWatch(cmd).wait(ctx, "CommandCgroup")
}

// ProcessCgroup is CommandCgroup for a process that StartProcess or
// Prepared.Start returned.
func ProcessCgroup(ctx context.Context, p *os.Process) (CgroupUsage, error) {
	return lookupWatch(p).wait(ctx, "ProcessCgroup")
}

// cgroupChildPidfd returns a pidfd of the one process in cg, the child
// that was born there and has not yet executed anything of its own, or -1.
func cgroupChildPidfd(cg *cgroupDir) int {
	if cg == nil || !cg.own {
		return -1
	}
	b, err := readCgroupFile(cg.dir, "cgroup.procs")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return -1
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return -1
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	return fd
}
