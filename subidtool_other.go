//go:build !linux

package namespace

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// subIDTool returns the path of the helper name (newuidmap, newgidmap) in
// $PATH; no such helper runs outside Linux.
func subIDTool(name string) (string, error) {
	return exec.LookPath(name)
}

// runSubIDTool runs no helper outside Linux.
func runSubIDTool(path string, args []string) error {
	return fmt.Errorf("namespace: %w: %s runs on Linux only", ErrUnsupported, filepath.Base(path))
}
