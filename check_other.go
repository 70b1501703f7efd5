//go:build !linux

package namespace

import (
	"context"
	"runtime"
	"syscall"
)

// Check finds out which namespaces can be created on Linux. On this
// system it reports that there are none.
func Check(ctx context.Context) Report {
	return Report{Findings: []Finding{{Name: "namespaces", Detail: "namespaces are a Linux feature, and this is " + runtime.GOOS, Remedy: "run on Linux"}}}
}

func diagnose(step string, errno syscall.Errno, n *Namespace) string { return "" }
