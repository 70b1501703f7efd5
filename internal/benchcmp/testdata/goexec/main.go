//go:build linux

// Command goexec executes its arguments in its own place and does nothing
// else: the least a Go program pays to run a command, the floor of
// `nsrun -- COMMAND` (make bench).
package main

import (
	"os"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		os.Exit(2)
	}
	err := syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	os.Stderr.WriteString("goexec: " + err.Error() + "\n")
	os.Exit(126)
}
