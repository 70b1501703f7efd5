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
// test process is created inside the namespaces, runs the test function up
// to this Run call, finds itself marked as the child of this call, and runs
// the body directly with its own *testing.T. Its output is streamed into the
// parent test's output, each line marked "[ns]"; the parent test fails if
// the body fails, and is skipped if the body skips. No TestMain is needed.
//
// Code before Run runs twice, once in the parent and once in the child,
// which runs it to reach the body; code after Run runs once, in the parent,
// after the body has ended. In the child, the copy of the test ends with
// the body: when the body returns (or fails, or skips), the subtests that it
// started and the cleanups that it registered finish, the child reports the
// outcome and exits. It does not come back to the test function, nor to the
// tests around it, and it does not run the cleanups registered before Run
// (by the test or the tests around it): those run in the parent only. So
// keep set-up that must happen once inside the body, or guard it with
// Inside; what the child's copy of the set-up creates is not undone, except
// that its temporary files (t.TempDir, os.CreateTemp) go to the private /tmp
// or to a directory that the parent removes after the child. The deferred
// calls of the test function do run in the child, as after t.FailNow; a
// TestMain's code after m.Run does not. Call Run from the test's own
// goroutine, with the test's own t.
//
// A test may call Run several times; each body runs in a child of its own,
// which runs the code before its call, that between earlier calls included
// (earlier calls do nothing there). Likewise, to reach a body in a parallel
// subtest, the child runs the test around it to its end, as the parent does
// before the subtest resumes. Inside a child, Run calls that belong to other
// tests or other calls do nothing, so nothing recurses; Run cannot be nested
// in a body (the nested call is skipped).
//
// A panic in the body or in one of its subtests ends the child as it ends
// any test binary: the testing package runs the remaining cleanups of the
// test and of the tests around it, there as well, and the child dies with
// the panic's message and stack.
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
)

// envInside marks a child test process: "<call>:<nonce>:<test name>", the
// Run call (counted from 1 within the test) whose body the child runs, and
// the nonce by which the child tells the parent that the body started.
const envInside = "NSTEST_INSIDE"

// lingerDelay bounds the wait for the child's output once the child has
// exited: a process the body left running may hold it open
// (exec.Cmd.WaitDelay).
const lingerDelay = 2 * time.Second

// envHostTmp carries the identity of the parent's /tmp to the child test
// process, which thereby knows whether its /tmp is private.
const envHostTmp = "NSTEST_HOST_TMP"

// envTmpDir names the directory that the parent made for the child's
// temporary files, and removes after the child.
const envTmpDir = "NSTEST_TMPDIR"

// startedPrefix begins the line by which a child tells its parent that the
// body started; the parent consumes it.
const startedPrefix = "nstest: body started "

// endedPrefix begins the line by which a child tells its parent that the
// body ended, and how: "<nonce> PASS", "FAIL" or "SKIP". The parent consumes
// it.
const endedPrefix = "nstest: body ended "

// framing is the byte that begins the framing lines of a test binary run
// with -test.v=test2json (=== RUN, --- PASS …).
const framing = "\x16"

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
	tmpDir := os.Getenv(envTmpDir)
	// Programs that the body starts (the test binary again, say) must not
	// take themselves for this child.
	os.Unsetenv(envInside)
	os.Unsetenv(envHostTmp)
	os.Unsetenv(envTmpDir)
	if inside != nil {
		setTmpDir(tmpDir)
	}
}

// setTmpDir sets TMPDIR in a child test process, before any test runs, to a
// directory whose content does not outlive the child: the private /tmp if
// the child has one (an inherited TMPDIR under the host's /tmp would be
// hidden there anyway), else dir, which the parent made for the child and
// removes after it. The child's copy of the test runs no cleanup registered
// before Run, so its copy of a t.TempDir made there is removed this way.
// If dir cannot be used (a user namespace that does not map its owner), the
// inherited TMPDIR stays, or /tmp if it is not visible.
func setTmpDir(dir string) {
	switch {
	case hostTmp != "" && tmpID() != hostTmp:
		os.Setenv("TMPDIR", "/tmp")
	case dir != "" && unix.Access(dir, unix.W_OK|unix.X_OK) == nil:
		os.Setenv("TMPDIR", dir)
	default:
		if _, err := os.Stat(os.TempDir()); err != nil {
			os.Setenv("TMPDIR", "/tmp")
		}
	}
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
// waits for it; in that child, it runs body with the child's *testing.T,
// and then ends the child's copy of the test: Run does not return there.
//
// The parent test fails if the body fails (the child's output, streamed
// into the test's output, shows why), if the child test process does not
// reach this Run call, or if the namespaces cannot be created (then
// immediately, with t.Fatal). It is skipped if the body calls t.Skip. In
// the parent, Run returns when the child has ended, after the body's
// subtests and cleanups; then the code after it runs, in the parent only.
// Options that need privileges need root, or namespace.WithPrivateUser()
// (the child is then root of a user namespace; see WithPrivateTmp).
//
// In the child, body's t is the test's own t, the one Run was called
// with: to make the test parallel, call t.Parallel in the test function
// before Run, not in the body (there it does not make the parent test
// parallel, and after the test function's own call it panics); subtests
// that the body starts with t.Run may call it as usual. Cleanups that the
// body registers run in the child, those registered before Run in the
// parent only.
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
	// A process the body left running may hold the child's output open:
	// do not wait for it longer than this once the child has exited.
	cmd.WaitDelay = lingerDelay
	// The child's temporary files, where it has no private /tmp.
	tmpDir, err := os.MkdirTemp("", "nstest-")
	if err != nil {
		t.Fatalf("nstest: %s: make the child test process's temporary directory (TMPDIR must be writable): %v", t.Name(), err)
	}
	defer func() {
		if err := os.RemoveAll(tmpDir); err != nil {
			t.Errorf("nstest: %s: remove the child test process's temporary directory: %v", t.Name(), err)
		}
	}()
	cmd.Env = append(cmd.Environ(), fmt.Sprintf("%s=%d:%s:%s", envInside, m.call, m.nonce, m.name), envTmpDir+"="+tmpDir)
	if id := tmpID(); id != "" {
		cmd.Env = append(cmd.Env, envHostTmp+"="+id)
	}
	out := &stream{t: t, m: m}
	cmd.Stdout, cmd.Stderr = out, out
	// The child's parent-death signal follows the OS thread that starts
	// it: keep this thread until the child is gone.
	runtime.LockOSThread()
	err = cmd.Run()
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
	case !out.started:
		t.Errorf("nstest: the child test process did not reach this Run call of %s: call Run from the test function with the test's own t, with the same calls in the same order in the child (which may run as root, or as PID 1: nstest.Inside tells)", t.Name())
	case out.ended == "":
		t.Errorf("nstest: the child test process exited before %s finished (os.Exit in the body?); its output is above", t.Name())
	case out.ended == "FAIL":
		t.Errorf("nstest: the body of %s failed in its namespaces; its output is above", t.Name())
	case out.ended == "SKIP":
		t.Skipf("nstest: %s skipped in its namespaces; the reason is above", t.Name())
	}
}

