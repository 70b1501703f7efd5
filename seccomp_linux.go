package namespace

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The seccomp filter is compiled here, in the parent, into a BPF program
// (struct sock_filter entries) that travels in the step's Data; each
// executor only installs it (seccomp(2) SECCOMP_SET_MODE_FILTER). The
// deny list is assembled by github.com/elastic/go-seccomp-bpf, behind a
// prefix written here: the architecture check that kills a call of another
// one (the library would let it through with the default action, allow)
// and the ioctl requests that push input into a terminal.

// knownSyscall reports whether name is a system call of the program's
// architecture (true where the table is missing: WithSeccomp says so).
func knownSyscall(name string) bool {
	info, err := arch.GetInfo("")
	if err != nil {
		return true
	}
	_, ok := info.SyscallNames[name]
	return ok
}

// seccompRetErrno returns the action "fail with errno".
func seccompRetErrno(errno unix.Errno) uint32 {
	return unix.SECCOMP_RET_ERRNO | uint32(errno)&unix.SECCOMP_RET_DATA
}

// seccompProgram compiles the filter: c's rules (the default list if none)
// and, with noUserNS, the refusal of new user namespaces. It returns the
// program's bytes.
func seccompProgram(c *seccompConfig, noUserNS bool) (string, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return "", fmt.Errorf("%w: seccomp filters on %s: github.com/elastic/go-seccomp-bpf has no system call table for it (%v)", ErrUnsupported, runtime.GOARCH, err)
	}
	var groups []seccomp.SyscallGroup
	if noUserNS {
		groups = append(groups,
			seccomp.SyscallGroup{
				Action: seccomp.Action(seccompRetErrno(unix.EPERM)),
				NamesWithCondtions: []seccomp.NameWithConditions{
					{Name: "unshare", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: unix.CLONE_NEWUSER}}},
					{Name: "clone", Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: unix.CLONE_NEWUSER}}},
				},
			},
			seccomp.SyscallGroup{Action: seccomp.Action(seccompRetErrno(unix.ENOSYS)), Names: []string{"clone3"}})
	}
	if c != nil {
		rules := c.rules
		if len(rules) == 0 {
			rules = []SeccompRule{SeccompDeny(DefaultDeniedSyscalls()...)}
		}
		seen := map[string]bool{}
		var unknown []string
		for _, r := range rules {
			g := seccomp.SyscallGroup{Action: seccomp.Action(seccompRetErrno(unix.Errno(r.errno)))}
			if r.kill {
				g.Action = seccomp.ActionKillProcess
			}
			for _, name := range r.names {
				if _, ok := info.SyscallNames[name]; !ok {
					unknown = append(unknown, name)
					continue
				}
				if !seen[name] {
					seen[name] = true
					g.Names = append(g.Names, name)
				}
			}
			if len(g.Names) > 0 {
				groups = append(groups, g)
			}
		}
		if len(unknown) > 0 {
			return "", invalidf("WithSeccomp: unknown system call name(s) %s for %s", strings.Join(unknown, ", "), info.Name)
		}
	}
	prog := seccompPrefix(info)
	if len(groups) > 0 {
		p := seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: groups}
		body, err := p.Assemble()
		if err != nil {
			return "", fmt.Errorf("%w: assembling the seccomp filter: %v", ErrInvalid, err)
		}
		prog = append(prog, body...)
	} else {
		prog = append(prog, bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW})
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return "", fmt.Errorf("%w: assembling the seccomp filter: %v", ErrInvalid, err)
	}
	if len(raw) > 4096 { // BPF_MAXINSNS
		return "", invalidf("WithSeccomp: the filter has %d instructions; the kernel takes at most 4096", len(raw))
	}
	b := make([]byte, 0, 8*len(raw))
	for _, in := range raw {
		b = binary.NativeEndian.AppendUint16(b, in.Op)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return string(b), nil
}

// The offsets in struct seccomp_data of the system call number, the
// architecture and the low half of the second argument (little-endian:
// every architecture with a table is).
const (
	seccompNrOff   = 0
	seccompArchOff = 4
	seccompArg1Lo  = 16 + 8
)

// seccompPrefix returns the instructions before the deny list: a call of
// another architecture kills the process; ioctl TIOCSTI and TIOCLINUX
// fail with EPERM (the request is an unsigned int: only its low half is
// compared, as the kernel reads it).
func seccompPrefix(info *arch.Info) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: seccompArchOff, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS},
		bpf.LoadAbsolute{Off: seccompNrOff, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(info.SyscallNames["ioctl"]), SkipTrue: 5},
		bpf.LoadAbsolute{Off: seccompArg1Lo, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCSTI, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCLINUX, SkipTrue: 1},
		bpf.Jump{Skip: 1},
		bpf.RetConstant{Val: seccompRetErrno(unix.EPERM)},
	}
}
