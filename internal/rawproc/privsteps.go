//go:build linux

package rawproc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The privilege and limit steps of the raw executor: rlimits, a new
// session, Landlock, capabilities, no_new_privs and seccomp. Like every
// step they run in the raw child (no allocation, no stack growth, no
// pointer written): the parent prepares each argument, and the child only
// fills in numbers (descriptors, capability words) in buffers that the
// parent made for it.

// Rlimit is the argument of an OpRlimit step: the soft and hard limits
// (struct rlimit64).
type Rlimit [2]uint64

// Caps is the argument of an OpCapabilities step: the capabilities to
// keep (bit N for capability N) and the buffers of capget and capset.
type Caps struct {
	Keep uint64
	Hdr  unix.CapUserHeader
	Data [2]unix.CapUserData
}

// LandlockRule is one rule of a Landlock ruleset: beneath a path (Path
// not nil), the rights DirAccess if the path is a directory and
// FileAccess otherwise; or, Path nil, the rights NetAccess on TCP port
// Port. Attr receives the rule's struct landlock_path_beneath_attr or
// landlock_net_port_attr.
type LandlockRule struct {
	Path       *byte
	DirAccess  uint64
	FileAccess uint64
	NetAccess  uint64
	Port       uint64
	Attr       [16]byte
}

// Landlock is the argument of an OpLandlock step: the ruleset's struct
// landlock_ruleset_attr (handled file system, network and scoped rights)
// and its size for the kernel's ABI, the rules, and buffers.
type Landlock struct {
	Handled  [3]uint64
	AttrSize uintptr
	Rules    []LandlockRule
	Empty    *byte // "", for statx of a descriptor
	Statx    unix.Statx_t
}

// The Landlock rule types (enum landlock_rule_type).
const (
	landlockRulePathBeneath = 1
	landlockRuleNetPort     = 2
)

// runPrivOp performs one privilege or limit step.
//
//go:nosplit
//go:norace
//go:nocheckptr
func runPrivOp(s *Step) syscall.Errno {
	var (
		e  syscall.Errno
		r1 uintptr
	)
	switch s.Op {
	case OpRlimit:
		_, _, e = syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, s.Flags, uintptr(unsafe.Pointer(s.Data)), 0, 0, 0)
	case OpNewSession:
		if _, _, e = syscall.RawSyscall6(unix.SYS_SETSID, 0, 0, 0, 0, 0, 0); e == syscall.EPERM {
			// Already the leader of a session of its own: done.
			r1, _, _ = syscall.RawSyscall6(unix.SYS_GETSID, 0, 0, 0, 0, 0, 0)
			if pid, _, _ := syscall.RawSyscall6(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); r1 == pid {
				e = 0
			}
		}
	case OpLandlock:
		e = landlock((*Landlock)(unsafe.Pointer(s.Data)))
	case OpCapabilities:
		e = dropCaps((*Caps)(unsafe.Pointer(s.Data)))
	case OpNoNewPrivs:
		_, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)
	case OpSeccomp:
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e == 0 {
			_, _, e = syscall.RawSyscall6(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(s.Data)), 0, 0, 0)
		}
	default:
		e = syscall.EINVAL
	}
	return e
}

