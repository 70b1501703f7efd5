//go:build linux

package main

// Joining, pinning, subordinate ids, the doctor, and the status
// descriptors: --join, --join-pid, --pin, --subids, --check, --info-fd,
// --json-status-fd.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/syscalls"
)

// joinConfig is what the joining flags ask for.
type joinConfig struct {
	joins      []string // KIND=PATH
	pins       []string // KIND=PATH
	pid        int
	subids     bool
	check      bool
	infoFD     int
	statusFD   int
	statusFile *os.File
	ids        map[string]uint64 // the namespaces' ids, read while they live
}

// define adds the flags to fs.
func (j *joinConfig) define(fs *cliFlags) {
	fs.Var((*listValue)(&j.joins), "join", "join the namespace at PATH of KIND (KIND=PATH), as nsenter --KIND=PATH")
	fs.IntVar(&j.pid, "join-pid", 0, "join the namespaces of process PID: those of the kind flags given, else all")
	fs.Var((*listValue)(&j.pins), "pin", "bind-mount the new namespace of KIND on PATH while COMMAND runs (KIND=PATH)")
	fs.BoolVar(&j.subids, "subids", false, "map root to you and 1.. to your /etc/subuid and /etc/subgid ranges (implies --user)")
	fs.BoolVar(&j.check, "check", false, "report what this kernel and system allow, and exit")
	fs.IntVar(&j.infoFD, "info-fd", -1, "write COMMAND's pid and namespace ids to FD as JSON (implies --fork)")
	fs.IntVar(&j.statusFD, "json-status-fd", -1, "write COMMAND's pid and namespace ids, then its exit status, to FD as JSON (implies --fork)")
}

// active reports whether any of the flags that need nsrun as COMMAND's
// parent was given.
func (j *joinConfig) active(c *config) bool {
	return len(j.joins) > 0 || c.set["join-pid"] || len(j.pins) > 0 || j.subids || j.infoFD >= 0 || j.statusFD >= 0
}

// check validates the flags.
func (j *joinConfig) validate(c *config) error {
	if c.set["join-pid"] && j.pid <= 0 {
		return usageErrorf("--join-pid %d is not a process id", j.pid)
	}
	for _, flag := range []struct {
		name string
		v    []string
	}{{"join", j.joins}, {"pin", j.pins}} {
		for _, kv := range flag.v {
			if _, _, err := parseKindPath(kv); err != nil {
				return usageErrorf("--%s %s: %v", flag.name, kv, err)
			}
		}
	}
	return nil
}

// parseKindPath parses KIND=PATH.
func parseKindPath(kv string) (syscalls.Type, string, error) {
	k, p, ok := strings.Cut(kv, "=")
	if !ok || p == "" || p[0] != '/' {
		return 0, "", fmt.Errorf("give KIND=PATH with an absolute PATH, such as net=/run/netns/NAME")
	}
	t, err := syscalls.ParseType(k)
	if err != nil {
		return 0, "", fmt.Errorf("%q is not a namespace kind (mnt, uts, ipc, net, pid, user, cgroup, time)", k)
	}
	return t, p, nil
}

// applyJoinPid turns the kind flags into the kinds to join (as nsenter -t
// PID): it clears them in c, so that they create nothing, and returns the
// option that joins them. --tmp still creates a mount namespace.
func (j *joinConfig) applyJoinPid(c *config) namespace.Option {
	var kinds []syscalls.Type
	for _, k := range []struct {
		on *bool
		t  syscalls.Type
	}{{&c.mount, syscalls.Mount}, {&c.uts, syscalls.UTS}, {&c.ipc, syscalls.IPC}, {&c.net, syscalls.Net},
		{&c.pid, syscalls.PID}, {&c.user, syscalls.User}, {&c.cgroup, syscalls.Cgroup}, {&c.timeNS, syscalls.Time}} {
		if *k.on {
			kinds = append(kinds, k.t)
			*k.on = false
		}
	}
	if c.mapRoot || c.mapCurrent {
		kinds = append(kinds, syscalls.User)
		c.mapRoot, c.mapCurrent = false, false
	}
	return namespace.WithJoinProcess(j.pid, kinds...)
}

