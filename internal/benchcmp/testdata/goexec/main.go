//go:build linux

// Command goexec executes its arguments in its own place and does nothing
// else: the least a Go program pays to run a command, the floor of
// `nsrun -- COMMAND` (make bench). With -net first, it creates a network
// namespace for the thread that executes the command: the floor of
// `nsrun -n COMMAND` (the network namespace churn of make bench; root).
//
//	goexec [-net] COMMAND [ARG...]
package main

import (
	"os"
	"runtime"
	"syscall"
)

func main() {
	argv := os.Args[1:]
	if len(argv) > 0 && argv[0] == "-net" {
		argv = argv[1:]
		// unshare applies to the calling thread, which executes argv.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			os.Stderr.WriteString("goexec: unshare: " + err.Error() + "\n")
			os.Exit(125)
		}
	}
	if len(argv) < 1 {
		os.Exit(2)
	}
	err := syscall.Exec(argv[0], argv, os.Environ())
	os.Stderr.WriteString("goexec: " + err.Error() + "\n")
	os.Exit(126)
}
