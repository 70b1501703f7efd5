package namespace

// Command: an *exec.Cmd that runs a program inside new namespaces, made
// ready for them by exec.Cmd.Start's look at its context.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Command returns an *exec.Cmd that runs the named program with args inside
// new namespaces. Like exec.CommandContext, it looks name up in PATH if it
// has no slash, and ctx kills the command if done before it finishes: with
// SIGTERM and, after the kill grace, SIGKILL (Cmd.Cancel; Cmd.WaitDelay is
// left to the caller, as with os/exec), or with SIGKILL at once if
// WithTermChild(false).
//
// Start creates the namespaces; in the child the same set-up as for Run is
// performed and then the program is executed with its own argv. Every field
// of exec.Cmd behaves as with os/exec: Args, Env (nil for the current
// environment, or a slice of the caller's own), Dir, Stdin, Stdout,
// Stderr, ExtraFiles (entry i is descriptor 3+i in the program), Cancel,
// WaitDelay, and the fields of SysProcAttr that do not make namespaces
// (Setsid, Setpgid, Setctty, Foreground, Credential, Pdeathsig...; a zero
// Pdeathsig is SIGKILL). Cloneflags, Unshareflags, UidMappings,
// GidMappings, GidMappingsEnableSetgroups and Chroot conflict with the
// namespaces and make Start return an error wrapping ErrInvalid that
// names the field. The working directory (Dir, or the caller's) is
// entered again by its path after the set-up; an explicit Dir missing
// inside is a set-up error, an inherited one falls back to / (see
// "Working directory" in the package documentation). The program that
// calls Command need not call Init.
//
// Nothing is created before Start. Start runs the program itself (Cmd.Path
// is the running program's path, or /proc/self/exe) with a job socket at the first
// descriptor after ExtraFiles and a private marker in its environment;
// that process executes the command, which gets neither. The library adds
// them while Start runs (exec.Cmd.Start consults the command's context
// first, and the library's context does the work then) and restores Env,
// ExtraFiles and SysProcAttr once the process has started, unless the
// caller set Cancel to nil and left WaitDelay zero, in which case Start
// has no second look at the context and the fields keep the additions.
//
// Cmd.Path is the running program, not the command: changing it after
// Command is an error from Start (ErrInvalid). The *exec.Cmd must not be
// copied: the library's additions go to the Cmd that Command returned,
// so a copy would start the running program itself. If Start fails after
// the additions were made (Dir missing, say), Env, ExtraFiles and
// SysProcAttr keep them, and the job socket is released when the Cmd is
// garbage collected.
//
// With the cgroup options (WithMemoryLimit…), the process is born in a
// cgroup of its own, made at Start; as soon as it has exited, what it
// left there is killed and the cgroup removed, and CommandCgroup(ctx, cmd)
// (after Wait) says whether the memory limit killed it (ErrMemoryLimit).
// Setting SysProcAttr.UseCgroupFD as well is ErrInvalid.
//
// Errors of the set-up are printed on the child's standard error, and the
// command exits with status 125 (set-up failed), 126 (not executable) or
// 127 (not found). A validation error is returned by Start (Cmd.Err), and
// so is a *SetupError wrapping ErrPermission if the process lacks
// CAP_SYS_ADMIN for namespaces other than a user namespace (without
// WithPrivateUser); other failures of Start are os/exec's own.
//
// The child is killed if the parent dies: it gets SIGKILL as its
// parent-death signal (SysProcAttr.Pdeathsig), which the kernel sends when
// the OS thread that called Start exits. A Go thread exits only when a
// goroutine locked to it (runtime.LockOSThread) returns without unlocking;
// Do never discards a thread that has children, but other such code can end
// the command: call Start from a goroutine that stays locked until Wait
// returns if the program has any.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	guardChild()
	if ctx == nil {
		panic("namespace: Command with a nil Context")
	}
	cc := &commandContext{Context: ctx}
	cmd := exec.CommandContext(cc, name, args...)
	if cmd.Err != nil {
		return cmd
	}
	if err := n.check(verbCommand); err != nil {
		cmd.Err = err
		return cmd
	}
	if err := n.checkPrivilege(); err != nil {
		cmd.Err = err
		return cmd
	}
	program := cmd.Path
	var handoff atomic.Pointer[commandHandoff]
	cmd.Path = selfPath()
	self := cmd.Path
	cc.start = func() (func(), error) {
		if cmd.Path != self {
			// Start executes Path as it is now, outside any namespace:
			// refuse rather than run it there.
			return nil, fmt.Errorf("namespace: Command: %w: exec.Cmd.Path was changed to %q after Command; the program to run in the namespaces is Command's name argument (%q)", ErrInvalid, cmd.Path, program)
		}
		return n.startCommand(ctx, cmd, program, &handoff)
	}
	if n.termChild {
		// TERM, then KILL after the grace. Not through WaitDelay, which
		// also bounds the wait for the output pipes after a normal exit
		// (exec.Cmd's "WaitDelay expired before I/O complete"): that one
		// is the caller's to set.
		grace := n.killGrace
		cmd.Cancel = func() error {
			p := cmd.Process
			if h := handoff.Load(); h != nil && !h.handed.Load() {
				// The child has not had its job: nothing to end
				// gracefully, and one that is PID 1 of its PID
				// namespace would not die of SIGTERM (the kernel drops
				// it, or the Go runtime exits with status 2).
				return p.Kill()
			}
			err := p.Signal(syscall.SIGTERM)
			time.AfterFunc(grace, func() { _ = p.Kill() })
			return err
		}
	}
	return cmd
}

