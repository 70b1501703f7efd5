package namespace

// Joining existing namespaces: the joins resolved into descriptors by the
// process that clones the child, their execution by both executors, and
// the join stage of a re-executed Go child.

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
	"github.com/linuxns/namespace/internal/wire"
	"github.com/linuxns/namespace/syscalls"
)

// joinResolution is a plan's joins, resolved by the process that performs
// them (or clones the child that does): the files opened, a process's
// namespaces found.
type joinResolution struct {
	steps      []step  // the plan's steps, the joins as StepJoinFD, a StepUnshare after them if needed
	cloneFlags uintptr // the namespaces to create at the clone, before the joins
	joined     uintptr // the kinds joined
	fds        []int
}

// close closes the descriptors of the joins.
func (r *joinResolution) close() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// setnsPidfd reports whether setns(2) takes a pidfd: Linux 5.8 and later.
var setnsPidfd = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 8
})

// sameNS reports whether the namespace file at path is the calling
// thread's namespace of kind t.
func sameNS(st *unix.Stat_t, t syscalls.Type) bool {
	var mine unix.Stat_t
	if unix.Stat("/proc/thread-self/ns/"+t.ProcName(), &mine) != nil {
		return false
	}
	return mine.Dev == st.Dev && mine.Ino == st.Ino
}

// resolveJoins opens the files of the joins among steps, finds the
// namespaces of the processes to join, and decides which of the created
// namespaces (created: their CLONE_NEW* flags) are made at the clone and
// which after the joins: all of them inside a joined user namespace, the
// mount namespace on top of a joined one. Namespaces the caller shares
// already are not joined again.
func resolveJoins(steps []step, created uintptr) (*joinResolution, error) {
	r := &joinResolution{}
	var joins []step
	rest := steps
	leave := leftAlone(steps, created)
	for len(rest) > 0 && isJoinStep(&rest[0]) {
		s := rest[0]
		rest = rest[1:]
		var err error
		switch s.Kind {
		case wire.StepJoin:
			err = r.openFile(&joins, &s)
		case wire.StepJoinProcess:
			err = r.openProcess(&joins, &s, leave)
		default:
			err = fmt.Errorf("%w: a %s step in a plan before resolution", ErrProtocol, stepName(&s))
		}
		if err != nil {
			r.close()
			return nil, err
		}
	}
	r.cloneFlags = created
	var after uintptr
	if r.joined&syscalls.CLONE_NEWUSER != 0 {
		// (A PID namespace made with the time namespace, before Linux
		// 6.3, counts: every kernel refuses the same options.)
		if madeKinds(steps, created)&syscalls.CLONE_NEWPID != 0 {
			r.close()
			return nil, fmt.Errorf("namespace: %w: a new PID namespace inside a joined user namespace; join the PID namespace as well, or create the user namespace", ErrUnsupported)
		}
		after, r.cloneFlags = created, 0
	} else if r.joined&syscalls.CLONE_NEWNS != 0 && created&syscalls.CLONE_NEWNS != 0 {
		after, r.cloneFlags = syscalls.CLONE_NEWNS, created&^syscalls.CLONE_NEWNS
	}
	if after != 0 {
		joins = append(joins, step{Kind: wire.StepUnshare, Flags: uint64(after)})
	}
	r.steps = append(joins, rest...)
	return r, nil
}

