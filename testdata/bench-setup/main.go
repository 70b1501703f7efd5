// Command bench-setup is the fixture of the Setup benchmark: it moves
// itself into a private mount, PID and /tmp namespace set-up (and a user
// namespace when not root) with namespace.Setup, and exits 0 inside. The
// benchmark times the whole round trip: start, re-execution inside, exit,
// and the original process exiting with the inner status.
package main

import (
	"fmt"
	"os"

	"github.com/linuxns/namespace"
)

func main() {
	opts := []namespace.Option{namespace.WithPrivatePID(), namespace.WithPrivateTmp()}
	if os.Geteuid() != 0 {
		opts = append(opts, namespace.WithPrivateUser())
	}
	if err := namespace.New(opts...).Setup(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-setup: %v\n", err)
		os.Exit(125)
	}
	if os.Getpid() != 1 {
		fmt.Fprintf(os.Stderr, "bench-setup: inside, pid is %d, not 1\n", os.Getpid())
		os.Exit(1)
	}
}
