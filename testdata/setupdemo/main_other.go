//go:build !linux

// On systems other than Linux, setupdemo shows what Setup returns there: an
// error wrapping namespace.ErrUnsupported. It exits with status 1.
package main

import (
	"fmt"
	"os"

	"github.com/linuxns/namespace"
)

func main() {
	err := namespace.New(namespace.WithPrivatePID(), namespace.WithPrivateTmp()).Setup()
	fmt.Fprintf(os.Stderr, "setupdemo: setup: %v\n", err)
	os.Exit(1)
}