// openFile resolves a WithJoin.
func (r *joinResolution) openFile(out *[]step, s *step) error {
	t := syscalls.Type(s.Flags)
	fd, err := openNSFile(s.Target)
	if errors.Is(err, errNotNSFile) {
		return fmt.Errorf("namespace: %w: WithJoin(%v, %q): the file is not a namespace file, not a %v namespace", ErrInvalid, t, s.Target, t)
	}
	if err != nil && s.Data == "" {
		return classify(joinStepName(s), &os.PathError{Op: "open", Path: s.Target, Err: err}, nil)
	}
	if s.Data != "" {
		// A Handle's job: the file is the holder's only if the process at
		// its pid, after the open, is still the holder (holder.go).
		if err == nil {
			err = checkHolder(fd, s.Data)
		}
		if err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			return fmt.Errorf("namespace: %s: %w", joinStepName(s), err)
		}
	}
	got, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil || uintptr(got) != t.Flag() {
		unix.Close(fd)
		what := "not a namespace file"
		if err == nil {
			what = "a " + syscalls.Type(got).String() + " namespace"
		}
		return fmt.Errorf("namespace: %w: WithJoin(%v, %q): the file is %s, not a %v namespace", ErrInvalid, t, s.Target, what, t)
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && sameNS(&st, t) {
		unix.Close(fd) // the caller's own: nothing to join
		return nil
	}
	r.fds = append(r.fds, fd)
	r.joined |= t.Flag()
	*out = append(*out, step{Kind: wire.StepJoinFD, Target: s.Target, Data: strconv.Itoa(fd), Flags: s.Flags})
	return nil
}

// errNotNSFile is openNSFile's error for a file of another file system.
var errNotNSFile = errors.New("not a namespace file")