// runInside runs, in a child test process, the body of the Run call that the
// child was started for, and nothing else.
func runInside(t *testing.T, call int, body func(t *testing.T)) {
	t.Helper()
	switch {
	case t.Name() == inside.name && call == inside.call:
		e := &childEnd{t: t, start: time.Now()}
		// Registered before the body's: runs after them, and after the
		// subtests of the body, parallel ones included.
		t.Cleanup(e.finish)
		fmt.Fprintf(os.Stdout, "%s%s\n", startedPrefix, inside.nonce)
		body(t)
		// End the test function here, as t.FailNow or t.SkipNow in the
		// body would: the rest of it is the parent's. The skip is not
		// reported: finish knows it is this one.
		e.returned.Store(true)
		t.SkipNow()
	case t.Name() == inside.name:
		// An earlier Run call of the same test (a later one is never
		// reached here): a child of its own runs its body.
	default:
		// A sibling subtest (its own child runs it), or a Run nested in a
		// body, which is not supported.
		t.Skipf("nstest: %s is not run in this child test process, which runs the body of %s (a Run nested in a body is not supported)", t.Name(), inside.name)
	}
}

// childEnd ends the child's copy of a test after its body.
type childEnd struct {
	t        *testing.T
	start    time.Time
	returned atomic.Bool // the body returned (t.SkipNow is Run's)
}

// finish, a cleanup of the test registered before the body's, reports the
// test's outcome to the parent and exits the child test process: neither
// the cleanups registered before Run nor the code after the test (in the
// tests around it) runs in the child. A panic is left to the testing
// package, which reports it and ends the process.
func (e *childEnd) finish() {
	if panicking() {
		return
	}
	result := "PASS"
	switch {
	case e.t.Failed():
		result = "FAIL"
	case e.t.Skipped() && !e.returned.Load():
		result = "SKIP"
	}
	// The line that the testing package would print, and the one for the
	// parent.
	fmt.Fprintf(os.Stdout, "--- %s: %s (%.2fs)\n%s%s %s\n", result, e.t.Name(), time.Since(e.start).Seconds(), endedPrefix, inside.nonce, result)
	if result == "FAIL" {
		os.Exit(1)
	}
	// The child does not run with -test.paniconexit0. Under -race, exiting
	// with 0 lets the race detector fail a racy body (exit status 66).
	os.Exit(0)
}

// panicking reports whether the calling goroutine is panicking: whether
// runtime.gopanic is among its callers.
func panicking() bool {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" {
			return true
		}
		if !more {
			return false
		}
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
		// Always verbose, and with every result printed when it is known,
		// as for go test -json (else the results of the body's subtests
		// would wait for the test's own, which the child does not print):
		// the child exits with the body's end. The lines reach the terminal
		// only where the parent's own log would.
		"-test.v=test2json",
		"-test.cpu=" + strconv.Itoa(runtime.GOMAXPROCS(0)),
	}
	if d, ok := t.Deadline(); ok {
		if left := time.Until(d); left > 0 {
			args = append(args, "-test.timeout="+left.String())
		}
	}
	// Not -test.paniconexit0: the child exits after the body (the parent
	// tells an early exit by the missing end line).
	for _, name := range []string{"test.short", "test.failfast", "test.parallel", "test.skip"} {
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
// and end lines (consumed), the last lines.
type stream struct {
	t       *testing.T
	m       marker
	mu      sync.Mutex
	buf     bytes.Buffer
	tail    []string
	started bool   // the body started
	ended   string // the body ended: PASS, FAIL or SKIP
	closed  bool
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
	// The framing byte of -test.v=test2json, at the start of a line or
	// after what the body left unfinished.
	l = strings.TrimPrefix(l, framing)
	l = strings.ReplaceAll(l, framing+"=== ", "=== ")
	l = strings.ReplaceAll(l, framing+"--- ", "--- ")
	if rest, ok := strings.CutSuffix(l, startedPrefix+s.m.nonce); ok {
		// The line may begin with what the test function printed without
		// a newline before Run.
		s.started = true
		if rest == "" {
			return
		}
		l = rest
	}
	if r, ok := strings.CutPrefix(l, endedPrefix+s.m.nonce+" "); ok && s.started && s.ended == "" {
		s.ended = r
		return
	}
	if coverageLine.MatchString(l) {
		return
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