// options returns the joining options; call it before c.options, which
// it changes for --join-pid.
func (j *joinConfig) options(c *config) []namespace.Option {
	var opts []namespace.Option
	if c.set["join-pid"] {
		opts = append(opts, j.applyJoinPid(c))
	}
	for _, kv := range j.joins {
		t, p, _ := parseKindPath(kv)
		opts = append(opts, namespace.WithJoin(t, p))
	}
	if j.subids {
		opts = append(opts, namespace.WithPrivateUser(namespace.SubIDs()))
	}
	return opts
}

// starter returns how COMMAND is started: by ns, or, with --pin, in a
// Handle of ns's namespaces pinned at the paths; and what releases them.
func (j *joinConfig) starter(ns *namespace.Namespace) (func(string, []string, *os.ProcAttr) (*os.Process, error), func(), error) {
	if len(j.pins) == 0 {
		if j.infoFD < 0 && j.statusFD < 0 {
			return ns.StartProcess, func() {}, nil
		}
		// The ids are read while the process is held before its program,
		// which may exit at once.
		return func(path string, argv []string, attr *os.ProcAttr) (*os.Process, error) {
			p, err := ns.Prepare(path, argv, attr)
			if err != nil {
				return nil, err
			}
			j.ids = nsIDs(p.Pid)
			return p.Start()
		}, func() {}, nil
	}
	h, err := ns.Create(context.Background())
	if err != nil {
		return nil, nil, err
	}
	for _, kv := range j.pins {
		t, p, _ := parseKindPath(kv)
		if err := h.Pin(t, p); err != nil {
			h.Close()
			return nil, nil, err
		}
	}
	j.ids = nsIDs(h.Pid()) // the jobs' namespaces are the holder's
	return h.StartProcess, func() { h.Close() }, nil
}

// nsIDs returns the JSON of bwrap's --info-fd: the child's pid and the
// inode numbers of its namespaces.
func nsIDs(pid int) map[string]uint64 {
	m := map[string]uint64{"child-pid": uint64(pid)}
	for _, t := range syscalls.Types() {
		if id, err := syscalls.IDOf(pid, 0, t); err == nil {
			m[t.String()+"-namespace"] = id.Ino
		}
	}
	return m
}

// started writes the --info-fd and --json-status-fd records of COMMAND's
// start.
func (j *joinConfig) started(pid int, stderr io.Writer) {
	if j.infoFD < 0 && j.statusFD < 0 {
		return
	}
	ids := j.ids
	if ids == nil {
		ids = nsIDs(pid)
	}
	ids["child-pid"] = uint64(pid)
	b, _ := json.Marshal(ids)
	b = append(b, '\n')
	if j.infoFD >= 0 {
		f := os.NewFile(uintptr(j.infoFD), "info-fd")
		if _, err := f.Write(b); err != nil {
			fmt.Fprintf(stderr, "nsrun: --info-fd %d: %v\n", j.infoFD, err)
		}
		f.Close()
	}
	if j.statusFD >= 0 {
		j.statusFile = os.NewFile(uintptr(j.statusFD), "json-status-fd")
		if _, err := j.statusFile.Write(b); err != nil {
			fmt.Fprintf(stderr, "nsrun: --json-status-fd %d: %v\n", j.statusFD, err)
		}
	}
}

// exited writes the --json-status-fd record of COMMAND's end: its exit
// code and, if nsrun made COMMAND's cgroup (--memory, --pids, --cpus,
// --cgroup-parent), what that cgroup counted: "oom-kills" (memory.events
// oom_kill), "memory-peak" (bytes, memory.peak; -1 before Linux 5.19) and
// "cpu-time-usec" (cpu.stat usage_usec).
func (j *joinConfig) exited(code int, u *namespace.CgroupUsage) {
	if j.statusFile == nil {
		return
	}
	if u != nil {
		fmt.Fprintf(j.statusFile, "{\"exit-code\":%d,\"oom-kills\":%d,\"memory-peak\":%d,\"cpu-time-usec\":%d}\n",
			code, u.OOMKills, u.MemoryPeak, u.CPUTime.Microseconds())
	} else {
		fmt.Fprintf(j.statusFile, "{\"exit-code\":%s}\n", strconv.Itoa(code))
	}
	j.statusFile.Close()
}

// runCheck prints the report of namespace.Check.
func runCheck(stdout io.Writer) int {
	fmt.Fprint(stdout, namespace.Check(context.Background()).String())
	return 0
}
