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
	uid, gid, clear, noInh := -1, -1, false, false
	args := os.Args[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		args = args[1:]
		var err error
		switch {
		case a == "--":
		case strings.HasPrefix(a, "--reuid="):
			uid, err = strconv.Atoi(strings.TrimPrefix(a, "--reuid="))
		case strings.HasPrefix(a, "--regid="):
			gid, err = strconv.Atoi(strings.TrimPrefix(a, "--regid="))
		case a == "--clear-groups":
			clear = true
		case a == "--inh-caps=-all":
			noInh = true
		default:
			fail("unsupported option %s (only --reuid=UID --regid=GID --clear-groups --inh-caps=-all)", a)
		}
		if err != nil || uid < -1 || gid < -1 {
			fail("%s: want a number", a)
		}
		if a == "--" {
			break
		}
	}
	if len(args) == 0 || uid < 0 || gid < 0 || !clear {
		fail("usage: setpriv --reuid=UID --regid=GID --clear-groups [--inh-caps=-all] PROGRAM [ARG...]")
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fail("%v", err)
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
	err = syscall.Exec(path, args, os.Environ())
	fail("exec %s: %v", path, err)
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "setpriv: "+format+"\n", a...)
	os.Exit(127)
}
