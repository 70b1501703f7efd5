package namespace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
	"github.com/linuxns/namespace/internal/wire"
)

// The privilege and limit steps (kinds 40-63 of wire.StepKind), compiled
// here from privConfig and run by both executors: the Go one below
// (runPrivStep), the raw one in internal/rawproc (privsteps.go), to which
// rawPrivStep prepares each step's arguments.

const (
	stepRlimit       = wire.StepRlimit
	stepNewSession   = wire.StepNewSession
	stepLandlock     = wire.StepLandlock
	stepCapabilities = wire.StepCapabilities
	stepNoNewPrivs   = wire.StepNoNewPrivs
	stepSeccomp      = wire.StepSeccomp
)

// isPrivStep reports whether s is a privilege or limit step.
func isPrivStep(s *step) bool { return s.Kind >= 40 && s.Kind < 64 }

// privSteps returns the privilege and limit steps, in the contract's
// order (rlimits → session → Landlock → capabilities → no_new_privs →
// seccomp), and the problems that keep them from being made: unknown
// system call names (ErrInvalid), a kernel without the Landlock ABI that a
// strict ruleset needs or an architecture without a system call table
// (*SetupError wrapping ErrUnsupported).
func (n *Namespace) privSteps() ([]step, []error) {
	c := &n.priv.compiled
	c.once.Do(func() { c.steps, c.errs = n.compilePrivSteps() })
	return c.steps, c.errs
}

func (n *Namespace) compilePrivSteps() ([]step, []error) {
	p := &n.priv
	var s []step
	var errs []error
	for _, r := range p.rlimits {
		s = append(s, step{Kind: stepRlimit, Flags: uint64(r.resource), Data: strconv.FormatUint(r.soft, 10) + " " + strconv.FormatUint(r.hard, 10)})
	}
	if p.newSession {
		s = append(s, step{Kind: stepNewSession})
	}
	if p.landlock != nil {
		st, ok, err := landlockStep(p.landlock, landlockABI(), n.log())
		if err != nil {
			errs = append(errs, &SetupError{Step: stepTable[stepLandlock].name, Err: err, kind: ErrUnsupported})
		} else if ok {
			s = append(s, st)
		}
	}
	if p.keepCaps != nil {
		s = append(s, step{Kind: stepCapabilities, Flags: *p.keepCaps})
	}
	seccomp := p.seccomp != nil || p.noUserNS
	if p.noNewPrivs && !seccomp {
		// A seccomp filter sets no_new_privs itself, on every thread.
		s = append(s, step{Kind: stepNoNewPrivs})
	}
	if seccomp {
		prog, err := seccompProgram(p.seccomp, p.noUserNS)
		switch {
		case errors.Is(err, ErrUnsupported):
			errs = append(errs, &SetupError{Step: stepTable[stepSeccomp].name, Err: err, kind: ErrUnsupported})
		case err != nil:
			errs = append(errs, err)
		default:
			s = append(s, step{Kind: stepSeccomp, Data: prog})
		}
	}
	return s, errs
}

// privErrors returns the problems of the privilege and limit options
// (for Validate).
func (n *Namespace) privErrors() []error {
	if !n.priv.any() {
		return nil
	}
	_, errs := n.privSteps()
	return errs
}

// privAllThreads is set in a child that keeps running Go (Run, Task.Run,
// a Pool, Setup): the steps that the kernel applies to one thread are
// applied to every thread. Otherwise (a Command child, which executes the
// program from the thread that ran the steps) to the calling thread.
var privAllThreads bool

// allThreadsWork reports whether syscall.AllThreadsSyscall works: not in
// a program that links cgo.
var allThreadsWork = sync.OnceValue(func() bool {
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0)
	return e != syscall.ENOTSUP
})

// errCgoThreads is the failure of a per-thread step in a child that keeps
// running Go in a program that links cgo.
// It is a value of its own type, not made by fmt.Errorf, so that the
// package's initialisation, which every child and every program linking
// the package pays, does not run fmt.
var errCgoThreads error = cgoThreadsError{}

