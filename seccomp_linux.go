package namespace

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/systab"
)

// The seccomp filter is compiled here, in the parent, into a BPF program
// (struct sock_filter entries) that travels in the step's Data; each
// executor only installs it (seccomp(2) SECCOMP_SET_MODE_FILTER). The
// system call numbers come from github.com/elastic/go-seccomp-bpf's
// tables, copied as static data into internal/systab (that package builds
// maps of them when a program starts, whether it makes a filter or not);
// the program is assembled here (golang.org/x/net/bpf), because
// that module's Policy assembles for the program's architecture only and
// sends a call of another one to its default action, which for a deny
// list is "allow".

// knownSyscall reports whether name is a system call of the program's
// architecture (true where the table is missing: WithSeccomp says so).
func knownSyscall(name string) bool {
	info, err := systab.ForGOARCH("")
	if err != nil {
		return true
	}
	_, ok := info.Number(name)
	return ok
}

// seccompRetErrno returns the action "fail with errno".
func seccompRetErrno(errno unix.Errno) uint32 {
	return unix.SECCOMP_RET_ERRNO | uint32(errno)&unix.SECCOMP_RET_DATA
}

// seccompProgram compiles the filter: c's rules (the default list if none)
// and, with noUserNS, the refusal of new user namespaces. It returns the
// program's bytes.
//
// The filter allows the program's own architecture and, if it differs,
// the kernel's (a 386 program on an x86-64 kernel runs i386 calls itself
// and may execute x86-64 programs), each with its own system call numbers
// from github.com/elastic/go-seccomp-bpf's tables; a call of any other
// architecture kills the process, and on x86-64 an x32 call fails with
// ENOSYS.
func seccompProgram(c *seccompConfig, noUserNS bool) (string, error) {
	own, err := systab.ForGOARCH("")
	if err != nil {
		return "", fmt.Errorf("%w: seccomp filters on %s: github.com/elastic/go-seccomp-bpf has no system call table for it (%v)", ErrUnsupported, runtime.GOARCH, err)
	}
	arches := []*systab.Table{own}
	if k := kernelArch(); k != nil && k.ID != own.ID {
		arches = append(arches, k)
	}
	var rules []SeccompRule
	if c != nil {
		rules = c.rules
		if len(rules) == 0 {
			rules = []SeccompRule{SeccompDeny(DefaultDeniedSyscalls()...)}
		}
		var unknown []string
		for _, r := range rules {
			for _, name := range r.names {
				if _, ok := own.Number(name); !ok && !slices.Contains(unknown, name) {
					unknown = append(unknown, name)
				}
			}
		}
		if len(unknown) > 0 {
			return "", invalidf("WithSeccomp: unknown system call name(s) %s for %s", strings.Join(unknown, ", "), own.Name)
		}
	}
	// The dispatch on the architecture, then a block for each.
	var blocks [][]bpf.Instruction
	for _, a := range arches {
		blocks = append(blocks, seccompBlock(a, rules, noUserNS))
	}
	prog := []bpf.Instruction{bpf.LoadAbsolute{Off: seccompArchOff, Size: 4}}
	// Each test is two instructions (jeq, ja); then the kill.
	skip := 2*(len(arches)-1-0) + 1
	for i, a := range arches {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(a.ID), SkipTrue: 1},
			bpf.Jump{Skip: uint32(skip)})
		skip += len(blocks[i]) - 2
	}
	prog = append(prog, bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS})
	for _, b := range blocks {
		prog = append(prog, b...)
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

// kernelArch returns the table of the kernel's own architecture, or nil.
func kernelArch() *systab.Table {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return nil
	}
	switch m := unix.ByteSliceToString(u.Machine[:]); {
	case m == "x86_64":
		return systab.X86_64
	case m == "aarch64":
		return systab.AARCH64
	case len(m) == 4 && m[0] == 'i' && m[2:] == "86":
		return systab.I386
	case strings.HasPrefix(m, "arm"):
		return systab.ARM
	}
	return nil
}

