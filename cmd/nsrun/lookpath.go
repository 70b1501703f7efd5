//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// lookPath finds a COMMAND given without a slash. With --root DIR it looks
// in $PATH inside DIR first, as the new root will show it (links resolved
// inside DIR, never above it), so that a root with /bin/sh but no
// /usr/bin/sh, or with a program the host lacks, runs what is in it; what
// is not there is looked up on the host, for a root that later flags bind
// programs into.
func lookPath(c *config, name string) (string, error) {
	if root := c.rootDir(); root != "" {
		if p, ok := lookPathIn(root, name, os.Getenv("PATH")); ok {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// rootDir returns the DIR of --root, or "".
func (c *config) rootDir() string {
	dir := ""
	for _, a := range c.fs {
		if a.flag == "root" {
			dir = a.value
		}
	}
	return dir
}

// lookPathIn returns the first DIR/name of the absolute directories in
// pathList that is an executable regular file inside root, as a path in
// root.
func lookPathIn(root, name, pathList string) (string, bool) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(rfd)
	for _, dir := range filepath.SplitList(pathList) {
		if !strings.HasPrefix(dir, "/") {
			continue // relative to a directory the new root does not have
		}
		p := filepath.Join(dir, name)
		fd, err := unix.Openat2(rfd, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