// openNSFile opens the namespace file at path for setns(2). The path may
// name anything (a path in /tmp that someone else changed): it is opened
// with O_PATH first, which opens no device and waits for no FIFO's writer,
// and opened for reading only if it is a file of the namespace file
// system, through that descriptor (the calling thread's, which may have a
// descriptor table of its own) in a proc file system's root at /proc, and
// taken only if it is the file checked. Without such a /proc it is
// refused: opening the path again could open whatever replaced it.
func openNSFile(path string) (int, error) {
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(pfd, &fs); err != nil {
		return -1, err
	}
	if fs.Type != unix.NSFS_MAGIC {
		return -1, errNotNSFile
	}
	proc, err := openProcRoot()
	if err != nil {
		return -1, fmt.Errorf("%w: %w: a namespace file is opened for setns(2) through it; mount proc on /proc", ErrUnsupported, err)
	}
	defer unix.Close(proc)
	fd, err := unix.Openat(proc, "thread-self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var checked, opened unix.Stat_t
	if unix.Fstat(pfd, &checked) != nil || unix.Fstat(fd, &opened) != nil || checked.Dev != opened.Dev || checked.Ino != opened.Ino {
		unix.Close(fd)
		return -1, errNotNSFile
	}
	return fd, nil
}

// openProcess resolves a WithJoinProcess: a pidfd of the process, and the
// kinds in which it differs from the caller, entered through the pidfd at
// once or, on kernels before 5.8, through its /proc/PID/ns files (user
// first). Without kinds given, the kinds in leave are not joined
// (leftAlone): those the options create, which would be entered after the
// clone made them, and their set-up (a host name, lo) done in the
// process's namespaces instead of new ones (but mnt, on top of which a new
// one is made); and those another join names.
func (r *joinResolution) openProcess(out *[]step, s *step, leave uintptr) error {
	pid, _ := strconv.Atoi(s.Target)
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return classify(joinStepName(s), fmt.Errorf("process %d: %w", pid, os.NewSyscallError("pidfd_open", err)), nil)
	}
	var kinds uintptr
	var files []int
	fail := func(err error) error {
		unix.Close(pidfd)
		for _, fd := range files {
			unix.Close(fd)
		}
		return err
	}
	dir := "/proc/" + s.Target + "/ns/"
	for _, t := range syscalls.Types() { // user first
		if s.Flags != 0 && uintptr(s.Flags)&t.Flag() == 0 {
			continue
		}
		if s.Flags == 0 && leave&t.Flag() != 0 {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(dir+t.ProcName(), &st); err != nil {
			if s.Flags == 0 && err == unix.ENOENT && unix.Stat("/proc/self/ns/"+t.ProcName(), &st) == unix.ENOENT {
				continue // a kind this kernel does not have
			}
			perr := error(&os.PathError{Op: "stat", Path: dir + t.ProcName(), Err: err})
			if err == unix.ENOENT {
				// A process that has exited (a zombie, or one whose
				// main thread has) has no namespaces left to join.
				perr = fmt.Errorf("process %d has exited: %w", pid, perr)
			}
			return fail(classify(joinStepName(s), perr, nil))
		}
		if sameNS(&st, t) {
			continue
		}
		kinds |= t.Flag()
		if !setnsPidfd() {
			fd, err := unix.Open(dir+t.ProcName(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fail(classify(joinStepName(s), &os.PathError{Op: "open", Path: dir + t.ProcName(), Err: err}, nil))
			}
			files = append(files, fd)
			*out = append(*out, step{Kind: wire.StepJoinFD, Target: dir + t.ProcName(), Data: strconv.Itoa(fd), Flags: uint64(t.Flag())})
		}
	}
	// The files were those of the process of the pidfd if it is still
	// there: a pid is not reused while the process lives.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return fail(classify(joinStepName(s), fmt.Errorf("process %d: %w", pid, os.NewSyscallError("pidfd_send_signal", err)), nil))
	}
	r.joined |= kinds
	if !setnsPidfd() || kinds == 0 {
		unix.Close(pidfd)
		r.fds = append(r.fds, files...)
		return nil
	}
	r.fds = append(r.fds, pidfd)
	*out = append(*out, step{Kind: wire.StepJoinFD, Target: "of process " + s.Target, Data: strconv.Itoa(pidfd), Flags: uint64(kinds)})
	return nil
}

// throughCallerProc makes what the raw child a opens in /proc after the
// joins, the time offsets and the subreaper's children file, open it
// through the caller's /proc, opened now (and closed with r): after a
// joined mount namespace, /proc is whatever its owner put at that path
// (a link to a file of its choice as /proc/self/timens_offsets), where
// "self" in the caller's is the child.
func (r *joinResolution) throughCallerProc(a *rawproc.SpawnArgs) error {
	fd, err := openProcRoot()
	if err != nil {
		return classify("open the caller's /proc", err, nil)
	}
	r.fds = append(r.fds, fd)
	for i := range a.Steps {
		if a.Steps[i].Op == rawproc.OpTimeOffsets {
			if a.Steps[i].Target, err = cString("self/timens_offsets"); err != nil {
				return err
			}
			a.Steps[i].At = uintptr(fd)
		}
	}
	if a.Reaper.On {
		if a.Reaper.Children, err = cString("thread-self/children"); err != nil {
			return err
		}
		a.Reaper.ProcDir = uintptr(fd)
	}
	return nil
}

// runJoinStep is the Go executor of a resolved join, or of the creation
// after the joins, on the calling thread.
func runJoinStep(s *step) error {
	switch s.Kind {
	case wire.StepJoinFD:
		fd, err := strconv.Atoi(s.Data)
		if err != nil {
			return fmt.Errorf("%w: a join without its descriptor", ErrProtocol)
		}
		if uintptr(s.Flags)&syscalls.CLONE_NEWNS != 0 {
			// A thread enters a mount namespace only with file system
			// attributes of its own.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return os.NewSyscallError("unshare CLONE_FS", err)
			}
		}
		if err := unix.Setns(fd, int(s.Flags)); err != nil {
			return os.NewSyscallError("setns", err)
		}
		return nil
	case wire.StepUnshare:
		return syscalls.Unshare(uintptr(s.Flags))
	}
	return fmt.Errorf("%w: a %s step before resolution", ErrProtocol, stepName(s))
}

// rawJoinStep converts a resolved join, or the creation after the joins,
// for the raw executor.
func rawJoinStep(s *step, r *rawproc.Step) error {
	r.Flags = uintptr(s.Flags)
	if s.Kind == wire.StepUnshare {
		r.Op = rawproc.OpUnshare
		return nil
	}
	fd, err := strconv.Atoi(s.Data)
	if err != nil {
		return fmt.Errorf("%w: a join without its descriptor", ErrProtocol)
	}
	r.Op, r.Len = rawproc.OpSetns, uintptr(fd)
	return nil
}