type cgoThreadsError struct{}

func (cgoThreadsError) Error() string {
	return "this step applies to one thread, and a Go child (Run, Task.Run, Pool, Setup) of a program that links cgo cannot apply it to all of its threads (syscall.AllThreadsSyscall refuses): " + syscall.ENOTSUP.Error()
}

func (cgoThreadsError) Unwrap() error { return syscall.ENOTSUP }

// threadSyscall makes a system call that applies to one thread on the
// threads the steps are for (see privAllThreads).
func threadSyscall(trap, a1, a2, a3 uintptr) error {
	var e syscall.Errno
	if privAllThreads {
		if !allThreadsWork() {
			return errCgoThreads
		}
		_, _, e = syscall.AllThreadsSyscall(trap, a1, a2, a3)
	} else {
		_, _, e = unix.RawSyscall(trap, a1, a2, a3)
	}
	if e != 0 {
		return e
	}
	return nil
}

// runPrivStep is the Go executor of a privilege or limit step.
func runPrivStep(s *step) error {
	switch s.Kind {
	case stepRlimit:
		var soft, hard uint64
		if _, err := fmt.Sscan(s.Data, &soft, &hard); err != nil {
			return fmt.Errorf("%w: a malformed rlimit step: %v", ErrProtocol, err)
		}
		// syscall's Setrlimit: of RLIMIT_NOFILE, it also keeps the Go
		// runtime from restoring its own value at execve.
		if err := syscall.Setrlimit(int(s.Flags), &syscall.Rlimit{Cur: soft, Max: hard}); err != nil {
			return fmt.Errorf("%s: %w", rlimNames[s.Flags%uint64(len(rlimNames))], os.NewSyscallError("setrlimit", err))
		}
	case stepNewSession:
		if _, err := unix.Setsid(); err != nil {
			if sid, _ := unix.Getsid(0); sid != os.Getpid() {
				return os.NewSyscallError("setsid", err)
			}
		}
	case stepLandlock:
		return runLandlock(s)
	case stepCapabilities:
		return dropCapabilities(s.Flags)
	case stepNoNewPrivs:
		if err := threadSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
			return os.NewSyscallError("prctl PR_SET_NO_NEW_PRIVS", err)
		}
	case stepSeccomp:
		return installSeccomp(s.Data)
	default:
		return fmt.Errorf("%w: a set-up step of unknown kind %d", ErrProtocol, s.Kind)
	}
	return nil
}

// installSeccomp sets no_new_privs on this thread and installs the BPF
// program prog: on every thread (SECCOMP_FILTER_FLAG_TSYNC, which also
// sets no_new_privs on each) in a child that keeps running Go.
func installSeccomp(prog string) error {
	filter := seccompFilter(prog)
	if len(filter) == 0 {
		return fmt.Errorf("%w: an empty seccomp step", ErrProtocol)
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		return os.NewSyscallError("prctl PR_SET_NO_NEW_PRIVS", e)
	}
	var flags uintptr
	if privAllThreads {
		flags = unix.SECCOMP_FILTER_FLAG_TSYNC
	}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return os.NewSyscallError("seccomp", e)
	}
	if r != 0 {
		return fmt.Errorf("seccomp: thread %d could not take the filter (SECCOMP_FILTER_FLAG_TSYNC)", r)
	}
	return nil
}

// seccompFilter decodes the BPF program of a seccomp step.
func seccompFilter(prog string) []unix.SockFilter {
	b := []byte(prog)
	f := make([]unix.SockFilter, len(b)/8)
	for i := range f {
		in := b[8*i:]
		f[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(in), Jt: in[2], Jf: in[3], K: binary.NativeEndian.Uint32(in[4:])}
	}
	return f
}

