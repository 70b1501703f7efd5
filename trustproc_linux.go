package namespace

// The /proc through which a child checks its parents.
//
// A child looks at its parents in /proc. A Go child's stage 2 behind a
// join (joinstage_linux.go) runs in the joined mount namespace, whose
// /proc is whatever its owner mounted there: a /proc of another PID
// namespace, where the parents outside it are not visible, or a forged
// one. So the join stage opens the caller's /proc before anything is
// joined, and passes it to stage 2 (envProc), which makes every check
// through it.
//
// Anyone may start the program with that variable and a descriptor of
// their choosing, so the descriptor is taken only if it is the root of a
// proc file system (its magic and inode), and every file read through it
// must be on that same mount (statx's mount id): a file or directory
// mounted over a part of it, in a mount namespace of the starter's, is
// refused. A process's executable (/proc/PID/exe) is a link to another
// file system, which no mount id can check: through a passed /proc it is
// compared (a difference refuses the job) but never counts as seen to be
// this program, so that a process that gained privilege at its execution
// accepts nothing less than its own credentials (compareCreds).

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// procRoot is the /proc of the trust checks: fd -1 for the path /proc of
// this process's mount namespace, else a descriptor of a proc file
// system's root, whose mount id is mnt.
var procRoot = struct {
	fd  int
	mnt uint64
}{fd: -1}

// procRootIno is the inode of a proc file system's root (PROC_ROOT_INO).
const procRootIno = 1

// procAt returns the directory and name by which name, relative to
// /proc, is reached.
func procAt(name string) (int, string) {
	if procRoot.fd >= 0 {
		return procRoot.fd, name
	}
	return unix.AT_FDCWD, "/proc/" + name
}

// procStat stats name relative to /proc, following links.
func procStat(name string, st *unix.Stat_t) error {
	dir, path := procAt(name)
	return unix.Fstatat(dir, path, st, 0)
}

// procOpenDir opens the directory name relative to /proc (O_PATH).
func procOpenDir(name string) (int, error) {
	dir, path := procAt(name)
	fd, err := unix.Openat(dir, path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := procSameMount(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// mountID returns the mount id of the file of fd.
func mountID(fd int) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, os.NewSyscallError("statx", err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, errors.New("statx gives no mount id (before Linux 5.8)")
	}
	return stx.Mnt_id, nil
}

// procSameMount checks that the file of fd, reached through a passed
// /proc, is on that /proc's mount.
func procSameMount(fd int) error {
	if procRoot.fd < 0 {
		return nil
	}
	m, err := mountID(fd)
	if err != nil {
		return err
	}
	if m != procRoot.mnt {
		return fmt.Errorf("%w: a file of the passed /proc is on another mount (%d, not %d): something is mounted over it", errUntrusted, m, procRoot.mnt)
	}
	return nil
}

// usePassedProc takes the /proc passed in envProc (v: its descriptor) for
// the trust checks. The descriptor is made close-on-exec; endPassedProc
// closes it.
func usePassedProc(v string) error {
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fmt.Errorf("%w: %s=%q is not a descriptor", errUntrusted, envProc, v)
	}
	if !isProcRoot(fd) {
		return fmt.Errorf("%w: the descriptor %d of %s is not the root of a proc file system", errUntrusted, fd, envProc)
	}
	m, err := mountID(fd)
	if err != nil {
		return fmt.Errorf("%w: the passed /proc: %w", errUntrusted, err)
	}
	unix.CloseOnExec(fd)
	procRoot.fd, procRoot.mnt = fd, m
	return nil
}

// endPassedProc closes the passed /proc, once the checks are made.
func endPassedProc() {
	if procRoot.fd >= 0 {
		unix.Close(procRoot.fd)
		procRoot.fd = -1
	}
}

// openCallerProc opens this process's /proc for a stage 2 behind a join
// (usePassedProc), before anything is joined; a /proc that is not the root
// of a proc file system is not passed (stage 2 then looks at its own).
func openCallerProc() (*os.File, error) {
	fd, err := openProcRoot()
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/proc"), nil
}

// errNotProcRoot says that /proc is not a proc file system's root.
var errNotProcRoot = errors.New("/proc is not the root of a proc file system")

// openProcRoot opens /proc (O_PATH) and returns its descriptor if it is
// the root of a proc file system.
func openProcRoot() (int, error) {
	fd, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/proc", Err: err}
	}
	if !isProcRoot(fd) {
		unix.Close(fd)
		return -1, errNotProcRoot
	}
	return fd, nil
}

// isProcRoot reports whether fd is the root of a proc file system.
func isProcRoot(fd int) bool {
	var fs unix.Statfs_t
	var st unix.Stat_t
	return unix.Fstatfs(fd, &fs) == nil && fs.Type == unix.PROC_SUPER_MAGIC && unix.Fstat(fd, &st) == nil &&
		st.Ino == procRootIno && st.Mode&unix.S_IFMT == unix.S_IFDIR
}
