//go:build linux

package namespace

import (
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkPrivSteps is the cost of each privilege and limit step:
// StartProcess of /bin/true with no namespace, then with each step alone,
// then all of them, and with WithSandbox. (As uid 65534 the capability
// step needs a user namespace: it and the sandbox add one.)
func BenchmarkPrivSteps(b *testing.B) {
	if _, err := seccompProgram(&seccompConfig{}, false); err != nil {
		b.Skip(err)
	}
	user := func(opts ...Option) []Option {
		if asRoot() {
			return opts
		}
		return append([]Option{WithPrivateUser()}, opts...)
	}
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"none", nil},
		{"rlimit", []Option{WithRlimit(unix.RLIMIT_CORE, 0, 0)}},
		{"new-session", []Option{WithNewSession()}},
		{"landlock", []Option{WithLandlock(LandlockReadOnly("/"), LandlockBestEffort())}},
		{"capabilities", user(WithCapabilities())},
		{"no-new-privs", []Option{WithNoNewPrivs()}},
		{"seccomp-default", []Option{WithSeccomp()}},
		{"no-nested-userns", []Option{WithoutNestedUserNamespaces()}},
		{"all", user(WithRlimit(unix.RLIMIT_CORE, 0, 0), WithNewSession(), WithLandlock(LandlockReadOnly("/"), LandlockBestEffort()),
			WithCapabilities(), WithNoNewPrivs(), WithSeccomp(), WithoutNestedUserNamespaces())},
		{"sandbox", []Option{WithSandbox()}},
	} {
		n := New(c.opts...)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := waitSuccess(n.StartProcess("/bin/true", nil, nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