// dropCapabilities is the Go executor's capability step: the same as
// rawproc's, with threadSyscall.
func dropCapabilities(keep uint64) error {
	var bound uint64
	for c := uintptr(0); c < 64; c++ {
		r, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, c, 0)
		if e == unix.EINVAL {
			break
		}
		if e != 0 {
			return os.NewSyscallError("prctl PR_CAPBSET_READ", e)
		}
		if r == 0 {
			continue
		}
		if keep&(1<<c) != 0 {
			bound |= 1 << c
			continue
		}
		if err := threadSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0); err != nil {
			return fmt.Errorf("%v: %w", Capability(c), os.NewSyscallError("prctl PR_CAPBSET_DROP", err))
		}
	}
	if err := threadSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
		return os.NewSyscallError("prctl PR_CAP_AMBIENT_CLEAR_ALL", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if _, _, e := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return os.NewSyscallError("capget", e)
	}
	for i := range data {
		k := uint32(keep >> (32 * i))
		data[i].Permitted &= k
		data[i].Effective &= k
		data[i].Inheritable = data[i].Permitted & uint32(bound>>(32*i))
	}
	if err := threadSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); err != nil {
		return os.NewSyscallError("capset", err)
	}
	for c := uintptr(0); c < 64; c++ {
		if data[c/32].Inheritable&(1<<(c%32)) != 0 {
			_ = threadSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, c)
		}
	}
	return nil
}

// rawPrivStep prepares the privilege or limit step s for the raw
// executor into r.
func rawPrivStep(s *step, r *rawproc.Step) error {
	switch s.Kind {
	case stepRlimit:
		var lim rawproc.Rlimit
		if _, err := fmt.Sscan(s.Data, &lim[0], &lim[1]); err != nil {
			return fmt.Errorf("%w: a malformed rlimit step: %v", ErrInvalid, err)
		}
		r.Op, r.Flags, r.Data = rawproc.OpRlimit, uintptr(s.Flags), (*byte)(unsafe.Pointer(&lim))
	case stepNewSession:
		r.Op = rawproc.OpNewSession
	case stepLandlock:
		l, err := rawLandlock(s)
		if err != nil {
			return err
		}
		r.Op, r.Data = rawproc.OpLandlock, (*byte)(unsafe.Pointer(l))
	case stepCapabilities:
		r.Op, r.Data = rawproc.OpCapabilities, (*byte)(unsafe.Pointer(&rawproc.Caps{Keep: s.Flags}))
	case stepNoNewPrivs:
		r.Op = rawproc.OpNoNewPrivs
	case stepSeccomp:
		f := seccompFilter(s.Data)
		if len(f) == 0 {
			return fmt.Errorf("%w: an empty seccomp step", ErrInvalid)
		}
		r.Op, r.Data = rawproc.OpSeccomp, (*byte)(unsafe.Pointer(&unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}))
	default:
		return fmt.Errorf("%w: a set-up step of unknown kind %d", ErrInvalid, s.Kind)
	}
	return nil
}

// isPrivStepName reports whether step names a privilege or limit step.
func isPrivStepName(step string) bool {
	for k, info := range stepTable {
		if k >= 40 && k < 64 && strings.HasPrefix(strings.TrimPrefix(step, "in the child: "), info.name) {
			return true
		}
	}
	return false
}

// privHint returns what to do about the failure errno of the privilege
// step called step, or "".
func privHint(step string, errno syscall.Errno) string {
	switch {
	case step == stepTable[stepCapabilities].name && errno == syscall.EPERM:
		return "dropping capabilities from the bounding set needs CAP_SETPCAP: as a caller other than root add WithPrivateUser()"
	case step == stepTable[stepRlimit].name && errno == syscall.EPERM:
		return "raising a hard limit needs CAP_SYS_RESOURCE in the initial user namespace"
	case errno == syscall.EOPNOTSUPP && isPrivStepName(step):
		return "a Go child (Run, Task.Run, Pool, Setup) of a program that links cgo cannot restrict every thread: use Command or StartProcess, or build with CGO_ENABLED=0"
	}
	return ""
}