// seccompBlock returns the filter's instructions for the calls of
// architecture a (the system call number is loaded first): x32 calls on
// x86-64 fail with ENOSYS; ioctl TIOCSTI and TIOCLINUX fail with EPERM
// (the request is an unsigned int: only its low half is compared, as the
// kernel reads it); with noUserNS, unshare and clone with CLONE_NEWUSER
// fail with EPERM and clone3 with ENOSYS; then each rule's calls (those
// that a has) get its action; everything else is allowed.
func seccompBlock(a *systab.Table, rules []SeccompRule, noUserNS bool) []bpf.Instruction {
	eperm := bpf.RetConstant{Val: seccompRetErrno(unix.EPERM)}
	enosys := bpf.RetConstant{Val: seccompRetErrno(unix.ENOSYS)}
	ldNr := bpf.LoadAbsolute{Off: seccompNrOff, Size: 4}
	p := []bpf.Instruction{ldNr}
	if a.ID == systab.X86_64.ID {
		p = append(p, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1}, enosys)
	}
	ioctl, _ := a.Number("ioctl") // every table has it
	p = append(p,
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ioctl), SkipTrue: 5},
		bpf.LoadAbsolute{Off: seccompArg1Lo, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCSTI, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.TIOCLINUX, SkipTrue: 1},
		bpf.Jump{Skip: 1},
		eperm,
		ldNr)
	if noUserNS {
		for _, name := range []string{"unshare", "clone"} {
			nr, ok := a.Number(name)
			if !ok {
				continue
			}
			// Flags are the first argument of both on these
			// architectures; CLONE_NEWUSER is in its low half.
			p = append(p,
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(nr), SkipTrue: 4},
				bpf.LoadAbsolute{Off: seccompArg0Lo, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_NEWUSER, SkipFalse: 1},
				eperm,
				ldNr)
		}
		if nr, ok := a.Number("clone3"); ok {
			p = append(p, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(nr), SkipTrue: 1}, enosys)
		}
	}
	p = append(p, seccompRuleJumps(rules, func(name string) (uint32, bool) {
		nr, ok := a.Number(name)
		return uint32(nr), ok
	})...)
	// The calls that a reaches through a multiplexer as well (socketcall
	// and ipc on i386 and others): denied there by their call number,
	// the multiplexer's first argument (its low 16 bits: ipc keeps a
	// version above them), so that a deny list cannot be bypassed.
	for _, mux := range seccompMultiplexers {
		nr, ok := a.Number(mux.name)
		if !ok {
			continue
		}
		jumps := seccompRuleJumps(rules, func(name string) (uint32, bool) {
			call, ok := mux.calls[name]
			return call, ok
		})
		if len(jumps) == 0 {
			continue
		}
		block := append([]bpf.Instruction{
			bpf.LoadAbsolute{Off: seccompArg0Lo, Size: 4},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff},
		}, jumps...)
		block = append(block, ldNr)
		p = append(p, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(nr), SkipTrue: uint8(len(block))})
		p = append(p, block...)
	}
	return append(p, bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW})
}

// seccompRuleJumps returns, for each call of rules that number finds (a
// system call's number, or a multiplexer's call number), a test of the
// accumulator against it and a return of its rule's action; a call in two
// rules gets the first one's.
func seccompRuleJumps(rules []SeccompRule, number func(name string) (uint32, bool)) []bpf.Instruction {
	var p []bpf.Instruction
	seen := map[uint32]bool{}
	for _, r := range rules {
		action := seccompRetErrno(unix.Errno(r.errno))
		if r.kill {
			action = unix.SECCOMP_RET_KILL_PROCESS
		}
		for _, name := range r.names {
			nr, ok := number(name)
			if !ok || seen[nr] {
				continue
			}
			seen[nr] = true
			p = append(p, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: nr, SkipTrue: 1}, bpf.RetConstant{Val: action})
		}
	}
	return p
}

// seccompMultiplexers are the system calls that reach others by a call
// number in their first argument (linux/net.h's SYS_*, and ipc's in
// linux/ipc.h), on the architectures that have them.
var seccompMultiplexers = []struct {
	name  string
	calls map[string]uint32
}{
	{"socketcall", map[string]uint32{
		"socket": 1, "bind": 2, "connect": 3, "listen": 4, "accept": 5, "getsockname": 6,
		"getpeername": 7, "socketpair": 8, "send": 9, "recv": 10, "sendto": 11, "recvfrom": 12,
		"shutdown": 13, "setsockopt": 14, "getsockopt": 15, "sendmsg": 16, "recvmsg": 17,
		"accept4": 18, "recvmmsg": 19, "sendmmsg": 20,
	}},
	{"ipc", map[string]uint32{
		"semop": 1, "semget": 2, "semctl": 3, "semtimedop": 4, "msgsnd": 11, "msgrcv": 12,
		"msgget": 13, "msgctl": 14, "shmat": 21, "shmdt": 22, "shmget": 23, "shmctl": 24,
	}},
}

// x32SyscallBit marks the system call numbers of the x32 ABI on x86-64.
const x32SyscallBit = 0x40000000

// The offsets in struct seccomp_data of the system call number, the
// architecture and the low half of the second argument (little-endian:
// every architecture with a table is).
const (
	seccompNrOff   = 0
	seccompArchOff = 4
	seccompArg0Lo  = 16
	seccompArg1Lo  = 16 + 8
)
