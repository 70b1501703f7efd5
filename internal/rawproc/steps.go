//go:build linux

// Package rawproc is the code of github.com/linuxns/namespace that runs
// between clone(2) and execve(2) without the Go runtime: the set-up
// executed by a raw clone child (StartProcess, Prepare) and the minimal
// PID 1 and subreaper (WithMinimalInit, WithKillDescendants).
//
// Everything here runs in a process that is a copy of a Go program but
// may not run Go code that needs the runtime: after clone only
// async-signal-safe system calls are allowed until execve. So the code
// calls only syscall.RawSyscall6 (nosplit) and does arithmetic: it
// neither allocates nor grows its stack nor takes a lock, and it writes
// no pointer into memory (a write barrier is the runtime's). The functions
// that run in the child are //go:nosplit (or, for the function that
// clones, //go:noinline with its frame already in place), //go:norace
// (the race detector's instrumentation calls into the runtime) and
// //go:nocheckptr. Every argument (C strings, arrays, buffers) is
// prepared by the parent before the clone, and the parent keeps it alive
// until the child has executed its program or exited.
package rawproc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Op is what a raw set-up step does: one system call, or a few.
type Op uint32

// The operations of the raw set-up steps.
const (
	OpMount       Op = iota + 1 // mount(Src, Target, Src, Flags, Data)
	OpHostname                  // sethostname(Data, Len)
	OpLoopback                  // SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP on the struct ifreq at Data
	OpTimeNS                    // unshare(CLONE_NEWTIME | Flags)
	OpTimeOffsets               // write Data (Len bytes) to the file Target
	OpWorkDir                   // chdir(Target), or the inherited directory; see Step
)

// The operations of the privilege and limit steps (privsteps.go).
const (
	OpRlimit       Op = 40 // prlimit64(0, Flags, Data: a [2]uint64, nil)
	OpNewSession   Op = 41 // setsid, unless already a session leader
	OpLandlock     Op = 42 // the Landlock ruleset at Data (a *Landlock)
	OpCapabilities Op = 43 // drop the capabilities outside Data's (a *Caps) Keep
	OpNoNewPrivs   Op = 44 // prctl(PR_SET_NO_NEW_PRIVS)
	OpSeccomp      Op = 45 // no_new_privs, then seccomp(SET_MODE_FILTER, 0, Data: a *unix.SockFprog)
)

// Step is one step of the set-up, with its arguments prepared by the
// parent.
type Step struct {
	Op     Op
	Src    *byte // OpMount: the source and file system type (a C string)
	Target *byte // OpMount: the mount point; OpTimeOffsets: the file; OpWorkDir: the directory, or nil
	// At is the directory descriptor of OpTimeOffsets's Target when that
	// is relative (the caller's /proc, after a joined mount namespace).
	At   uintptr
	Data *byte // OpMount: the data (a C string); OpHostname, OpTimeOffsets, OpLoopback: bytes
	Len  uintptr
	// Flags are the mount flags of OpMount; for OpWorkDir, Explicit.
	Flags uintptr
}

// Explicit is the flag of an OpWorkDir step whose directory was asked
// for: if it cannot be entered the step fails. Otherwise (an inherited
// directory) the step enters / instead.
const Explicit = 1

// Codes of the steps that only the raw executor has, around the step
// list. A report's code is the index of the failed step in the list, or
// one of these.
const (
	CodeWaitMaps      uint32 = 1<<16 + iota // wait for the parent to write the id maps
	CodeFiles                               // put the descriptors in place
	CodeSetsid                              // setsid
	CodeSetpgid                             // setpgid
	CodeForeground                          // TIOCSPGRP
	CodeSetctty                             // TIOCSCTTY
	CodeExec                                // execve
	CodeForkProgram                         // fork the program (WithMinimalInit, WithKillDescendants)
	CodeChildrenFile                        // open /proc/thread-self/children
	CodeForkSubreaper                       // fork the subreaper
	CodeHeld                                // not a failure: set up, held before execve (Prepare)
)

// WorkDir is the state of the working directory for the OpWorkDir steps:
// Cwd, if not nil, receives the path of the working directory before the
// first step (getcwd), for an OpWorkDir without a Target; Root is "/".
type WorkDir struct {
	Cwd  []byte
	Root *byte
	FS   FSState // the filesystem view's steps' state (fs.go)
}

// atFDCWD is AT_FDCWD as a system call argument.
const atFDCWD = ^uintptr(0) - 99

