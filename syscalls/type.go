package syscalls

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidType is wrapped by the errors of ParseType, TypeFromFlag and of
// the functions that are given a Type that is not one of the eight kinds.
var ErrInvalidType = errors.New("invalid namespace type")

// Type is a kind of Linux namespace. Its value is the CLONE_NEW* flag that
// creates a namespace of that kind, so a Type can be used wherever the flag
// is expected (Setns, Unshare via Flag, SysProcAttr.Cloneflags).
//
// The zero Type means "any kind" to Setns and SetnsFile and is not Valid.
type Type uintptr

// The eight namespace kinds.
const (
	Mount  Type = Type(CLONE_NEWNS)     // mount points ("mnt")
	UTS    Type = Type(CLONE_NEWUTS)    // hostname and NIS domain name ("uts")
	IPC    Type = Type(CLONE_NEWIPC)    // System V IPC and POSIX message queues ("ipc")
	Net    Type = Type(CLONE_NEWNET)    // network devices, stacks, ports ("net")
	PID    Type = Type(CLONE_NEWPID)    // process IDs ("pid")
	User   Type = Type(CLONE_NEWUSER)   // user and group IDs, capabilities ("user")
	Cgroup Type = Type(CLONE_NEWCGROUP) // cgroup root directory ("cgroup")
	Time   Type = Type(CLONE_NEWTIME)   // boot and monotonic clocks ("time")
)

// allTypes is in creation order: the user namespace first, because it owns
// the others and grants the capabilities needed to create them.
var allTypes = [...]Type{User, Mount, UTS, IPC, Net, PID, Cgroup, Time}

// Types returns the eight namespace kinds in a fixed order: user, mnt, uts,
// ipc, net, pid, cgroup, time. The user namespace comes first because, when
// several namespaces are created one after the other, it must be created
// first to own the others. The caller may modify the returned slice.
func Types() []Type {
	return append([]Type(nil), allTypes[:]...)
}

// String returns the kind's name as used under /proc/PID/ns/ ("mnt", "uts",
// "ipc", "net", "pid", "user", "cgroup", "time"), or "Type(0x…)" for a value
// that is not one of the eight kinds.
func (t Type) String() string {
	if n := t.ProcName(); n != "" {
		return n
	}
	return fmt.Sprintf("Type(%#x)", uintptr(t))
}

// Flag returns the CLONE_NEW* flag of the kind, which is its value.
func (t Type) Flag() uintptr { return uintptr(t) }

// ProcName returns the name of the kind's file under /proc/PID/ns/, the
// same as String for a valid Type, or "" for an invalid one.
func (t Type) ProcName() string {
	switch t {
	case Mount:
		return "mnt"
	case UTS:
		return "uts"
	case IPC:
		return "ipc"
	case Net:
		return "net"
	case PID:
		return "pid"
	case User:
		return "user"
	case Cgroup:
		return "cgroup"
	case Time:
		return "time"
	}
	return ""
}

// ChildrenProcName returns the name of the file under /proc/PID/ns/ that
// holds the namespace in which the process's future children are created:
// "pid_for_children" for PID, "time_for_children" for Time, and ProcName for
// the other kinds, whose children always share the creator's namespace. It
// returns "" for an invalid Type.
func (t Type) ChildrenProcName() string {
	switch t {
	case PID:
		return "pid_for_children"
	case Time:
		return "time_for_children"
	}
	return t.ProcName()
}

// Valid reports whether t is exactly one of the eight namespace kinds.
func (t Type) Valid() bool { return t.ProcName() != "" }

// ParseType returns the Type named by s, ignoring case. It accepts the
// names under /proc/PID/ns/ ("mnt", "uts", "ipc", "net", "pid", "user",
// "cgroup", "time") and the aliases "mount", "ns" (from CLONE_NEWNS) and
// "network". Other strings give an error wrapping ErrInvalidType.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(s) {
	case "mnt", "mount", "ns":
		return Mount, nil
	case "uts":
		return UTS, nil
	case "ipc":
		return IPC, nil
	case "net", "network":
		return Net, nil
	case "pid":
		return PID, nil
	case "user":
		return User, nil
	case "cgroup":
		return Cgroup, nil
	case "time":
		return Time, nil
	}
	return 0, fmt.Errorf("syscalls: %w %q", ErrInvalidType, s)
}

// TypeFromFlag returns the Type whose CLONE_NEW* flag is flag. flag must
// have exactly one of the eight CLONE_NEW* bits set and no other bit;
// otherwise the error wraps ErrInvalidType. Use TypesOf to split a set of
// flags.
func TypeFromFlag(flag uintptr) (Type, error) {
	if t := Type(flag); t.Valid() {
		return t, nil
	}
	return 0, fmt.Errorf("syscalls: %w: flags %#x are not exactly one CLONE_NEW* flag", ErrInvalidType, flag)
}

// TypesOf returns the namespace kinds whose CLONE_NEW* flag is set in flags,
// in the order of Types. Other bits of flags are ignored.
func TypesOf(flags uintptr) []Type {
	var ts []Type
	for _, t := range allTypes {
		if flags&t.Flag() != 0 {
			ts = append(ts, t)
		}
	}
	return ts
}
