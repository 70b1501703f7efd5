//go:build !linux

package namespace

import (
	"context"
	"os"
	"os/exec"
)

// CommandCgroup returns what the cgroup of a Command's process counted on
// Linux. On this system it returns an error wrapping ErrUnsupported.
func CommandCgroup(ctx context.Context, cmd *exec.Cmd) (CgroupUsage, error) {
	return CgroupUsage{}, unsupported("CommandCgroup")
}

// ProcessCgroup returns what the cgroup of a StartProcess process counted
// on Linux. On this system it returns an error wrapping ErrUnsupported.
func ProcessCgroup(ctx context.Context, p *os.Process) (CgroupUsage, error) {
	return CgroupUsage{}, unsupported("ProcessCgroup")
}
