//go:build linux

package namespace

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// plan computes the in-namespace set-up (Perl: post_setup) from the options.
func (n *Namespace) plan() plan {
	p := plan{
		Flags:     n.Flags(),
		RPrivate:  n.needsMountNS(),
		Proc:      n.mountsProc(),
		Loopback:  n.net,
		Time:      n.time,
		Monotonic: n.monotonic,
		Boottime:  n.boottime,
		PID1:      n.pid,
		Init:      n.initProc,
		Debug:     n.debugEnabled(),
		ParentNS:  parentNamespaces(n.Flags()),

		// A PID namespace ends the descendants already.
		KillDescendants: n.killDescendants && !n.pid,
	}
	if n.tmp != nil {
		d := n.tmp.data()
		p.TmpData = &d
	}
	if n.hostname != nil {
		p.Hostname = *n.hostname
	}
	return p
}

// stepError is a failed set-up step, carried from the child to the parent.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func step(name string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step: name, err: err}
}

// stepWorkDir names the step that enters the working directory again.
const stepWorkDir = "enter working directory"

// applyMounts performs the set-up of p in the current mount, UTS and network
// namespaces (those of the calling thread, which in a child are the whole
// process's). The order matters: / becomes recursively private before any
// mount, so that nothing propagates to the host; with a mount namespace of
// its own, the working directory is entered again by its path after the
// mounts (see enterWorkDir).
func applyMounts(p *plan, log *slog.Logger) error {
	// The working directory's path is read before anything can cover it.
	// unix.Getwd asks the kernel: os.Getwd would believe $PWD.
	var wd string
	var wdErr error
	if p.RPrivate {
		wd, wdErr = unix.Getwd()
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return step("make / recursively private", os.NewSyscallError("mount", err))
		}
		log.Debug("made / rprivate")
	}
	if p.TmpData != nil {
		if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, *p.TmpData); err != nil {
			return step("mount tmpfs on /tmp ("+*p.TmpData+")", os.NewSyscallError("mount", err))
		}
		log.Debug("mounted tmpfs", "target", "/tmp", "data", *p.TmpData)
	}
	if p.Proc {
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return step("mount proc on /proc", os.NewSyscallError("mount", err))
		}
		log.Debug("mounted proc", "target", "/proc")
	}
	if p.Hostname != "" {
		if err := unix.Sethostname([]byte(p.Hostname)); err != nil {
			return step("set hostname", os.NewSyscallError("sethostname", err))
		}
		log.Debug("set hostname", "hostname", p.Hostname)
	}
	if p.Loopback {
		if err := syscalls.ConfigureLoopback(); err != nil {
			return step("bring lo up", err)
		}
		log.Debug("brought lo up")
	}
	if p.RPrivate {
		return enterWorkDir(wd, wdErr, p.DirExplicit, log)
	}
	return nil
}

// enterWorkDir enters the working directory again by its path wd, read
// before the mounts (wdErr if it could not be read). Until then the process
// is still in the directory it inherited, which may be the host's: a
// directory under /tmp is not the one in the private /tmp, and relative
// paths would reach the host. An explicit directory (DirExplicit) that does
// not exist inside is an error; an inherited one falls back to /, as
// bubblewrap does.
func enterWorkDir(wd string, wdErr error, explicit bool, log *slog.Logger) error {
	err := wdErr
	if err == nil {
		if err = unix.Chdir(wd); err == nil {
			log.Debug("entered the working directory again", "dir", wd)
			return nil
		}
		err = &os.PathError{Op: "chdir", Path: wd, Err: err}
	} else {
		err = os.NewSyscallError("getcwd", err)
	}
	if explicit {
		return step(stepWorkDir, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return step(stepWorkDir, &os.PathError{Op: "chdir", Path: "/", Err: err})
	}
	log.Debug("the inherited working directory is not there inside; entered /", "err", err)
	return nil
}

// timensOffsets formats offsets for /proc/PID/timens_offsets.
func timensOffsets(monotonic, boottime time.Duration) string {
	line := func(clock string, d time.Duration) string {
		sec := int64(d / time.Second)
		nsec := int64(d % time.Second)
		if nsec < 0 {
			sec--
			nsec += int64(time.Second)
		}
		return fmt.Sprintf("%s %d %d\n", clock, sec, nsec)
	}
	return line("monotonic", monotonic) + line("boottime", boottime)
}

// enterTimeNamespace unshares a time namespace for the children of the
// calling thread and sets its offsets; the next execve enters it. It must
// run on the thread group leader, because /proc/self/timens_offsets is the
// leader's.
func enterTimeNamespace(p *plan, log *slog.Logger) error {
	if err := syscalls.Unshare(syscalls.CLONE_NEWTIME); err != nil {
		return step("create time namespace", err)
	}
	if p.Monotonic != 0 || p.Boottime != 0 {
		data := timensOffsets(p.Monotonic, p.Boottime)
		if err := os.WriteFile("/proc/self/timens_offsets", []byte(data), 0); err != nil {
			return step("set time namespace offsets", err)
		}
		log.Debug("set time offsets", "monotonic", p.Monotonic, "boottime", p.Boottime)
	}
	return nil
}

// maxClockSec is the largest clock reading, in seconds, that the kernel
// accepts in a time namespace: KTIME_SEC_MAX / 2.
const maxClockSec = math.MaxInt64 / int64(time.Second) / 2

// checkTimeOffsets rejects offsets that would make a clock negative or
// larger than the kernel allows (about 146 years), before anything is
// created (the kernel would refuse them with ERANGE).
func checkTimeOffsets(monotonic, boottime time.Duration) error {
	var ts unix.Timespec
	for _, c := range []struct {
		name  string
		id    int32
		off   time.Duration
		clock string
	}{{"monotonic", unix.CLOCK_MONOTONIC, monotonic, "CLOCK_MONOTONIC"}, {"boottime", unix.CLOCK_BOOTTIME, boottime, "CLOCK_BOOTTIME"}} {
		if c.off == 0 {
			continue
		}
		if err := unix.ClockGettime(c.id, &ts); err != nil {
			continue
		}
		now := time.Duration(ts.Nano())
		if c.off < 0 && now+c.off < 0 {
			return invalidf("%s offset %v would make %s negative (it reads %v)", c.name, c.off, c.clock, now.Truncate(time.Second))
		}
		if c.off > 0 && int64(ts.Sec)+int64(c.off/time.Second)+1 > maxClockSec {
			return invalidf("%s offset %v would take %s past the kernel's limit of %d s (it reads %v)", c.name, c.off, c.clock, maxClockSec, now.Truncate(time.Second))
		}
	}
	return nil
}
