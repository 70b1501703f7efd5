package namespace

// The socket's maker by pidfd.
//
// SO_PEERCRED gives the socket's maker's pid as the reader's PID
// namespace sees it: 0 for a maker outside it, as the caller is to a
// child behind a relay or in a PID namespace it joined or created. Since
// Linux 6.5 SO_PEERPIDFD gives a pidfd of the maker instead, whose pid
// /proc/self/fdinfo shows in the PID namespace of that /proc (the
// caller's, passed to a stage 2 behind a join: trustproc_linux.go), where
// the checks found the maker: verifyParent then identifies it there too.
// On older kernels (ENOPROTOOPT), or where that /proc does not show the
// maker, the SO_PEERCRED check alone stands, as before.

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// soPeerPidfd is SO_PEERPIDFD (asm-generic; the same on every
// architecture Go supports on Linux), which golang.org/x/sys lacks.
const soPeerPidfd = 77

// peerPidfdPid returns the pid of the maker of the socket at fd as the
// /proc of the checks (procAt) sees it, and whether the kernel and that
// /proc could tell: false on kernels before 6.5, and when the maker is
// not visible there (pid 0). -1 is a maker that has been reaped. live
// says the maker had not exited when it was asked (its pidfd did not poll
// readable): a zombie keeps its pid until it is reaped.
func peerPidfdPid(fd int) (pid int, live, ok bool) {
	pidfd, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, soPeerPidfd)
	if err != nil {
		return 0, false, false
	}
	defer unix.Close(pidfd)
	b, err := readSmallFile(procAt("self/fdinfo/" + strconv.Itoa(pidfd)))
	if err != nil {
		return 0, false, false
	}
	v, ok := statusField(b, "Pid:")
	if !ok {
		return 0, false, false
	}
	pid, err = strconv.Atoi(v)
	if err != nil || pid == 0 {
		return 0, false, false
	}
	// After the pid: a maker that exits in between reads as exited.
	pfd := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	live = err == nil && n == 0
	return pid, live, true
}
