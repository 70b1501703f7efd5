//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/linuxns/namespace"
)

// exitFailed is nsrun's exit status when it fails itself.
const exitFailed = 125

// On systems other than Linux nsrun runs nothing: it says why on standard
// error and exits with status 125.
func main() {
	err := start()
	fmt.Fprintf(os.Stderr, "nsrun: %v\n", err)
	os.Exit(exitFailed)
}

// start is what nsrun can do on this system: nothing. The error wraps
// namespace.ErrUnsupported.
func start() error {
	return fmt.Errorf("%w: nsrun needs Linux namespaces, and this is %s", namespace.ErrUnsupported, runtime.GOOS)
}