// commandContext is the context of Command's *exec.Cmd. exec.Cmd.Start
// looks at its context's Done before it gathers the child's descriptors
// and environment, and once more after the child started if Cancel or
// WaitDelay is set: the first look prepares the job (start), the second
// undoes the changes to the exec.Cmd's fields (the func start returned).
// If start fails, Done returns a closed channel and Err the error, which
// Start returns. Nothing else sees this context: exec.Cmd keeps it private.
type commandContext struct {
	context.Context
	start func() (after func(), err error)

	mu    sync.Mutex
	looks int
	after func()
	err   error
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *commandContext) Done() <-chan struct{} {
	c.mu.Lock()
	c.looks++
	switch c.looks {
	case 1:
		c.after, c.err = c.start()
	case 2:
		if c.after != nil {
			c.after()
			c.after = nil
		}
	}
	failed := c.err != nil
	c.mu.Unlock()
	if failed {
		return closedChan
	}
	return c.Context.Done()
}

func (c *commandContext) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.Context.Err()
}

// sysProcAttrConflict names the first field of exec.Cmd.SysProcAttr that
// the library sets itself and a sets too, or "" if there is none.
func sysProcAttrConflict(a *syscall.SysProcAttr) string {
	switch {
	case a.Cloneflags != 0:
		return "Cloneflags"
	case a.Unshareflags != 0:
		return "Unshareflags"
	case len(a.UidMappings) != 0:
		return "UidMappings"
	case len(a.GidMappings) != 0:
		return "GidMappings"
	case a.GidMappingsEnableSetgroups:
		return "GidMappingsEnableSetgroups"
	case a.Chroot != "":
		return "Chroot"
	}
	return ""
}

