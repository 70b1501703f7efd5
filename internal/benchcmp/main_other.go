//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/linuxns/namespace"
)

// On systems other than Linux there is nothing to measure: benchcmp says so
// and exits with status 1.
func main() {
	fmt.Fprintf(os.Stderr, "benchcmp: %v\n", fmt.Errorf("%w: the benchmarks need Linux namespaces, and this is %s", namespace.ErrUnsupported, runtime.GOOS))
	os.Exit(1)
}
