//go:build !linux

package namespace

import "syscall"

// privErrors: on other systems no verb runs, so the steps are not compiled.
func (n *Namespace) privErrors() []error { return nil }

// knownSyscall: no table on other systems.
func knownSyscall(string) bool { return true }

// privHint: no step fails on other systems.
func privHint(string, syscall.Errno) string { return "" }