// startCommand is the first look of exec.Cmd.Start at Command's context:
// it makes the job socket, adds the marker, the socket and the namespaces
// to cmd, and starts the goroutine that hands the job over. It returns
// what restores cmd's fields once the process has started.
func (n *Namespace) startCommand(ctx context.Context, cmd *exec.Cmd, program string, hp *atomic.Pointer[commandHandoff]) (func(), error) {
	attr := n.sysProcAttr()
	if user := cmd.SysProcAttr; user != nil {
		if f := sysProcAttrConflict(user); f != "" {
			return nil, fmt.Errorf("namespace: Command: %w: exec.Cmd.SysProcAttr.%s is set, but the namespaces and their id maps are the Namespace's: use its options instead", ErrInvalid, f)
		}
		merged := *user
		merged.Cloneflags = attr.Cloneflags
		merged.UidMappings = attr.UidMappings
		merged.GidMappings = attr.GidMappings
		merged.GidMappingsEnableSetgroups = attr.GidMappingsEnableSetgroups
		if merged.Pdeathsig == 0 {
			merged.Pdeathsig = attr.Pdeathsig
		}
		attr = &merged
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
		if cmd.Dir != "" {
			// As os/exec does for a nil Env.
			if pwd, err := filepath.Abs(cmd.Dir); err == nil {
				env = append(env, "PWD="+pwd)
			}
		}
	}
	if n.cg != nil && attr.UseCgroupFD {
		return nil, fmt.Errorf("namespace: Command: %w: exec.Cmd.SysProcAttr.UseCgroupFD is set, but the cgroup is the Namespace's: use WithCgroup instead", ErrInvalid)
	}
	cg, err := n.openCgroup()
	if err != nil {
		return nil, err
	}
	cg.into(attr)
	parentEnd, childEnd, err := socketPair()
	if err != nil {
		_, _ = cg.finish()
		return nil, err
	}
	j := &job{Token: newToken(), Role: roleExec, Plan: n.childPlan(), Path: program, Argv: cmd.Args}
	if cmd.Dir != "" {
		j.Plan.Steps = withDirExplicit(j.Plan.Steps)
	}
	fd := 3 + len(cmd.ExtraFiles)
	savedEnv, savedFiles, savedAttr := cmd.Env, cmd.ExtraFiles, cmd.SysProcAttr
	cmd.Env = childEnv(env, markerValue(fd, j.Token))
	cmd.ExtraFiles = append(cmd.ExtraFiles[:len(cmd.ExtraFiles):len(cmd.ExtraFiles)], childEnd)
	cmd.SysProcAttr = attr

	h := &commandHandoff{parentEnd: parentEnd, childEnd: childEnd, cg: cg}
	hp.Store(h)
	if cg != nil {
		h.watch = watchCgroup(cmd)
	}
	// If Start fails after this, or the process started but the second
	// look never comes, the child's end is released when cmd is garbage
	// collected; the handoff ends then.
	runtime.AddCleanup(cmd, (*commandHandoff).release, h)
	go h.run(ctx, j)
	return func() {
		cmd.Env, cmd.ExtraFiles, cmd.SysProcAttr = savedEnv, savedFiles, savedAttr
		h.releaseChildEnd()
		cg.closeFD()
	}, nil
}

// commandHandoff hands a Command child its job. It owns both ends of the
// socket. The parent's end is closed as soon as the job is written in
// answer to the child's hello: the child reads it from the socket's buffer
// all the same, and a command reports nothing else back on it (a failed step is printed on its standard
// error and ends it with status 125). The parent's copy of the child's end
// is closed once exec.Cmd.Start no longer reads it: at Start's second look
// at the context (on Start's goroutine, after the process started), or,
// where that look never comes (Start failed, or the caller cleared both
// Cancel and WaitDelay), when the exec.Cmd is garbage collected.
type commandHandoff struct {
	parentEnd, childEnd *os.File
	once                sync.Once
	handed              atomic.Bool // the child asked for its job and was answered

	// The child's cgroup and its end (cgroup_watch_linux.go), or nil.
	cg    *cgroupDir
	watch *cgroupWatch
}

// endCgroup hands the child's cgroup to its watch: removed once the child
// (pidfd) has exited, or now if it never asked for its job (hello false).
func (h *commandHandoff) endCgroup(pidfd int, hello bool) {
	if h.cg == nil {
		return
	}
	h.cg.closeFD()
	go h.watch.end(h.cg, pidfd, hello)
}

func (h *commandHandoff) releaseChildEnd() {
	h.once.Do(func() { h.childEnd.Close() })
}

// release closes both ends (the parent's may be open still if the context
// ended before the child asked for its job).
func (h *commandHandoff) release() {
	h.releaseChildEnd()
	h.parentEnd.Close()
}

func (h *commandHandoff) run(ctx context.Context, j *job) {
	// ctx done: the child is being killed (Cmd.Cancel); stop.
	stop := context.AfterFunc(ctx, func() { _ = h.parentEnd.SetDeadline(time.Now()) })
	defer stop()
	// The job goes to a child that asks for it (its hello); a command
	// child asks once.
	for {
		var m message
		if err := readFrame(h.parentEnd, &m); err != nil {
			h.endCgroup(-1, false)
			if ctx.Err() != nil {
				// Left open: the end of file would end the child with
				// status 125 (set-up failed) before the signal that
				// cancels it arrives. It is closed with cmd (the
				// cleanup of releaseChildEnd).
				return
			}
			h.parentEnd.Close()
			return
		}
		if m.Type == msgHello {
			// The child, alone in its cgroup until it has its job.
			pidfd := cgroupChildPidfd(h.cg)
			h.handed.Store(true)
			_ = answerHello(h.parentEnd, j, m.Msg)
			h.endCgroup(pidfd, true)
			h.parentEnd.Close()
			return
		}
	}
}
