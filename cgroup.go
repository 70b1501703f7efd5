package namespace

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"
)

// cgroup v2 limits: the options and what they record. The child is born in
// a cgroup of its own (clone3 with CLONE_INTO_CGROUP), made by the parent
// before the clone under the parent directory (WithCgroupParent, or a
// default, see cgroup_linux.go), with the limits written into it; when the
// child ends, what it left there is killed and the cgroup removed. See
// docs/cgroups.md.

// ErrMemoryLimit is wrapped by the error of a child (Run, Task.Run,
// Pool.Run, Setup's exit message, CommandCgroup, ProcessCgroup) whose cgroup's memory
// limit (WithMemoryLimit) made the kernel kill a process in it: the
// cgroup's memory.events counted an oom_kill.
var ErrMemoryLimit = errors.New("killed by the memory limit of its cgroup (memory.events oom_kill)")

// cgroupConfig is what the cgroup options ask for.
type cgroupConfig struct {
	memory int64   // memory.max in bytes, or 0
	pids   int64   // pids.max, or 0
	cpus   float64 // cpu.max quota in CPUs, or 0
	parent string  // WithCgroupParent, or ""
	join   string  // WithCgroup, or ""
	errs   []error // malformed values, reported by Validate
}

// cgroupOf returns n's cgroup configuration, made on first use.
func (n *Namespace) cgroupOf() *cgroupConfig {
	if n.cg == nil {
		n.cg = &cgroupConfig{}
	}
	return n.cg
}

// limits reports whether c asks for a cgroup of the child's own.
func (c *cgroupConfig) limits() bool {
	return c != nil && (c.memory != 0 || c.pids != 0 || c.cpus != 0 || c.parent != "")
}

// WithMemoryLimit limits the memory of the child and of every process it
// starts to bytes (cgroup v2 memory.max; memory.swap.max is set to 0 where
// the kernel has it, so that the limit is not spent in swap). A process
// that passes it is killed by the kernel, and the child's error then
// matches ErrMemoryLimit (Run, Task.Run; CommandCgroup and ProcessCgroup
// for Command and StartProcess). bytes must be positive (ErrInvalid).
//
// The child is born in a cgroup of its own, made under WithCgroupParent's
// directory or the default one, and removed when it ends, with whatever
// it left there killed. A child that may write the hierarchy can move a
// process out of it: give it WithPrivateCgroup (docs/cgroups.md, "What the
// limits hold"). Where the host has no cgroup v2 hierarchy with the
// memory controller, the verb returns ErrUnsupported saying so, and
// nothing is started. Honoured by Run, Task.Run, Pool (each child has its
// own cgroup, from its start), Command, StartProcess, Prepare and Setup.
func WithMemoryLimit(bytes int64) Option {
	return option("WithMemoryLimit", func(n *Namespace) {
		c := n.cgroupOf()
		if bytes <= 0 {
			c.errs = append(c.errs, invalidf("WithMemoryLimit(%d): the limit must be a positive number of bytes", bytes))
			return
		}
		c.memory = bytes
	})
}

// WithPidsLimit limits the number of processes and threads in the child's
// cgroup to n (cgroup v2 pids.max): fork and clone fail with EAGAIN beyond
// it. A Go child (Run) counts its runtime's threads too. n must be
// positive (ErrInvalid). The cgroup is the child's own, as for
// WithMemoryLimit; without the pids controller, ErrUnsupported. Honoured by
// Run, Task.Run, Pool, Command, StartProcess, Prepare and Setup.
func WithPidsLimit(n int64) Option {
	return option("WithPidsLimit", func(ns *Namespace) {
		c := ns.cgroupOf()
		if n <= 0 {
			c.errs = append(c.errs, invalidf("WithPidsLimit(%d): the limit must be a positive number of processes", n))
			return
		}
		c.pids = n
	})
}