// threadJoins resolves the joins of p for Do and Exec, on their thread:
// the namespaces to create first, the steps, and what closes the joins'
// descriptors.
func threadJoins(p plan) (uintptr, []step, func(), error) {
	if !hasJoins(p.Steps) {
		return p.Flags, p.Steps, func() {}, nil
	}
	res, err := resolveJoins(p.Steps, p.Flags)
	if err != nil {
		return 0, nil, func() {}, err
	}
	return res.cloneFlags, res.steps, res.close, nil
}

// joinWorkDir gives the working directory step of a plan with joins the
// caller's working directory: a Go child's stage 2 starts at the root of
// a joined mount namespace, where the path can no longer be read.
func joinWorkDir(p *plan) {
	if !hasJoins(p.Steps) {
		return
	}
	wd, err := unix.Getwd()
	if err != nil {
		return
	}
	steps := append([]step(nil), p.Steps...)
	for i := range steps {
		if steps[i].Kind == stepWorkDir && steps[i].Target == "" {
			steps[i].Target = wd
		}
	}
	p.Steps = steps
}

// joinsPID reports whether the joins among steps enter a PID namespace
// other than the caller's: the program is then forked into it by the
// process that joined (prepareSpawnPlan's Init fork). It looks as
// resolveJoins will; should a file change in between, the program's check
// of its parents refuses the job.
func joinsPID(steps []step, created uintptr) bool {
	// A process's namespaces joined whole leave out a PID namespace that
	// the plan makes or another join names, as openProcess does.
	wholePID := leftAlone(steps, created)&syscalls.CLONE_NEWPID == 0
	for i := range steps {
		s := &steps[i]
		var path string
		switch {
		case s.Kind == wire.StepJoin && uintptr(s.Flags) == syscalls.CLONE_NEWPID:
			path = s.Target
		case s.Kind == wire.StepJoinProcess && (s.Flags == 0 && wholePID || uintptr(s.Flags)&syscalls.CLONE_NEWPID != 0):
			path = "/proc/" + s.Target + "/ns/pid"
		default:
			continue
		}
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil && !sameNS(&st, syscalls.PID) {
			return true
		}
	}
	return false
}

// madeKinds returns the kinds of namespace that a plan with steps and the
// clone flags created makes: those, and those its time step makes (the
// time namespace, and a PID namespace made with it before Linux 6.3:
// timens_linux.go).
func madeKinds(steps []step, created uintptr) uintptr {
	for i := range steps {
		if steps[i].Kind == stepTimeNS {
			created |= syscalls.CLONE_NEWTIME | uintptr(steps[i].Flags)
		}
	}
	return created
}

// leftAlone returns the kinds that a process's namespaces joined whole (a
// WithJoinProcess without kinds) leave out, in a plan with steps and the
// clone flags created: those the plan makes but mnt, and those another
// join names.
func leftAlone(steps []step, created uintptr) uintptr {
	// A mount namespace the plan makes goes on top of the joined one; one
	// that another join names is that join's.
	k := madeKinds(steps, created) &^ syscalls.CLONE_NEWNS
	for i := range steps {
		if steps[i].Kind == wire.StepJoin || steps[i].Kind == wire.StepJoinProcess {
			k |= uintptr(steps[i].Flags)
		}
	}
	return k
}

// rawStage reports whether a re-executed Go child of a plan with steps
// makes its namespaces by the raw process of its join stage
// (joinstage_linux.go): to join namespaces, or to have newuidmap write
// the id maps of a new user namespace before the set-up.
func rawStage(steps []step) bool {
	return hasJoins(steps) || hasStep(steps, wire.StepSubIDs)
}
