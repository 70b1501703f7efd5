//go:build linux

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
// child of this Run call, and runs the body directly with its own
// *testing.T. Its output is streamed into the parent test's output, each
// line marked "[ns]"; the parent test fails if the body fails, and is
// skipped if the body skips. No TestMain is needed.
//
// The test function around Run runs twice, once in the parent and once in
// the child: keep set-up that must happen once inside the body, and call Run
// from the test's own goroutine, with the test's own t. A test may call Run
// several times; each body runs in a child of its own. Inside a child, Run
// calls that belong to other tests or other calls do nothing, so nothing
// recurses; Run cannot be nested in a body (the nested call is skipped).
//
// The package works with go test's -run, -v, -count, -race, -short,
// -timeout, -failfast, parallel tests and t.TempDir: when the body has a
// private /tmp, TMPDIR is set to /tmp in the child, so that t.TempDir and
// os.CreateTemp use the private /tmp and nothing reaches the host (also when
// the inherited TMPDIR lies under the host's /tmp, which the body cannot
// see). Coverage and profiling flags are not passed to the child (it would
// overwrite the parent's files), so the body's code counts for no coverage.
//
// The child test process is killed (SIGKILL) if the parent test process
// dies, by a timeout of go test, say. Processes that the body starts end
// with it only in a PID namespace (namespace.WithPrivatePID); without one, a
// process that outlives the body and keeps its output open is reported in
// the test's log and its later output is lost.
package nstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linuxns/namespace"
)

// envInside marks a child test process: "<call>:<nonce>:<test name>", the
// Run call (counted from 1 within the test) whose body the child runs, and
// the nonce by which the child tells the parent that the body started.
const envInside = "NSTEST_INSIDE"

// envHostTmp carries the identity of the parent's /tmp to the child test
// process, which thereby knows whether its /tmp is private.
const envHostTmp = "NSTEST_HOST_TMP"

// startedPrefix begins the line by which a child tells its parent that the
// body started; the parent consumes it.
const startedPrefix = "nstest: body started "

// marker is the parsed envInside of a child test process.
type marker struct {
	call  int
	nonce string
	name  string
}

// inside is set in a child test process started by Run.
var inside = parseMarker(os.Getenv(envInside))

// hostTmp is the identity of the parent's /tmp (tmpID), in a child test
// process.
var hostTmp = os.Getenv(envHostTmp)

func init() {
	// Programs that the body starts (the test binary again, say) must not
	// take themselves for this child.
	os.Unsetenv(envInside)
	os.Unsetenv(envHostTmp)
}

