//go:build !linux

package nstest_test

import (
	"testing"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/nstest"
)

// The tests of the package on systems other than Linux. They run there
// (go test on macOS or Windows); on Linux, make cross type-checks them
// with go vet for darwin and windows.

func TestRunSkips(t *testing.T) {
	for name, call := range map[string]func(t *testing.T, body func(*testing.T)){
		"Run": func(t *testing.T, body func(*testing.T)) {
			nstest.Run(t, namespace.New(namespace.WithPrivatePID()), body)
		},
		"WithPrivateTmp": func(t *testing.T, body func(*testing.T)) { nstest.WithPrivateTmp(t, body) },
	} {
		ran, skipped := false, false
		t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			call(t, func(*testing.T) { ran = true })
		})
		if ran || !skipped {
			t.Errorf("%s: body ran %v, test skipped %v; want a skip without the body", name, ran, skipped)
		}
	}
	if nstest.Inside() {
		t.Error("Inside is true")
	}
}
