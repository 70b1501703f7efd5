package namespace

// The files of a child's own cgroup, opened under descriptors of the
// cgroup and of its parent directory that were taken when it was made:
// never by path again, so that a path that names something else by then
// (a symbolic link changed, the cgroup removed and a directory of look-
// alike files put in its place) cannot turn the clean-up, which runs with
// the caller's privilege, against another file or process.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupKillFile is the file that kills a cgroup's processes (Linux
// 5.14); a test names another to take the older kernels' way.
var cgroupKillFile = "cgroup.kill"

// openCgroupFile opens the file name of the cgroup directory dfd, whose
// path (for errors) is dir, following no symbolic link.
func openCgroupFile(dfd int, dir, name string, flags int) (*os.File, error) {
	fd, err := unix.Openat(dfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, name)), nil
}

// writeCgroupFile writes value to the file name of the cgroup directory
// dfd (path dir), which must exist: a file the kernel lacks is
// fs.ErrNotExist (a cgroup directory refuses to create one, with EACCES).
func writeCgroupFile(dfd int, dir, name, value string) error {
	f, err := openCgroupFile(dfd, dir, name, unix.O_WRONLY)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readCgroupFile returns the content of the file name of the cgroup
// directory dfd.
func readCgroupFile(dfd int, name string) ([]byte, error) {
	f, err := openCgroupFile(dfd, "", name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// readKeyed returns the value of key in the flat-keyed file name ("key
// value" lines) of the cgroup directory dfd, or -1.
func readKeyed(dfd int, name, key string) int64 {
	b, err := readCgroupFile(dfd, name)
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// populated returns the populated field of the cgroup.events of the
// cgroup directory dfd: 1 while a process is in the cgroup or below it, 0
// when none is, -1 if unreadable (as once the cgroup is removed).
func populated(dfd int) int64 {
	return readKeyed(dfd, "cgroup.events", "populated")
}

// subCgroups returns the names of the cgroups below the cgroup directory
// dfd.
func subCgroups(dfd int) ([]string, error) {
	f, err := openCgroupFile(dfd, "", ".", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, err
}

// killCgroup kills every process in the cgroup directory dfd (path dir)
// and its descendants (cgroup.kill, Linux 5.14; before it, freeze and
// SIGKILL each one), and waits until none is left.
func killCgroup(dfd int, dir string) error {
	if populated(dfd) == 0 {
		return nil
	}
	err := writeCgroupFile(dfd, dir, cgroupKillFile, "1")
	freeze := errors.Is(err, fs.ErrNotExist)
	if freeze {
		// Before 5.14: a frozen process cannot fork or exit by itself
		// while the processes are listed and killed, and SIGKILL reaches
		// it. A fork that was under way when the cgroup froze may add a
		// process after the list was read: the list is read again until
		// the cgroup is empty.
		err = writeCgroupFile(dfd, dir, "cgroup.freeze", "1")
		if errors.Is(err, fs.ErrNotExist) {
			err = nil // before 5.2: no freezer either; kill by the list alone
		}
		killListed(dfd)
	}
	if err != nil {
		return err
	}
	delay := 20 * time.Microsecond
	for deadline := time.Now().Add(10 * time.Second); populated(dfd) != 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("processes are still in it 10 s after they were killed")
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
		if freeze {
			killListed(dfd)
		}
	}
	return nil
}

// killListed sends SIGKILL to every process listed in the cgroup
// directory dfd and below it.
func killListed(dfd int) {
	if b, err := readCgroupFile(dfd, "cgroup.procs"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if pid, perr := strconv.Atoi(f); perr == nil {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	subs, _ := subCgroups(dfd)
	for _, name := range subs {
		unlock(dfd, name)
		if sub, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
			killListed(sub)
			unix.Close(sub)
		}
	}
}

// removeCgroup removes the empty cgroup name of the directory pfd (path
// dir: pfd's path and name) and any cgroup the child made below it,
// deepest first.
func removeCgroup(pfd int, name, dir string) error {
	dfd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	subs, err := subCgroups(dfd)
	for _, sub := range subs {
		if err == nil {
			unlock(dfd, sub)
			err = removeCgroup(dfd, sub, filepath.Join(dir, sub))
		}
	}
	unix.Close(dfd)
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		err = unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR)
		if err != unix.EBUSY || i == 100 {
			break
		}
		time.Sleep(time.Millisecond) // the last task is still being released
	}
	if err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// unlock gives back to the caller the permissions on the cgroup name of
// the directory dfd, which the child may have taken off (it owns the
// cgroups it made, as the caller does): the clean-up must be able to
// enter, list and empty it.
func unlock(dfd int, name string) {
	_ = unix.Fchmodat(dfd, name, 0o755, 0) // no symbolic links in cgroupfs
}