// tmpID identifies the directory /tmp ("device:inode"), or is empty if it
// cannot be examined.
func tmpID() string {
	var st syscall.Stat_t
	if err := syscall.Stat("/tmp", &st); err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func parseMarker(v string) *marker {
	call, rest, ok := strings.Cut(v, ":")
	if !ok {
		return nil
	}
	nonce, name, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(call)
	if !ok || err != nil || n < 1 || nonce == "" || name == "" {
		return nil
	}
	return &marker{call: n, nonce: nonce, name: name}
}

// Inside reports whether the running test binary is a child test process
// started by Run.
func Inside() bool { return inside != nil }

// calls counts the Run calls of each running test.
var calls struct {
	sync.Mutex
	n map[*testing.T]int
}

func nextCall(t *testing.T) int {
	calls.Lock()
	defer calls.Unlock()
	if calls.n == nil {
		calls.n = map[*testing.T]int{}
	}
	if _, ok := calls.n[t]; !ok {
		t.Cleanup(func() {
			calls.Lock()
			delete(calls.n, t)
			calls.Unlock()
		})
	}
	calls.n[t]++
	return calls.n[t]
}

// Run runs body in a child test process inside the namespaces of ns, and
// waits for it; in that child, it runs body with the child's *testing.T.
//
// The parent test fails if the body fails (the child's output, streamed
// into the test's output, shows why), if the child test process does not
// reach this Run call, or if the namespaces cannot be created (then
// immediately, with t.Fatal). It is skipped if the body calls t.Skip.
// Options that need privileges need root, or namespace.WithPrivateUser()
// (the child is then root of a user namespace; see WithPrivateTmp).
//
// In the child, body's t is the test's own t, the one Run was called
// with: to make the test parallel, call t.Parallel in the test function
// before Run, not in the body (there it does not make the parent test
// parallel, and after the test function's own call it panics); subtests
// that the body starts with t.Run may call it as usual.
func Run(t *testing.T, ns *namespace.Namespace, body func(t *testing.T)) {
	t.Helper()
	call := nextCall(t)
	if inside != nil {
		runInside(t, call, body)
		return
	}
	if ns == nil || body == nil {
		t.Fatal("nstest: Run needs a Namespace (namespace.New(...)) and a body")
	}

	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	m := marker{call: call, nonce: hex.EncodeToString(nonce), name: t.Name()}
	ctx := t.Context()
	// /proc/self/exe, not the binary's path: a private /tmp may hide the
	// directory that go test built the binary in.
	cmd := ns.Command(ctx, "/proc/self/exe", childArgs(t)...)
	if errors.Is(cmd.Err, namespace.ErrPermission) {
		t.Fatalf("nstest: cannot create the namespaces for %s: %v", t.Name(), cmd.Err)
	}
	if cmd.Err != nil {
		t.Fatalf("nstest: %s: %v", t.Name(), cmd.Err)
	}
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d:%s:%s", envInside, m.call, m.nonce, m.name))
	if id := tmpID(); id != "" {
		cmd.Env = append(cmd.Env, envHostTmp+"="+id)
	}
	out := &stream{t: t, m: m}
	cmd.Stdout, cmd.Stderr = out, out
	// The child's parent-death signal follows the OS thread that starts
	// it: keep this thread until the child is gone.
	runtime.LockOSThread()
	err := cmd.Run()
	runtime.UnlockOSThread()
	out.close()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The child test process exited with status 0, but a process that
		// the body started still holds its output.
		t.Logf("nstest: a process started by the body of %s outlived it and kept its output open; what it writes now is lost (namespace.WithPrivatePID ends such processes with the body)", t.Name())
		err = nil
	}

	var ee *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &ee):
		hint := ""
		if errors.Is(err, syscall.EPERM) && os.Geteuid() != 0 {
			hint = " (creating namespaces without root needs namespace.WithPrivateUser())"
		}
		t.Fatalf("nstest: cannot create the namespaces for %s: %v%s", t.Name(), err, hint)
	case ctx.Err() != nil:
		t.Fatalf("nstest: the child test process of %s was stopped: %v", t.Name(), ctx.Err())
	case err != nil && !out.started && ee.ExitCode() == 125:
		t.Fatalf("nstest: the namespaces for %s could not be set up (the child exited with status 125):\n%s", t.Name(), out.tailText())
	case err != nil && !out.started:
		t.Errorf("nstest: the child test process of %s failed (%v) before the body started; its output is above", t.Name(), err)
	case err != nil:
		t.Errorf("nstest: the body of %s failed in its namespaces (child test process: %v); its output is above", t.Name(), err)
	case out.skipped:
		t.Skipf("nstest: %s skipped in its namespaces; the reason is above", t.Name())
	case !out.started:
		t.Errorf("nstest: the child test process did not reach this Run call of %s: call Run from the test function with the test's own t, with the same calls in the same order in the child (which may run as root, or as PID 1: nstest.Inside tells)", t.Name())
	case !out.finished:
		t.Errorf("nstest: the child test process exited before %s finished (os.Exit in the body?); its output is above", t.Name())
	}
}

// runInside runs, in a child test process, the body of the Run call that the
// child was started for, and nothing else.
func runInside(t *testing.T, call int, body func(t *testing.T)) {
	t.Helper()
	switch {
	case t.Name() == inside.name && call == inside.call:
		if _, err := os.Stat(os.TempDir()); err != nil || (hostTmp != "" && tmpID() != hostTmp) {
			// A private /tmp: temporary files go there, not to the host,
			// and an inherited TMPDIR under the host's /tmp is hidden.
			os.Setenv("TMPDIR", "/tmp")
		}
		fmt.Fprintf(os.Stdout, "%s%s\n", startedPrefix, inside.nonce)
		body(t)
	case t.Name() == inside.name:
		// Another Run call of the same test: a child of its own runs it.
	default:
		// A sibling subtest (its own child runs it), or a Run nested in a
		// body, which is not supported.
		t.Skipf("nstest: %s is not run in this child test process, which runs the body of %s (a Run nested in a body is not supported)", t.Name(), inside.name)
	}
}

// childArgs returns the flags of the child test process: exactly this
// test, once, with the parent's verbosity-independent settings.
func childArgs(t *testing.T) []string {
	user := ""
	if f := flag.Lookup("test.run"); f != nil {
		user = f.Value.String()
	}
	args := []string{
		"-test.run=" + childRunPattern(t.Name(), user),
		"-test.count=1",
		// Always verbose: the parent reads whether the body skipped. The
		// lines reach the terminal only where the parent's own log would.
		"-test.v=true",
		"-test.cpu=" + strconv.Itoa(runtime.GOMAXPROCS(0)),
	}
	if d, ok := t.Deadline(); ok {
		if left := time.Until(d); left > 0 {
			args = append(args, "-test.timeout="+left.String())
		}
	}
	for _, name := range []string{"test.short", "test.failfast", "test.parallel", "test.paniconexit0", "test.skip"} {
		if f := flag.Lookup(name); f != nil && (name != "test.skip" || f.Value.String() != "") {
			args = append(args, "-"+name+"="+f.Value.String())
		}
	}
	return args
}

