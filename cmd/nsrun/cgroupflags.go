//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"syscall"

	"github.com/linuxns/namespace"
)

// cgroupUsage is the help of the resource flags, in usageText.
const cgroupUsage = `
Resources (cgroup v2: COMMAND is born in a cgroup of its own, removed with
whatever is left in it when COMMAND ends; each implies -f):
      --memory SIZE       memory limit: bytes, or K, M, G (memory.max, no
                          swap); COMMAND killed by it: exit status 137
      --pids N            at most N processes and threads (pids.max)
      --cpus X            at most X CPUs of time, e.g. 0.5 (cpu.max)
      --cgroup-parent DIR make COMMAND's cgroup under DIR (default: the
                          cgroup above nsrun's, or the root cgroup)
      --join-cgroup DIR   start COMMAND in the existing cgroup DIR instead,
                          which is left in place
`

// cgroupFlags are the resource flags: cgroup v2 limits on COMMAND.
type cgroupFlags struct {
	memory       bytesValue
	pids         int64
	cpus         float64
	parent, join string
	set          func(name string) bool
}

// bytesValue is a size flag that accepts zero, for the check to refuse
// with its own words.
type bytesValue int64

func (b *bytesValue) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set parses a size.
func (b *bytesValue) Set(v string) error {
	n, err := parseBytes(v)
	if err != nil {
		return err
	}
	*b = bytesValue(n)
	return nil
}

// register adds the flags to fs.
func (f *cgroupFlags) register(fs *cliFlags) {
	fs.Var(&f.memory, "memory", "memory limit, e.g. 512M (cgroup v2 memory.max, no swap)")
	fs.Int64Var(&f.pids, "pids", 0, "at most N processes and threads (cgroup v2 pids.max)")
	fs.Float64Var(&f.cpus, "cpus", 0, "at most X CPUs of time, e.g. 0.5 (cgroup v2 cpu.max)")
	fs.StringVar(&f.parent, "cgroup-parent", "", "make COMMAND's cgroup under DIR")
	fs.StringVar(&f.join, "join-cgroup", "", "start COMMAND in the existing cgroup DIR")
	f.set = func(name string) bool { return fs.Changed(name) }
}

// any reports whether a resource flag was given.
func (f *cgroupFlags) any() bool {
	if f.set == nil {
		return false
	}
	for _, name := range []string{"memory", "pids", "cpus", "cgroup-parent", "join-cgroup"} {
		if f.set(name) {
			return true
		}
	}
	return false
}

// check refuses values that cannot be limits.
func (f *cgroupFlags) check() error {
	if f.set == nil {
		return nil
	}
	switch {
	case f.set("memory") && f.memory <= 0:
		return usageErrorf("--memory %d: give a positive size, such as 512M", f.memory)
	case f.set("pids") && f.pids <= 0:
		return usageErrorf("--pids %d: give a positive number of processes", f.pids)
	case f.set("cpus") && (!(f.cpus >= 0.01) || math.IsInf(f.cpus, 0)):
		return usageErrorf("--cpus %v: give a number of CPUs of at least 0.01, such as 0.5", f.cpus)
	case f.set("cgroup-parent") && f.parent == "", f.set("join-cgroup") && f.join == "":
		return usageErrorf("--cgroup-parent and --join-cgroup need a directory")
	case f.set("join-cgroup") && (f.set("memory") || f.set("pids") || f.set("cpus") || f.set("cgroup-parent")):
		return usageErrorf("--join-cgroup starts COMMAND in an existing cgroup: set its limits there, and leave out --memory, --pids, --cpus and --cgroup-parent")
	}
	return nil
}

// options returns the library's options for the flags given.
func (f *cgroupFlags) options() []namespace.Option {
	if !f.any() {
		return nil
	}
	var opts []namespace.Option
	if f.set("memory") {
		opts = append(opts, namespace.WithMemoryLimit(int64(f.memory)))
	}
	if f.set("pids") {
		opts = append(opts, namespace.WithPidsLimit(f.pids))
	}
	if f.set("cpus") {
		opts = append(opts, namespace.WithCPULimit(f.cpus))
	}
	if f.set("cgroup-parent") {
		opts = append(opts, namespace.WithCgroupParent(f.parent))
	}
	if f.set("join-cgroup") {
		opts = append(opts, namespace.WithCgroup(f.join))
	}
	return opts
}

// finish waits until COMMAND's cgroup is removed (it goes as soon as
// COMMAND has exited, with whatever COMMAND left in it), says so if the
// memory limit killed COMMAND, and returns nsrun's exit status for
// COMMAND's (137 then) and what the cgroup counted, or nil if nsrun made
// no cgroup (no cgroup flag, or --join-cgroup).
func (f *cgroupFlags) finish(proc *os.Process, state *os.ProcessState, status int, name string, stderr io.Writer) (int, *namespace.CgroupUsage) {
	if !f.any() {
		return status, nil
	}
	u, err := namespace.ProcessCgroup(context.Background(), proc)
	usage := &u
	if f.set("join-cgroup") || u.Path == "" {
		usage = nil
	}
	if errors.Is(err, namespace.ErrMemoryLimit) {
		fmt.Fprintf(stderr, "nsrun: %s: the memory limit (--memory %d) was reached: the kernel killed %d process(es) (memory.events oom_kill)\n", name, int64(f.memory), u.OOMKills)
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return exitSignalsBase + int(syscall.SIGKILL), usage
		}
		return status, usage
	}
	if err != nil {
		fmt.Fprintf(stderr, "nsrun: %v\n", err)
		if status == 0 {
			return exitFailed, usage
		}
	}
	return status, usage
}
