package namespace

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// The time namespace before Linux 6.3.
//
// unshare(CLONE_NEWTIME) makes a time namespace for the caller's future
// children; the caller itself stays outside. Since Linux 6.3, execve moves
// a process into that namespace ("fs/exec: switch timens when a task gets a
// new mm"), and the child re-executes itself (or executes the command) to be
// inside. Before 6.3 it does not: the executed program would run with the
// clocks of the caller, and, because its time namespace then differs from
// its children's, the kernel refuses it every new thread (clone with
// CLONE_VM or CLONE_THREAD fails with EINVAL), which a Go program dies of at
// start ("runtime: failed to create new OS thread (errno=22)").
//
// On those kernels the child forks once more after the unshare (a fork
// without CLONE_VM enters the namespace made for children, on every kernel
// since 5.6), and the program runs in that fork, while the child stays in
// front of it: it passes on the signals it gets and exits with the
// program's status (rawproc.ForkInit with Relay for the Go executor,
// SpawnArgs.TimeFork for the raw one; docs/kernels.md).

// execEntersTimeNS reports whether execve enters the time namespace made
// for the caller's children: whether this kernel is Linux 6.3 or later.
//
// It goes by the kernel's version: the only probe is executing a program,
// which costs more than the fork it would save. A kernel that backported
// the change to an older version takes the fork too, which is correct on
// every kernel, only slower.
var execEntersTimeNS = sync.OnceValue(func() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 6, 3)
})

// kernelAtLeast reports whether a kernel release string ("6.1.0-57-cloud-amd64")
// is at least major.minor. A release it cannot read is taken as older.
func kernelAtLeast(release string, major, minor int) bool {
	f := strings.FieldsFunc(release, func(r rune) bool { return r < '0' || r > '9' })
	if len(f) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(f[0])
	mi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// relayMakesPIDNS reports whether, for a function, pool or Setup child of
// n, the relay makes the PID namespace together with the time namespace:
// the child is then cloned without CLONE_NEWPID, and the program the relay
// forks is PID 1 of both, as the re-executed child is on later kernels
// (and mounts /proc there as such).
func (n *Namespace) relayMakesPIDNS() bool {
	return n.pid && n.time && !n.initProc && !execEntersTimeNS()
}

// relayMakesPIDNSFor is relayMakesPIDNS for a child's job.
func relayMakesPIDNSFor(j *job) bool {
	return j.Role != roleExec && j.Plan.Flags&syscalls.CLONE_NEWPID != 0 && !j.Plan.Init && timeNSNeedsFork(j.Plan.Steps)
}

// timeNSNeedsFork reports whether a plan's program must be forked after
// the time namespace is made to be inside it.
func timeNSNeedsFork(steps []step) bool {
	return hasStep(steps, stepTimeNS) && !execEntersTimeNS()
}