// RunSteps performs steps in order. It returns the index of the step
// that failed and its errno, or -1 and 0.
//
// It runs in a raw child: it must not grow the stack or allocate.
//
//go:nosplit
//go:norace
//go:nocheckptr
func RunSteps(steps []Step, wd *WorkDir) (int, syscall.Errno) {
	var (
		e      syscall.Errno
		fd, sk uintptr
	)
	if cwd := wd.Cwd; len(cwd) > 0 {
		// The inherited working directory's path, before the mounts can
		// cover it; "(unreachable)/…" or nothing means / below. (Slices
		// are indexed only where the compiler proves the index in range:
		// a bounds check's panic is Go runtime code.)
		if _, _, e = syscall.RawSyscall6(unix.SYS_GETCWD, uintptr(unsafe.Pointer(&cwd[0])), uintptr(len(cwd)), 0, 0, 0, 0); e != 0 {
			cwd[0] = 0
		}
	}
	for i := range steps {
		s := &steps[i]
		switch s.Op {
		case OpMount:
			_, _, e = syscall.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(s.Src)), uintptr(unsafe.Pointer(s.Target)),
				uintptr(unsafe.Pointer(s.Src)), s.Flags, uintptr(unsafe.Pointer(s.Data)), 0)
		case OpHostname:
			_, _, e = syscall.RawSyscall6(unix.SYS_SETHOSTNAME, uintptr(unsafe.Pointer(s.Data)), s.Len, 0, 0, 0, 0)
		case OpLoopback:
			sk, _, e = syscall.RawSyscall6(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0, 0, 0, 0)
			if e != 0 {
				break
			}
			e = loopbackUp(sk, s.Data)
			syscall.RawSyscall6(unix.SYS_CLOSE, sk, 0, 0, 0, 0, 0)
		case OpTimeNS:
			// The offsets can be set until a process enters the
			// namespace, which execve does. Flags: other namespaces
			// to make for the children with it (CLONE_NEWPID).
			_, _, e = syscall.RawSyscall6(unix.SYS_UNSHARE, unix.CLONE_NEWTIME|s.Flags, 0, 0, 0, 0, 0)
		case OpTimeOffsets:
			dir := atFDCWD
			if *s.Target != '/' {
				dir = s.At
			}
			fd, _, e = syscall.RawSyscall6(unix.SYS_OPENAT, dir, uintptr(unsafe.Pointer(s.Target)), unix.O_WRONLY|unix.O_CLOEXEC, 0, 0, 0)
			if e != 0 {
				break
			}
			_, _, e = syscall.RawSyscall6(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(s.Data)), s.Len, 0, 0, 0)
			syscall.RawSyscall6(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
		case OpWorkDir:
			e = enterWorkDir(s, wd)
		case OpNewRoot, OpBindSource, OpFileSource, OpFSSource, OpOverlaySource, OpAttach,
			OpSetAttr, OpSymlink, OpDir, OpPivot, OpDetachOldRoot:
			e = RunFS(s, &wd.FS)
		case OpRlimit, OpNewSession, OpLandlock, OpCapabilities, OpNoNewPrivs, OpSeccomp:
			e = runPrivOp(s)
		case OpSetns, OpUnshare:
			e = joinOp(s)
		default:
			e = syscall.EINVAL
		}
		if e != 0 {
			CloseFS(&wd.FS)
			return i, e
		}
	}
	CloseFS(&wd.FS)
	return -1, 0
}

// loopbackUp brings up the interface of the struct ifreq at ifr (its name
// filled in) through the socket sk.
//
//go:nosplit
//go:norace
//go:nocheckptr
func loopbackUp(sk uintptr, ifr *byte) syscall.Errno {
	if _, _, e := syscall.RawSyscall6(unix.SYS_IOCTL, sk, unix.SIOCGIFFLAGS, uintptr(unsafe.Pointer(ifr)), 0, 0, 0); e != 0 {
		return e
	}
	// struct ifreq: the name, then the flags (a short) in the union.
	flags := (*uint16)(unsafe.Add(unsafe.Pointer(ifr), unix.IFNAMSIZ))
	if *flags&unix.IFF_UP != 0 {
		return 0
	}
	*flags |= unix.IFF_UP | unix.IFF_RUNNING
	_, _, e := syscall.RawSyscall6(unix.SYS_IOCTL, sk, unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(ifr)), 0, 0, 0)
	return e
}

// enterWorkDir enters the working directory again by its path: the
// step's Target, or else the one read before the first step. An explicit
// one must be there; an inherited one that is not falls back to /.
//
//go:nosplit
//go:norace
//go:nocheckptr
func enterWorkDir(s *Step, wd *WorkDir) syscall.Errno {
	var e syscall.Errno
	cwd := wd.Cwd
	switch {
	case s.Target != nil:
		_, _, e = syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(s.Target)), 0, 0, 0, 0, 0)
	case len(cwd) > 0 && cwd[0] == '/':
		_, _, e = syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(&cwd[0])), 0, 0, 0, 0, 0)
	default:
		e = syscall.ENOENT
	}
	if e == 0 || s.Flags&Explicit != 0 {
		return e
	}
	_, _, e = syscall.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(wd.Root)), 0, 0, 0, 0, 0)
	return e
}

// IfreqSize is the size of struct ifreq, the buffer of an OpLoopback step.
const IfreqSize = unix.IFNAMSIZ + 24

// dieWithParent arms the parent-death signal sig, then exits (status 125)
// if the process of the pidfd parentFD has exited already (it died before
// the signal was armed), and closes parentFD.
//
// (A pidfd polls readable once its process has exited. Signal 0 through
// it would not tell: from inside a new PID namespace the kernel refuses a
// process outside it with EINVAL, dead or alive.)
//
//go:nosplit
//go:norace
//go:nocheckptr
func dieWithParent(sig, parentFD uintptr) {
	var (
		pfd  unix.PollFd
		zero unix.Timespec
	)
	syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, sig, 0, 0, 0, 0)
	pfd.Fd = int32(parentFD)
	pfd.Events = unix.POLLIN
	if r, _, _ := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&zero)), 0, 0, 0); r != 0 {
		syscall.RawSyscall6(unix.SYS_EXIT_GROUP, 125, 0, 0, 0, 0, 0)
	}
	syscall.RawSyscall6(unix.SYS_CLOSE, parentFD, 0, 0, 0, 0, 0)
}