// dropCaps drops every capability outside c.Keep from the bounding,
// ambient, inheritable, permitted and effective sets; the kept ones that
// are permitted become inheritable and ambient, so that they survive
// execve for a uid other than 0.
//
//go:nosplit
//go:norace
//go:nocheckptr
func dropCaps(c *Caps) syscall.Errno {
	var (
		e     syscall.Errno
		r1    uintptr
		bound uint64
	)
	for capn := uintptr(0); capn < 64; capn++ {
		r1, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, capn, 0, 0, 0, 0)
		if e == syscall.EINVAL {
			break // past the kernel's last capability
		}
		if e != 0 {
			return e
		}
		if r1 == 0 {
			continue
		}
		if c.Keep&(1<<capn) != 0 {
			bound |= 1 << capn
			continue
		}
		if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, capn, 0, 0, 0, 0); e != 0 {
			return e
		}
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return e
	}
	c.Hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	c.Hdr.Pid = 0
	if _, _, e = syscall.RawSyscall6(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&c.Hdr)), uintptr(unsafe.Pointer(&c.Data[0])), 0, 0, 0, 0); e != 0 {
		return e
	}
	for i := range c.Data {
		keep := uint32(c.Keep >> (32 * i))
		c.Data[i].Permitted &= keep
		c.Data[i].Effective &= keep
		c.Data[i].Inheritable = c.Data[i].Permitted & uint32(bound>>(32*i))
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&c.Hdr)), uintptr(unsafe.Pointer(&c.Data[0])), 0, 0, 0, 0); e != 0 {
		return e
	}
	for capn := uintptr(0); capn < 64; capn++ {
		if c.Data[(capn>>5)&1].Inheritable&(1<<(capn&31)) != 0 {
			// Best effort: SECBIT_NO_CAP_AMBIENT_RAISE may forbid it; the
			// capability is kept in the other sets all the same.
			syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, capn, 0, 0, 0)
		}
	}
	return 0
}

// landlock creates the ruleset l, adds its rules (opening each path as
// the child sees it, after its mounts), sets no_new_privs and restricts
// the process to it.
//
//go:nosplit
//go:norace
//go:nocheckptr
func landlock(l *Landlock) syscall.Errno {
	rs, _, e := syscall.RawSyscall6(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&l.Handled[0])), l.AttrSize, 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	// A local copy of the slice, which the loop's bound covers: no bounds
	// check, whose panic would be runtime code in the child.
	rules := l.Rules
	for i := range rules {
		r := &rules[i]
		if r.Path == nil {
			*(*uint64)(unsafe.Pointer(&r.Attr[0])) = r.NetAccess
			*(*uint64)(unsafe.Pointer(&r.Attr[8])) = r.Port
			_, _, e = syscall.RawSyscall6(unix.SYS_LANDLOCK_ADD_RULE, rs, landlockRuleNetPort, uintptr(unsafe.Pointer(&r.Attr[0])), 0, 0, 0)
		} else {
			e = landlockPath(rs, l, r)
		}
		if e != 0 {
			syscall.RawSyscall6(unix.SYS_CLOSE, rs, 0, 0, 0, 0, 0)
			return e
		}
	}
	if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e == 0 {
		_, _, e = syscall.RawSyscall6(unix.SYS_LANDLOCK_RESTRICT_SELF, rs, 0, 0, 0, 0, 0)
	}
	syscall.RawSyscall6(unix.SYS_CLOSE, rs, 0, 0, 0, 0, 0)
	return e
}

// landlockPath adds the path rule r to the ruleset rs.
//
//go:nosplit
//go:norace
//go:nocheckptr
func landlockPath(rs uintptr, l *Landlock, r *LandlockRule) syscall.Errno {
	fd, _, e := syscall.RawSyscall6(unix.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(r.Path)), unix.O_PATH|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return e
	}
	access := r.FileAccess
	_, _, e = syscall.RawSyscall6(unix.SYS_STATX, fd, uintptr(unsafe.Pointer(l.Empty)), unix.AT_EMPTY_PATH, unix.STATX_TYPE, uintptr(unsafe.Pointer(&l.Statx)), 0)
	if e == 0 {
		if l.Statx.Mode&unix.S_IFMT == unix.S_IFDIR {
			access = r.DirAccess
		}
		*(*uint64)(unsafe.Pointer(&r.Attr[0])) = access
		*(*int32)(unsafe.Pointer(&r.Attr[8])) = int32(fd)
		_, _, e = syscall.RawSyscall6(unix.SYS_LANDLOCK_ADD_RULE, rs, landlockRulePathBeneath, uintptr(unsafe.Pointer(&r.Attr[0])), 0, 0, 0)
	}
	syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	return e
}