// childRunPattern returns the child's -test.run pattern: exactly the test
// named name, and below it, the deeper elements of the parent's own pattern
// user (go test -run 'TestA/sub1' runs only sub1 of a body in TestA).
func childRunPattern(name, user string) string {
	own := runPattern(name)
	names := strings.Split(name, "/")
	var deeper []string
	for _, alt := range splitPattern(user) {
		if !matchesPrefix(alt, names) {
			continue
		}
		if len(alt) <= len(names) {
			return own // an alternative lets every subtest of name run
		}
		deeper = append(deeper, own+"/"+strings.Join(alt[len(names):], "/"))
	}
	if len(deeper) == 0 {
		return own
	}
	return strings.Join(deeper, "|")
}

// matchesPrefix reports whether the elements of a -test.run alternative
// match the first elements of a test name, as the testing package matches
// them (an unparsable element matches nothing).
func matchesPrefix(alt, names []string) bool {
	for i := 0; i < len(alt) && i < len(names); i++ {
		ok, err := regexp.MatchString(alt[i], names[i])
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// splitPattern splits a -test.run pattern as the testing package does:
// into alternatives at the top-level '|', each into elements at the
// top-level '/'. An empty pattern has no alternatives.
func splitPattern(s string) [][]string {
	if s == "" {
		return nil
	}
	var alts [][]string
	var elems []string
	brackets, parens, start := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			brackets++
		case ']':
			if brackets--; brackets < 0 {
				brackets = 0
			}
		case '(':
			if brackets == 0 {
				parens++
			}
		case ')':
			if brackets == 0 {
				parens--
			}
		case '\\':
			i++
		case '/', '|':
			if brackets == 0 && parens == 0 {
				elems = append(elems, s[start:i])
				start = i + 1
				if s[i] == '|' {
					alts = append(alts, elems)
					elems = nil
				}
			}
		}
	}
	return append(alts, append(elems, s[start:]))
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

// WithPrivateTmp runs body with a private, empty /tmp: a fresh tmpfs in a
// new mount namespace, which this body alone sees and which vanishes with
// it. When the test does not run as root, a user namespace is added (the
// body runs as root of it), so that it works unprivileged. More options may
// be given, and namespace.WithPrivateTmp among them replaces the default
// (to limit the size, say).
func WithPrivateTmp(t *testing.T, body func(t *testing.T), opts ...namespace.Option) {
	t.Helper()
	all := []namespace.Option{namespace.WithPrivateTmp()}
	if os.Geteuid() != 0 {
		all = append(all, namespace.WithPrivateUser())
	}
	Run(t, namespace.New(append(all, opts...)...), body)
}

// tailLines is how many of the child's last lines a set-up failure quotes.
const tailLines = 20

// stream passes the child's output, a line at a time, into the parent
// test's output, and reads what the parent needs from it: the body's start
// line (consumed), whether the test skipped, the last lines.
type stream struct {
	t        *testing.T
	m        marker
	mu       sync.Mutex
	buf      bytes.Buffer
	tail     []string
	started  bool // the body started
	finished bool // the test's result line came
	skipped  bool // and said SKIP
	closed   bool
}

func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	for {
		i := bytes.IndexByte(s.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(s.buf.Next(i + 1))
		s.line(line[:len(line)-1])
	}
	return len(p), nil
}

// coverageLine is the child's coverage summary, meaningless for the parent,
// and which go test would take for the package's.
var coverageLine = regexp.MustCompile(`^coverage: (\d|\[no statements\])`)

func (s *stream) line(l string) {
	if s.closed {
		return
	}
	if rest, ok := strings.CutSuffix(l, startedPrefix+s.m.nonce); ok {
		// The line may begin with what the test function printed without
		// a newline before Run.
		s.started = true
		if rest == "" {
			return
		}
		l = rest
	}
	if coverageLine.MatchString(l) {
		return
	}
	if r, ok := strings.CutPrefix(strings.TrimLeft(l, " "), "--- "); ok {
		for _, res := range []string{"PASS", "FAIL", "SKIP"} {
			if strings.HasPrefix(r, res+": "+s.m.name+" (") {
				s.finished = true
				s.skipped = res == "SKIP"
			}
		}
	}
	if len(s.tail) == tailLines {
		s.tail = s.tail[1:]
	}
	s.tail = append(s.tail, l)
	fmt.Fprintf(s.t.Output(), "[ns] %s\n", l)
}

// close passes on a last unterminated line; nothing is written after it.
func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.Len() > 0 {
		s.line(s.buf.String())
		s.buf.Reset()
	}
	s.closed = true
}

func (s *stream) tailText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}
