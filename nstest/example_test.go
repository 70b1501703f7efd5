//go:build linux

package nstest_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"testing"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/nstest"
)

// A test fixture in a private /tmp: the body sees a fresh, empty tmpfs, so
// fixed paths such as /tmp/cache.db never clash with other tests or reach
// the host. Unprivileged, WithPrivateTmp adds a user namespace by itself.
// The code after the body runs once, in the parent test process, when the
// body is done: there /tmp is the host's again.
// In a _test.go file, the function below is a test (TestCacheCleanup).
func ExampleWithPrivateTmp() {
	testCacheCleanup := func(t *testing.T) {
		nstest.WithPrivateTmp(t, func(t *testing.T) {
			if err := os.WriteFile("/tmp/cache.db", []byte("stale"), 0o600); err != nil {
				t.Fatal(err)
			}
			// … exercise the code that cleans /tmp/cache.db …
			dir := t.TempDir() // in the private /tmp too
			_ = dir
		})
		// On the host, after the body:
		if _, err := os.Stat("/tmp/cache.db"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the body's /tmp/cache.db reached the host's /tmp (%v)", err)
		}
	}
	_ = testCacheCleanup
}

// A body as PID 1 of a new PID namespace, with its own hostname and
// network (lo up), as root of a user namespace: a server can listen on a
// fixed port without clashing with parallel tests.
func ExampleRun() {
	testServer := func(t *testing.T) {
		t.Parallel()
		ns := namespace.New(
			namespace.WithPrivateUser(),
			namespace.WithPrivatePID(),
			namespace.WithPrivateNet(),
			namespace.WithHostname("testhost"),
		)
		nstest.Run(t, ns, func(t *testing.T) {
			if os.Getpid() != 1 {
				t.Fatalf("pid %d", os.Getpid())
			}
			l, err := net.Listen("tcp", "127.0.0.1:8080") // this namespace's lo
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// … start the server on l and test it …
		})
	}
	_ = testServer
}

// Inside tells a test function whether it runs in the parent test process
// or in a child that Run started: the code before Run runs in both, so
// one-time work there can be skipped inside.
func ExampleInside() {
	fmt.Println("in a child test process:", nstest.Inside())
	// Output: in a child test process: false
}
