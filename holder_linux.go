package namespace

// The identity of a Handle's holder, which its jobs check when they open
// the holder's /proc/PID/ns files: once the holder has ended and been
// reaped (Close), its pid may belong to any other process, whose
// namespaces a job must not enter.

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// holderIdentity returns "PID START DEV INO" for the namespace file path
// of process pid: its pid, its start time (field 22 of /proc/PID/stat, in
// clock ticks since boot) and the namespace's device and inode numbers.
// A process that takes the pid later has another start time, unless it
// started in the same clock tick, and then another namespace, unless the
// kernel gave a new one the freed one's number in that tick.
func holderIdentity(pid int, path string) (string, error) {
	start, err := procStartTime(pid)
	if err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return fmt.Sprintf("%d %d %d %d", pid, start, st.Dev, st.Ino), nil
}

// checkHolder returns nil if the namespace file opened as fd is the one
// that id (holderIdentity) names, of the process that is at its pid now,
// and an error wrapping ErrInvalid otherwise: the Handle was closed, its
// holder ended.
func checkHolder(fd int, id string) error {
	var pid int
	var start, dev, ino uint64
	if n, err := fmt.Sscanf(id, "%d %d %d %d", &pid, &start, &dev, &ino); n != 4 || err != nil {
		return fmt.Errorf("%w: malformed holder identity %q", ErrProtocol, id)
	}
	var st unix.Stat_t
	now, err := procStartTime(pid)
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if err != nil || now != start || uint64(st.Dev) != dev || st.Ino != ino {
		return fmt.Errorf("%w: the process that held the namespaces (pid %d) has ended: the Handle was closed before this job started", ErrInvalid, pid)
	}
	return nil
}
