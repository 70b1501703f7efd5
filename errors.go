package namespace

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Sentinel errors for the common causes of failure. Errors returned by this
// package wrap one of them where it applies, together with the underlying
// errno, so both errors.Is(err, ErrPermission) and
// errors.Is(err, syscall.EPERM) hold.
var (
	// ErrInvalid: an option is malformed or options conflict. Nothing was
	// created.
	ErrInvalid = errors.New("invalid namespace options")

	// ErrPermission: the kernel refused to create a namespace or to perform
	// a set-up step. Run as root (CAP_SYS_ADMIN), or add WithPrivateUser().
	ErrPermission = errors.New("permission denied")

	// ErrLimit: a namespace limit was reached (ENOSPC, EUSERS), see
	// /proc/sys/user/max_*_namespaces.
	ErrLimit = errors.New("namespace limit reached")

	// ErrUnsupported: the kernel does not support a requested namespace or
	// operation (EINVAL, ENOSYS), a method cannot do what was asked (a PID
	// namespace in Do), or the system is not Linux (every method that
	// would create or enter namespaces returns it there). It wraps
	// errors.ErrUnsupported, so errors.Is(err, errors.ErrUnsupported)
	// holds as well.
	ErrUnsupported error = &wrapped{msg: "not supported", err: errors.ErrUnsupported}

	// ErrNoInit: the child process did not run its job because the program's
	// main (or TestMain) does not call Init first.
	ErrNoInit = errors.New("the program does not call namespace.Init() first in main or TestMain")

	// ErrUnknownFunc: Run was given a nil *Func or one that the child has
	// not registered.
	ErrUnknownFunc = errors.New("unknown function")

	// ErrInterrupted: the parent received a terminating signal while Run
	// waited, and stopped the child.
	ErrInterrupted = errors.New("interrupted by signal")

	// ErrProtocol: the child's job could not be delivered or its answer could
	// not be read.
	ErrProtocol = errors.New("namespace child protocol error")

	// ErrClosed: a Pool was used after Close.
	ErrClosed = errors.New("pool closed")
)

// wrapped is a sentinel that wraps a more general one of the standard
// library under a message of its own.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// An ExitError reports a child that did not finish its job successfully: its
// function returned an error or panicked, it exited with a non-zero status,
// or a signal killed it.
type ExitError struct {
	// Code is the child's exit status, or -1 if a signal killed it.
	Code int
	// Signal is the signal that killed the child, or 0.
	Signal syscall.Signal
	// Msg is the text of the error the child's function returned, or the
	// panic value, or empty.
	Msg string
	// Stack is the child's goroutine stack at a panic, or empty.
	Stack string
	// Stderr is the end (up to 4 KiB) of what a Run or Task child wrote
	// on its standard error before it died without running its function
	// (a runtime that could not start, a panic in a package's init), or
	// empty. The caller's standard error got all of it too, as it came.
	Stderr string
}

// Error describes the failure on one line, followed by the panic stack if
// there is one.
func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString("namespace child ")
	switch {
	case e.Signal != 0:
		fmt.Fprintf(&b, "killed by signal %v", e.Signal)
	case e.Stack != "":
		fmt.Fprintf(&b, "panicked (exit status %d)", e.Code)
	default:
		fmt.Fprintf(&b, "exited with status %d", e.Code)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Stack != "" {
		b.WriteString("\n\n")
		b.WriteString(e.Stack)
	}
	if e.Stderr != "" {
		b.WriteString("; its standard error ended with:\n")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

// ExitCode returns the status a shell would report: Code, or 128+N for a
// child killed by signal N.
func (e *ExitError) ExitCode() int {
	if e.Signal != 0 {
		return 128 + int(e.Signal)
	}
	return e.Code
}

// A SetupError reports a failed step in creating or setting up the
// namespaces. It wraps a sentinel (ErrPermission, ErrLimit, …) and the
// underlying error, and says what to do.
type SetupError struct {
	// Step names what failed, e.g. "create namespaces mnt,pid" or
	// "mount tmpfs on /tmp".
	Step string
	// Err is the underlying error, typically a syscall.Errno.
	Err error
	// Hint says what to do about it, or is empty.
	Hint string
	kind error
}

func (e *SetupError) Error() string {
	s := "namespace: " + e.Step + ": " + e.Err.Error()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap returns the sentinel and the underlying error.
func (e *SetupError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.Err}
	}
	return []error{e.kind, e.Err}
}

// classify wraps err from step into a *SetupError with a sentinel and a
// hint that fit its errno.
func classify(step string, err error, n *Namespace) error {
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return &SetupError{Step: step, Err: err}
	}
	e := &SetupError{Step: step, Err: err}
	if h := privHint(step, errno); h != "" {
		e.Hint = h
		if errno == syscall.EPERM {
			e.kind = ErrPermission
		} else {
			e.kind = ErrUnsupported
		}
		return e
	}
	switch errno {
	case syscall.EPERM, syscall.EACCES:
		e.kind = ErrPermission
		switch {
		case strings.HasSuffix(step, "mount proc on /proc"):
			e.Hint = "the kernel refuses a fresh /proc in a user namespace while parts of the visible /proc are covered by other mounts (as in many containers); add WithoutProc() to keep the inherited /proc"
		case strings.HasPrefix(step, "join ") || strings.Contains(step, ": join "):
			e.Hint = "joining a namespace needs CAP_SYS_ADMIN in the user namespace that owns it: join that user namespace as well (WithJoin(syscalls.User, …)), or run as its owner"
		case n != nil && !n.user:
			e.Hint = "creating namespaces needs CAP_SYS_ADMIN; run as root or add WithPrivateUser()"
		default:
			e.Hint = "unprivileged user namespaces may be disabled: check /proc/sys/user/max_user_namespaces, /proc/sys/kernel/unprivileged_userns_clone and /proc/sys/kernel/apparmor_restrict_unprivileged_userns"
		}
	case syscall.ENOSPC, syscall.EUSERS:
		e.kind = ErrLimit
		e.Hint = "a namespace limit was reached: see /proc/sys/user/max_*_namespaces (max_user_namespaces for user namespaces)"
	case syscall.EINVAL, syscall.ENOSYS, syscall.EOPNOTSUPP:
		e.kind = ErrUnsupported
		e.Hint = "the kernel does not support this namespace kind or operation, or it was asked of a multi-threaded process"
	case syscall.EAGAIN:
		e.kind = ErrLimit
		e.Hint = "a process limit was reached: RLIMIT_NPROC, the pids cgroup, or kernel.pid_max"
	case syscall.EMFILE, syscall.ENFILE:
		e.kind = ErrLimit
		e.Hint = "too many open files: raise RLIMIT_NOFILE (ulimit -n)"
	case syscall.ENOMEM:
		e.Hint = "out of memory, or a PID namespace whose init has exited"
	case syscall.ERANGE:
		e.kind = ErrInvalid
		e.Hint = "a time offset would make a clock negative or is out of range"
	}
	if d := diagnose(step, errno, n); d != "" {
		e.Hint = d // the likely cause, found by Check's checks
	}
	return e
}

func joinErrs(errs []error) error {
	return errors.Join(errs...)
}
