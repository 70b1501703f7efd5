//go:build !linux

package namespace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// The package on systems other than Linux. Namespaces are a Linux feature,
// so nothing here creates or enters any; the package builds so that
// programs and libraries that use it build everywhere and choose at run
// time. New, the options, Validate, Flags, Types and String behave as on
// Linux, Register and NewTask record their functions, and Init does
// nothing; every method that would create or enter namespaces or start a
// process (Run, Task.Run, Command, StartProcess, Prepare, Exec, Setup, Do)
// returns an error that wraps ErrUnsupported, and so errors.ErrUnsupported.

// unsupported is the error of every such method.
func unsupported(method string) error {
	return fmt.Errorf("namespace: %s: %w: namespaces are a Linux feature, and this is %s", method, ErrUnsupported, runtime.GOOS)
}

// Run runs a registered function in a child process inside new namespaces
// on Linux. On this system it returns an error wrapping ErrUnsupported.
func (n *Namespace) Run(ctx context.Context, f *Func, args ...string) error {
	return unsupported("Run")
}

// Run runs the task in a child process on Linux. On this system it returns
// the zero Out and an error wrapping ErrUnsupported.
func (t *Task[In, Out]) Run(ctx context.Context, r Runner, in In) (Out, error) {
	var zero Out
	return zero, unsupported("Task.Run")
}

// Init runs the registered function in a child started by Run on Linux. On
// this system there is no such child, and Init does nothing.
func Init() {}

// Command returns an *exec.Cmd that runs the named program inside new
// namespaces on Linux. On this system the command's Err is an error
// wrapping ErrUnsupported, which Start, Run and Output return.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Err = unsupported("Command")
	return cmd
}

// Setup moves the rest of the program into the namespaces on Linux. On
// this system it returns an error wrapping ErrUnsupported.
func (n *Namespace) Setup() error { return unsupported("Setup") }

// Do runs fn on a thread in new namespaces on Linux. On this system it does
// not call fn and returns an error wrapping ErrUnsupported.
func (n *Namespace) Do(fn func() error) error { return unsupported("Do") }

// Exec executes a program in place of the calling one, in new namespaces,
// on Linux. On this system it returns an error wrapping ErrUnsupported.
func (n *Namespace) Exec(path string, argv, envv []string) error { return unsupported("Exec") }

// StartProcess starts a program in new namespaces on Linux. On this system
// it returns an error wrapping ErrUnsupported.
func (n *Namespace) StartProcess(path string, argv []string, attr *os.ProcAttr) (*os.Process, error) {
	return nil, unsupported("StartProcess")
}

// A Prepared is a process that Prepare cloned into new namespaces and set
// up, held just before it executes its program. On this system Prepare
// makes none.
type Prepared struct {
	// Pid is the process's id, as seen from the caller's PID namespace.
	Pid int
}

// Prepare is StartProcess in two steps on Linux. On this system it returns
// an error wrapping ErrUnsupported.
func (n *Namespace) Prepare(path string, argv []string, attr *os.ProcAttr) (*Prepared, error) {
	return nil, unsupported("Prepare")
}

// Start executes the program of a prepared process on Linux. On this
// system it returns an error wrapping ErrUnsupported.
func (p *Prepared) Start() (*os.Process, error) { return nil, unsupported("Prepared.Start") }

// Abort ends a prepared process on Linux. On this system it returns an
// error wrapping ErrUnsupported.
func (p *Prepared) Abort() error { return unsupported("Prepared.Abort") }

// A Pool keeps children ready in fresh namespaces on Linux. On this
// system none can be made.
type Pool struct{}

// Pool makes a pool of prepared children on Linux. On this system it
// returns an error wrapping ErrUnsupported.
func (n *Namespace) Pool(size int) (*Pool, error) { return nil, unsupported("Pool") }

// Run runs a registered function on a pooled child on Linux. On this
// system it returns an error wrapping ErrUnsupported.
func (p *Pool) Run(ctx context.Context, f *Func, args ...string) error {
	return unsupported("Pool.Run")
}

// Close ends the pool. On this system there is none; Close returns nil.
func (p *Pool) Close() error { return nil }

func (n *Namespace) runner() {}
func (p *Pool) runner()      {}

// checkTimeOffsets checks offsets against the clocks on Linux; here there
// are no time namespaces whose clocks could go wrong.
func checkTimeOffsets(monotonic, boottime time.Duration) error { return nil }
