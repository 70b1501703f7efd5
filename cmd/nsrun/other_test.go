//go:build !linux

package main

import (
	"errors"
	"testing"

	"github.com/linuxns/namespace"
)

// The tests of nsrun on systems other than Linux. They run there (go test
// on macOS or Windows); on Linux, make cross type-checks them with go vet
// for darwin and windows.

func TestStartUnsupported(t *testing.T) {
	if err := start(); !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, namespace.ErrUnsupported) {
		t.Errorf("start = %v, want an error wrapping namespace.ErrUnsupported", err)
	}
}
