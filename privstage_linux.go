package namespace

// The privilege stage of a Go child that keeps running Go (Run, Task.Run,
// a Pool, Setup) in a program that links cgo.
//
// no_new_privs, the capability sets and a Landlock domain belong to one
// thread. A Go child applies them to all of its threads with
// syscall.AllThreadsSyscall, which the Go runtime refuses in a program
// that links cgo (any -race binary among them). There the child applies
// every privilege and limit step to its locked main thread only, as a
// command's child does, and executes the program again from that thread:
// execve ends the other threads, and the new image starts from the one
// thread that carries the restrictions, so every thread it makes inherits
// them. The new image (stage "2:p:PID") takes the job again from the
// caller and performs no step but the rlimits again: the Go runtime raised
// the soft RLIMIT_NOFILE to the hard limit as it started.
//
// The new image must be executable under the Landlock rules: the program's
// executable and every file it maps executable (its ELF interpreter and
// shared libraries, read in /proc/self/maps before the mounts) get a rule
// allowing execute and read, by descriptors opened before the mounts.
// Their directories get nothing. The interpreter is looked up by the
// kernel in the child's view: with a new root, it must be there.

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/wire"
)

// stagePriv is the stage of a program executed again by the privilege
// stage: "2:p:HOPS:PID", where HOPS is the generations between the
// process and the socket's maker (as verifyParent counts them) and PID
// is the maker as the process's pid namespace sees it.
const stagePriv = "2:p:"

// privStage is what the privilege stage opened before the mounts: the
// program's executable and the files it maps executable.
type privStage struct {
	exe    int   // O_PATH descriptor of the program's executable
	mapped []int // O_PATH descriptors of the files mapped executable
}

// needsPrivStage reports whether a child of role that performs steps
// needs the privilege stage: it keeps running Go, the program links cgo,
// and a step applies to one thread.
//
// The steps are looked at first: asking whether AllThreadsSyscall works
// makes one, which stops the world and signals every thread, and a child
// with no such step must not pay for it.
func needsPrivStage(role wire.Role, steps []step) bool {
	if role == roleExec {
		return false
	}
	perThread := false
	for i := range steps {
		switch steps[i].Kind {
		case stepLandlock, stepCapabilities, stepNoNewPrivs:
			perThread = true
		}
	}
	return perThread && !allThreadsWork()
}

// openPrivStage opens, before the mounts, what the privilege stage needs.
func openPrivStage() (*privStage, error) {
	exe, err := unix.Open(selfExe, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: selfExe, Err: err}
	}
	ps := &privStage{exe: exe}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		ps.close()
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.Contains(fields[1], "x") || !strings.HasPrefix(fields[5], "/") || len(fields) > 6 {
			continue // not executable, anonymous, or "(deleted)"
		}
		if seen[fields[5]] {
			continue
		}
		seen[fields[5]] = true
		if fd, err := unix.Open(fields[5], unix.O_PATH|unix.O_CLOEXEC, 0); err == nil {
			ps.mapped = append(ps.mapped, fd)
		}
	}
	return ps, nil
}

func (ps *privStage) close() {
	unix.Close(ps.exe)
	for _, fd := range ps.mapped {
		unix.Close(fd)
	}
}

// landlockExecFDs are the descriptors of files that a Landlock step gives
// execute and read access to (the privilege stage's), besides its rules.
var landlockExecFDs []int

// runPrivStage applies priv, the privilege and limit steps, to the calling
// (locked) thread and executes the program again from it, with the job
// socket sockFD. It returns only an error.
func runPrivStage(ps *privStage, priv []step, sockFD int, token string, hops, senderPid int) (string, error) {
	runtime.LockOSThread()
	privAllThreads = false
	landlockExecFDs = ps.mapped
	if err := runSteps(priv, child.log); err != nil {
		return failedStep(err), err
	}
	if _, err := unix.FcntlInt(uintptr(sockFD), unix.F_SETFD, 0); err != nil {
		return "execute the program again after the privilege steps", err
	}
	marker := markerValue(sockFD, token)
	if child.stderrFD >= 0 {
		marker += stderrMarker(child.stderrFD) // the caller's standard error, for the function
	}
	env := append(os.Environ(), envChild+"="+marker, envStage+"="+stagePriv+strconv.Itoa(hops)+":"+strconv.Itoa(senderPid))
	argv, err := cStrings(os.Args)
	if err == nil {
		var envv []*byte
		if envv, err = cStrings(env); err == nil {
			empty := []byte{0}
			_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(ps.exe), uintptr(unsafe.Pointer(&empty[0])),
				uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH, 0)
			err = os.NewSyscallError("execveat", e)
		}
	}
	return "execute the program again after the privilege steps", err
}

// verifyPrivStage is the trust check of a program executed again by the
// privilege stage, whose stage's tail (after stagePriv) is arg. It checks
// the parent as the first stage did. If that fails, as where /proc cannot
// be read any more (Landlock), or is the fresh /proc of a new PID
// namespace without the parent, it accepts the socket from the maker that
// the first stage checked, unless the process gained privilege at its
// execution: a process that sets these variables without having gained
// privilege could already do anything to this one (it has the same
// credentials), and its job could not bring it more.
func verifyPrivStage(fd int, arg string) (*parentProc, error) {
	h, pid, _ := strings.Cut(arg, ":")
	hops, err1 := strconv.Atoi(h)
	senderPid, err2 := strconv.Atoi(pid)
	if err1 != nil || err2 != nil || hops < 1 || hops > 3 {
		return nil, fmt.Errorf("%w: a malformed stage %q", errUntrusted, stagePriv+arg)
	}
	p, err := verifyParent(fd, hops)
	if err == nil || elevatedPrivilege() {
		return p, err
	}
	if _, e := unix.Getpeername(fd); e != nil {
		return nil, fmt.Errorf("%w: the socket has no peer: %w", errUntrusted, e)
	}
	cred, e := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if e != nil {
		return nil, fmt.Errorf("%w: SO_PEERCRED: %w", errUntrusted, e)
	}
	if int(cred.Pid) != senderPid {
		return nil, fmt.Errorf("%w: the socket was made by process %d, not by process %d", errUntrusted, cred.Pid, senderPid)
	}
	return &parentProc{dir: -1, senderPid: senderPid}, nil
}
