//go:build !linux

// Package nstest runs Go test bodies inside new Linux namespaces.
//
// On systems other than Linux there are no namespaces: Run and
// WithPrivateTmp skip the test, with a message that says so and names
// namespace.ErrUnsupported, and Inside reports false.
package nstest

import (
	"testing"

	"github.com/linuxns/namespace"
)

// Inside reports whether the running test binary is a child test process
// started by Run; on this system never.
func Inside() bool { return false }

// Run runs body in a child test process inside the namespaces of ns on
// Linux. On this system it does not run body and skips the test: the
// namespaces cannot be made, and a test that needs them cannot run. The
// message comes from the error of ns.Command, which wraps
// namespace.ErrUnsupported.
func Run(t *testing.T, ns *namespace.Namespace, body func(t *testing.T)) {
	t.Helper()
	if ns == nil || body == nil {
		t.Fatal("nstest: Run needs a Namespace (namespace.New(...)) and a body")
	}
	t.Skipf("nstest: %s needs Linux namespaces: %v", t.Name(), ns.Command(t.Context(), "true").Err)
}

// WithPrivateTmp runs body with a private, empty /tmp on Linux. On this
// system it skips the test, as Run does.
func WithPrivateTmp(t *testing.T, body func(t *testing.T), opts ...namespace.Option) {
	t.Helper()
	Run(t, namespace.New(append([]namespace.Option{namespace.WithPrivateTmp()}, opts...)...), body)
}
