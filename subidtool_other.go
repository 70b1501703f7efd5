//go:build !linux

package namespace

import "os/exec"

// subIDTool returns the path of the helper name (newuidmap, newgidmap) in
// $PATH; no such helper runs outside Linux.
func subIDTool(name string) (string, error) {
	return exec.LookPath(name)
}
