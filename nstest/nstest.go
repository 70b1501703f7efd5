// Package nstest runs Go test bodies inside new Linux namespaces.
//
// A test that needs a private /tmp, a PID namespace, a network of its own
// or root in a user namespace calls Run (or the WithPrivateTmp one-liner)
// with the body to isolate:
//
//	func TestCache(t *testing.T) {
//		nstest.WithPrivateTmp(t, func(t *testing.T) {
//			// /tmp is a fresh tmpfs, seen by this body alone.
//			c := cache.Open("/tmp/cache")
//			…
//		})
//	}
//
// Run re-executes the test binary for exactly this test (-test.run anchored
// on its full name, so subtests work) through namespace.Command: the child
// test process is created inside the namespaces, finds itself marked as the
// child of this test, and runs the body directly. Its output is streamed
// into the parent test's log, and the parent fails if the body fails.
//
// The test function around Run runs twice, once in the parent and once in
// the child: keep set-up that must happen once inside the body. Inside the
// child, Run calls for other tests are skipped, so nothing recurses. The
// package works with go test's -run, -v, -count, -race, -timeout, parallel
// tests and t.TempDir (inside a private /tmp, TMPDIR is reset to /tmp when
// the inherited one is not visible).
package nstest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/linuxns/namespace"
)

// envInside names the test whose body a child test process runs.
const envInside = "NSTEST_INSIDE"

// Inside reports whether the running test binary is a child started by Run.
func Inside() bool { return os.Getenv(envInside) != "" }

// Run runs body in a child test process inside the namespaces of ns and
// waits for it. In the child, it runs body with the child's *testing.T.
// The parent test fails if the child's body fails, if the child test does
// not run, or if the namespaces cannot be created.
func Run(t *testing.T, ns *namespace.Namespace, body func(t *testing.T)) {
	t.Helper()
	if inside := os.Getenv(envInside); inside != "" {
		if inside != t.Name() {
			t.Skipf("nstest: this process runs the body of %s only", inside)
		}
		if _, err := os.Stat(os.TempDir()); err != nil {
			// The inherited TMPDIR lies under a /tmp that the namespace
			// replaced.
			os.Setenv("TMPDIR", "/tmp")
		}
		body(t)
		return
	}

	args := []string{"-test.run=" + runPattern(t.Name()), "-test.count=1"}
	if testing.Verbose() {
		args = append(args, "-test.v=true")
	}
	for _, name := range []string{"test.timeout", "test.parallel", "test.failfast"} {
		if f := flag.Lookup(name); f != nil {
			args = append(args, "-"+name+"="+f.Value.String())
		}
	}
	ctx := t.Context()
	cmd := ns.Command(ctx, "/proc/self/exe", args...)
	cmd.Env = append(cmd.Env, envInside+"="+t.Name())
	out := &logWriter{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	out.flush()
	switch {
	case err != nil && ctx.Err() != nil:
		t.Errorf("nstest: %s was stopped: %v", t.Name(), ctx.Err())
	case err != nil:
		t.Errorf("nstest: the body of %s failed in its namespaces (%v); its output is above", t.Name(), err)
	case strings.Contains(out.all.String(), "no tests to run"):
		t.Errorf("nstest: the child test binary did not run %s: call nstest.Run from the test function itself, with the test's own t", t.Name())
	}
}

// WithPrivateTmp runs body with a private, empty /tmp: a fresh tmpfs in a
// new mount namespace. When the test does not run as root, a user namespace
// is added, so that it works unprivileged. More options may be given.
func WithPrivateTmp(t *testing.T, body func(t *testing.T), opts ...namespace.Option) {
	t.Helper()
	all := []namespace.Option{namespace.WithPrivateTmp()}
	if os.Geteuid() != 0 {
		all = append(all, namespace.WithPrivateUser())
	}
	Run(t, namespace.New(append(all, opts...)...), body)
}

// runPattern returns a -test.run pattern that matches exactly the test
// named name (subtests included, each element anchored).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// logWriter passes the child's output to the parent test's log, a line at
// a time, and keeps it all.
type logWriter struct {
	t    *testing.T
	mu   sync.Mutex
	buf  bytes.Buffer
	all  bytes.Buffer
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			break
		}
		w.logLine(strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}

func (w *logWriter) logLine(line string) {
	if !w.done {
		w.t.Log(fmt.Sprintf("[ns] %s", line))
	}
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 0 {
		w.logLine(w.buf.String())
		w.buf.Reset()
	}
	w.done = true
}
