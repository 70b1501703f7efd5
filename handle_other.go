//go:build !linux

package namespace

import (
	"context"
	"os"
	"os/exec"

	"github.com/linuxns/namespace/syscalls"
)

// Create holds new namespaces on Linux. On this system it returns an
// error wrapping ErrUnsupported.
func (n *Namespace) Create(ctx context.Context) (*Handle, error) { return nil, unsupported("Create") }

// Pid returns the pid of the holding process on Linux; 0 here.
func (h *Handle) Pid() int { return 0 }

// Run runs a function in the held namespaces on Linux. On this system it
// returns an error wrapping ErrUnsupported.
func (h *Handle) Run(ctx context.Context, f *Func, args ...string) error {
	return unsupported("Handle.Run")
}

// Command runs a program in the held namespaces on Linux. On this system
// its Start returns an error wrapping ErrUnsupported.
func (h *Handle) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Err = unsupported("Handle.Command")
	return cmd
}

// StartProcess starts a program in the held namespaces on Linux. On this
// system it returns an error wrapping ErrUnsupported.
func (h *Handle) StartProcess(path string, argv []string, attr *os.ProcAttr) (*os.Process, error) {
	return nil, unsupported("Handle.StartProcess")
}

// Pin pins a held namespace on Linux. On this system it returns an error
// wrapping ErrUnsupported.
func (h *Handle) Pin(kind syscalls.Type, path string) error { return unsupported("Handle.Pin") }

// Close releases the Handle; here there is nothing to release.
func (h *Handle) Close() error { return nil }
