package namespace

import (
	"slices"
	"syscall"
)

// A SeccompRule is a part of the child's seccomp filter (WithSeccomp):
// system calls, by name, and what a call of one of them gets.
type SeccompRule struct {
	kill  bool
	errno syscall.Errno
	names []string
}

// SeccompDeny makes the named system calls fail with EPERM.
func SeccompDeny(names ...string) SeccompRule {
	return SeccompRule{errno: syscall.EPERM, names: names}
}

// SeccompDenyErrno makes the named system calls fail with errno (1 to
// 4095; others are ErrInvalid).
func SeccompDenyErrno(errno syscall.Errno, names ...string) SeccompRule {
	return SeccompRule{errno: errno, names: names}
}

// SeccompKill makes a call of one of the named system calls kill the
// whole process (SECCOMP_RET_KILL_PROCESS: it dies of SIGSYS).
func SeccompKill(names ...string) SeccompRule {
	return SeccompRule{kill: true, names: names}
}

// seccompConfig is the filter WithSeccomp asks for; no rules: the default.
type seccompConfig struct {
	rules []SeccompRule
}

// defaultDeniedSyscalls is DefaultDeniedSyscalls's list.
var defaultDeniedSyscalls = []string{
	// Keyrings: the kernel's keyrings are not namespaced.
	"add_key", "keyctl", "request_key",
	// Inspecting or changing other processes and the kernel.
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"kexec_load", "kexec_file_load", "reboot",
	"init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms",
	// Frequent sources of kernel exploits that programs rarely need.
	"bpf", "perf_event_open", "userfaultfd",
	// Files by handle: open_by_handle_at escapes a mount namespace or a
	// chroot (the "shocker" attack).
	"open_by_handle_at", "name_to_handle_at",
	// The host's clock, swap, accounting, quotas.
	"clock_settime", "clock_adjtime", "clock_settime64", "clock_adjtime64", "settimeofday", "stime",
	"swapon", "swapoff", "acct", "quotactl",
	// Obsolete interfaces.
	"lookup_dcookie", "nfsservctl", "sysfs", "_sysctl", "uselib", "ustat",
	"vm86", "vm86old", "ioperm", "iopl",
}

// DefaultDeniedSyscalls returns the system calls that WithSeccomp() denies,
// in the spirit of Docker's default seccomp profile: what a program in a
// sandbox does not need and the kernel's attack surface does not want.
//
//   - add_key, keyctl, request_key: the kernel keyrings, not namespaced;
//   - ptrace, process_vm_readv, process_vm_writev, kcmp: other processes'
//     memory and descriptors;
//   - kexec_load, kexec_file_load, reboot, init_module, finit_module,
//     delete_module, create_module, query_module, get_kernel_syms: the
//     kernel itself;
//   - bpf, perf_event_open, userfaultfd: frequent sources of kernel
//     exploits (userfaultfd stalls the kernel at will);
//   - open_by_handle_at, name_to_handle_at: files by handle, which escape
//     a mount namespace or chroot;
//   - clock_settime, clock_adjtime (and their *64 forms on 32-bit
//     systems), settimeofday, stime, swapon, swapoff, acct, quotactl: the
//     host's clock, swap, accounting and quotas;
//   - lookup_dcookie, nfsservctl, sysfs, _sysctl, uselib, ustat, vm86,
//     vm86old, ioperm, iopl: obsolete interfaces and raw I/O ports.
//
// The names that the machine's architecture lacks are left out. Namespace
// calls (unshare, setns, mount, umount2, pivot_root) are not in it: add
// them when asked, e.g.
//
//	WithSeccomp(SeccompDeny(append(DefaultDeniedSyscalls(), "unshare", "setns", "mount")...))
//
// and WithoutNestedUserNamespaces refuses only new user namespaces.
func DefaultDeniedSyscalls() []string {
	return slices.DeleteFunc(slices.Clone(defaultDeniedSyscalls), func(name string) bool { return !knownSyscall(name) })
}

// WithSeccomp installs a seccomp filter in the child, last of the set-up
// (so that the set-up itself is not filtered), built in Go: no cgo, no
// libseccomp. WithSeccomp() denies DefaultDeniedSyscalls with EPERM;
// rules (SeccompDeny, SeccompDenyErrno, SeccompKill) replace that list;
// a system call in two rules gets the first one's action. Every other call
// is allowed, except that
//
//   - a call of another architecture (i386 from an x86-64 program) kills
//     the process, and x32 calls on x86-64 fail with ENOSYS: a deny list
//     must not be bypassed through another system call table;
//   - ioctl TIOCSTI and TIOCLINUX, which push input into a terminal, fail
//     with EPERM (see WithNewSession);
//   - where socket and System V IPC calls are also reached through
//     socketcall(2) and ipc(2) (i386, for instance), a denied call is
//     denied there too, by its call number.
//
// The filter implies no_new_privs (the kernel needs it for a filter
// installed without CAP_SYS_ADMIN) and needs no namespace. A 386 or arm
// program on a 64-bit kernel allows the kernel's architecture as well,
// each with its own numbers (it may execute programs of either). An
// unknown system call name is ErrInvalid naming it; an architecture whose
// system call table github.com/elastic/go-seccomp-bpf lacks (it has
// x86-64, i386, arm and arm64) is ErrUnsupported. A later WithSeccomp replaces an earlier
// one. Run, Task.Run, Pool, Command, StartProcess, Prepare and Setup honour
// it; Do and Exec refuse it.
func WithSeccomp(rules ...SeccompRule) Option {
	return option("WithSeccomp", func(n *Namespace) {
		n.priv.seccomp = &seccompConfig{rules: slices.Clone(rules)}
		for _, r := range rules {
			if !r.kill && (r.errno < 1 || r.errno > 4095) {
				n.optionErrs = append(n.optionErrs, invalidf("WithSeccomp: errno %d is outside 1 to 4095", int(r.errno)))
			}
		}
	})
}
