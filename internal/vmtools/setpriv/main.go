//go:build linux

// Command setpriv is the part of util-linux's setpriv(1) that
// scripts/as-nobody uses, for the kernel matrix's guests whose only
// userland is busybox (VMARCH=arm64 in scripts/vm), whose setpriv lacks
// these options:
//
//	setpriv --reuid=UID --regid=GID --clear-groups [--inh-caps=-all] PROGRAM [ARG...]
//
// It drops the supplementary groups and, with --inh-caps=-all, the
// inheritable capabilities, sets the real, effective and saved group and
// user IDs (group first, while it may), and executes PROGRAM, looked up in
// PATH. Any other option is refused. scripts/vm installs it in the guest
// as /usr/lib/linuxns/setpriv, and the guest's init names it in
// LINUXNS_SETPRIV: busybox's shell would run its own setpriv for a bare
// "setpriv" whatever PATH says.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	var uid, gid int
	var haveUID, haveGID, clear, noInh bool
	args := os.Args[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		args = args[1:]
		var err error
		switch {
		case a == "--":
		case strings.HasPrefix(a, "--reuid="):
			uid, err = parseID(strings.TrimPrefix(a, "--reuid="))
			haveUID = true
		case strings.HasPrefix(a, "--regid="):
			gid, err = parseID(strings.TrimPrefix(a, "--regid="))
			haveGID = true
		case a == "--clear-groups":
			clear = true
		case a == "--inh-caps=-all":
			noInh = true
		default:
			fail("unsupported option %s (only --reuid=UID --regid=GID --clear-groups --inh-caps=-all)", a)
		}
		if err != nil {
			fail("%s: %v", a, err)
		}
		if a == "--" {
			break
		}
	}
	if len(args) == 0 || !haveUID || !haveGID || !clear {
		fail("usage: setpriv --reuid=UID --regid=GID --clear-groups [--inh-caps=-all] PROGRAM [ARG...]")
	}
	if noInh {
		// The thread that executes PROGRAM must be the one changed.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			fail("capget: %v", err)
		}
		data[0].Inheritable, data[1].Inheritable = 0, 0
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			fail("capset: %v", err)
		}
	}
	// The Go runtime applies each to every thread of the process.
	if err := syscall.Setgroups(nil); err != nil {
		fail("setgroups: %v", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		fail("setresgid: %v", err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		fail("setresuid: %v", err)
	}
	// What the kernel holds now, not what was asked.
	r, e, sv := unix.Getresuid()
	if r != uid || e != uid || sv != uid {
		fail("the user IDs are %d %d %d, not %d", r, e, sv, uid)
	}
	r, e, sv = unix.Getresgid()
	if r != gid || e != gid || sv != gid {
		fail("the group IDs are %d %d %d, not %d", r, e, sv, gid)
	}
	if g, err := syscall.Getgroups(); err != nil || len(g) != 0 {
		fail("supplementary groups left: %v %v", g, err)
	}
	// Looked up as the new user, as setpriv(1)'s execvp does.
	path, err := exec.LookPath(args[0])
	if err != nil {
		fail("%v", err)
	}
	err = syscall.Exec(path, args, os.Environ())
	fail("exec %s: %v", path, err)
}

// parseID parses a user or group ID: a decimal number below 2^32-1, which
// the kernel reads as "leave unchanged" (and a larger one would be cut to
// 32 bits: 2^32 is root).
func parseID(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, fmt.Errorf("want a user or group ID below 4294967295, not %q", s)
	}
	return int(n), nil
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "setpriv: "+format+"\n", a...)
	os.Exit(127)
}
