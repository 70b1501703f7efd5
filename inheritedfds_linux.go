package namespace

import (
	"encoding/binary"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A function's child (and a pool's) gets standard input, output and error
// and the job socket only: the descriptors it inherited without
// close-on-exec, which the parent itself had inherited and passed on
// unknowingly, are closed before the function runs. (Go opens its own
// files close-on-exec, so none of the runtime's is affected, nor any a
// package opened in its init.)
//
// Which numbers to ask is found while the trust check reads this process's
// status (listFDs), when procfs is there for certain: the set-up may leave
// none (an empty root, a root without /proc, Landlock without it), or a
// /proc of a joined mount namespace's owner, and the child closes them
// after it, or before it executes the program again (dropInherited).
// Every inherited descriptor exists from the execution on, so a listing
// then names all of them; a number opened later by this process is
// close-on-exec and kept. Without a listing every number below the
// table's size is asked, which needs no procfs.
//
// How: in a table of up to scanFDsBelow numbers (the kernel's default
// size, as in a child of a program that never had more than 64 open), each
// number is asked with fcntl(F_GETFD), one raw system call. A larger table
// (the kernel sizes a child's by its parent's highest open descriptor: a
// caller holding one at 64 or above) is listed from /proc/self/fd with
// getdents(2): measured on a virtual
// machine where a system call costs about 1.2 µs, 253 numbers asked took
// 0.29 ms and the listing 0.05 ms; with the default table 0.066 and 0.047
// ms. poll(2) would be one call, but it reports an O_PATH descriptor as not
// open.

// scanFDsBelow is the largest descriptor table that is asked number by
// number rather than listed.
const scanFDsBelow = 64

// listFDs returns the numbers of the descriptors open in the process whose
// /proc directory procDir is (an O_PATH descriptor), but the listing's own.
func listFDs(procDir int) ([]int, error) {
	dir, err := unix.Openat(procDir, "fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	if err := procSameMount(dir); err != nil {
		return nil, err
	}
	fds := make([]int, 0, 16)
	var buf [512]byte // 21 entries of up to four digits a call
	for {
		n, err := unix.Getdents(dir, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return fds, nil
		}
		fds = appendDirentFDs(fds, buf[:n], dir)
	}
}

// appendDirentFDs appends to fds the numbers named by the linux_dirent64
// records in b (the entries of a /proc/PID/fd directory), but skip and the
// names that are not a decimal number ("." and "..").
func appendDirentFDs(fds []int, b []byte, skip int) []int {
	const (
		reclenOff = int(unsafe.Offsetof(unix.Dirent{}.Reclen))
		nameOff   = int(unsafe.Offsetof(unix.Dirent{}.Name))
	)
	for len(b) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(b[reclenOff:]))
		if reclen < nameOff || reclen > len(b) {
			break
		}
		fd, ok := 0, false
		for _, c := range b[nameOff:reclen] {
			if c == 0 {
				break
			}
			if c < '0' || c > '9' || fd > (math.MaxInt-9)/10 {
				ok = false
				break
			}
			fd, ok = fd*10+int(c-'0'), true
		}
		if ok && fd != skip {
			fds = append(fds, fd)
		}
		b = b[reclen:]
	}
	return fds
}

// closeInheritedFds closes the descriptors that this process inherited
// without close-on-exec, but its own (closeIfInherited): those the trust
// check listed; else every number below its table's size then. A listing
// of /proc after the set-up is never asked: that /proc may be none, or
// whatever a joined mount namespace's owner mounted there. (A table of
// unknown size, which only a privilege stage's image that could not read
// /proc has, and which does not call this, is searched below the soft
// RLIMIT_NOFILE: a best effort, as the limit may have been lowered below
// an inherited descriptor.)
func closeInheritedFds(parent *parentProc) {
	if parent.fds != nil {
		for _, fd := range parent.fds {
			closeIfInherited(fd)
		}
		return
	}
	size := parent.childFDs
	if size <= 0 {
		size = 1 << 20
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 1<<20 {
			size = int(lim.Cur)
		}
	}
	for fd := 3; fd < size; fd++ {
		closeIfInherited(fd)
	}
}

// closeIfInherited closes fd if it is open without close-on-exec and is
// not one of the child's own: standard input, output and error, the job
// socket and the caller's standard error.
func closeIfInherited(fd int) {
	if fd <= 2 || fd == child.sockFD || fd == child.stderrFD {
		return
	}
	// F_GETFD never blocks: a raw system call, without the runtime's
	// bookkeeping of one that might (most numbers are not open).
	flags, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETFD, 0)
	if e == 0 && flags&unix.FD_CLOEXEC == 0 {
		unix.Close(fd)
	}
}