// WithCPULimit limits the CPU time of the child's cgroup to cpus CPUs
// (cgroup v2 cpu.max "cpus×100000 100000": so many microseconds in each
// period of 100 ms); 0.5 is half of one CPU, 2 two CPUs. cpus must be
// positive and at least 0.01 (the kernel's smallest quota is 1 ms), or
// ErrInvalid. The cgroup is the child's own, as for WithMemoryLimit;
// without the cpu controller, ErrUnsupported. Honoured by Run, Task.Run,
// Pool, Command, StartProcess, Prepare and Setup.
func WithCPULimit(cpus float64) Option {
	return option("WithCPULimit", func(n *Namespace) {
		c := n.cgroupOf()
		if !(cpus > 0) || math.IsInf(cpus, 0) || cpus*cpuPeriod < 1000 || cpus*cpuPeriod > math.MaxInt64/2 {
			c.errs = append(c.errs, invalidf("WithCPULimit(%v): give a positive number of CPUs, at least 0.01", cpus))
			return
		}
		c.cpus = cpus
	})
}

// cpuPeriod is the period of cpu.max, in microseconds.
const cpuPeriod = 100000

// WithCgroupParent makes the child's own cgroup under dir, an absolute
// path of a directory in the cgroup v2 hierarchy (such as
// /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice),
// which must exist and be writable by the caller, with the controllers of
// the limits given enabled in its cgroup.subtree_control. The child is
// born in a cgroup of its own even without a limit.
//
// Without it, the parent directory is the caller's own cgroup if that is
// the root of the hierarchy (as for root on a host without systemd), else
// the cgroup above the caller's (the delegated directory of a systemd
// user's service or of a container, where the caller sits in a leaf: the
// kernel forbids processes in a cgroup whose controllers are enabled for
// its children). Where that is not writable, the verb says so and asks
// for WithCgroupParent. A missing dir is an error that names it; nothing
// is started. Honoured by Run, Task.Run, Pool, Command, StartProcess,
// Prepare and Setup.
func WithCgroupParent(dir string) Option {
	return option("WithCgroupParent", func(n *Namespace) {
		c := n.cgroupOf()
		if !filepath.IsAbs(dir) {
			c.errs = append(c.errs, invalidf("WithCgroupParent(%q): give the absolute path of a cgroup v2 directory", dir))
			return
		}
		c.parent = filepath.Clean(dir)
	})
}

// WithCgroup starts the child in the existing cgroup dir (an absolute path
// in the cgroup v2 hierarchy), born there as with the other cgroup
// options, and leaves the cgroup and whatever else is in it in place when
// the child ends. It cannot be combined with the limits or
// WithCgroupParent (ErrInvalid): set the limits on dir itself. Honoured by
// Run, Task.Run, Pool, Command, StartProcess, Prepare and Setup.
func WithCgroup(dir string) Option {
	return option("WithCgroup", func(n *Namespace) {
		c := n.cgroupOf()
		if !filepath.IsAbs(dir) {
			c.errs = append(c.errs, invalidf("WithCgroup(%q): give the absolute path of a cgroup v2 directory", dir))
			return
		}
		c.join = filepath.Clean(dir)
	})
}

// check returns the problems of c's values, creating nothing.
func (c *cgroupConfig) check() []error {
	if c == nil {
		return nil
	}
	errs := append([]error(nil), c.errs...)
	if c.join != "" && c.limits() {
		errs = append(errs, invalidf("WithCgroup(%q) with a limit or WithCgroupParent: the child either joins an existing cgroup or gets one of its own; set the limits on %s itself", c.join, c.join))
	}
	return errs
}

// CgroupUsage is what the child's own cgroup counted, read just before it
// was removed (CommandCgroup, ProcessCgroup).
type CgroupUsage struct {
	// Path is the cgroup's directory, now removed.
	Path string
	// OOMKills is the count of processes the kernel killed for the memory
	// limit (memory.events oom_kill), or 0.
	OOMKills int64
	// MemoryPeak is the most memory the cgroup used (memory.peak, Linux
	// 5.19 on), or -1 where it is not known.
	MemoryPeak int64
	// CPUTime is the CPU time its processes used (cpu.stat usage_usec).
	CPUTime time.Duration
}

// Err returns an error that wraps ErrMemoryLimit if the memory limit
// killed a process, else nil.
func (u *CgroupUsage) Err() error {
	if u == nil || u.OOMKills == 0 {
		return nil
	}
	return fmt.Errorf("namespace: %w: %d process(es) killed in %s", ErrMemoryLimit, u.OOMKills, u.Path)
}
