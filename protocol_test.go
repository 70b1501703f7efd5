//go:build linux

package namespace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linuxns/namespace/internal/wire"
)

// oddArgs are byte strings that are not valid UTF-8 (or are, but awkward):
// the protocol must carry them byte for byte.
var oddArgs = []string{"\xff\xfe/x\x80", "", "a\x00b", "\xed\xa0\x80", "plain", "\u2028\"\\"}

// bytesArgs checks, in the child, that its arguments are oddArgs.
var bytesArgs = Register("test-bytes-args", func(ctx context.Context, args []string) error {
	if !slices.Equal(args, oddArgs) {
		return fmt.Errorf("the child received %q, want %q", args, oddArgs)
	}
	return nil
})

// bytesEcho returns an error whose text is its arguments joined by NUL, or
// panics with it if the first argument is "panic".
var bytesEcho = Register("test-bytes-echo", func(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "panic" {
		panic(strings.Join(args[1:], "\x00"))
	}
	return errors.New(strings.Join(args, "\x00"))
})

// TestRunArgsByteExact: Run's arguments reach the function byte for byte,
// and its error text and panic value come back byte for byte, from a cold
// child and from a pool's.
func TestRunArgsByteExact(t *testing.T) {
	pooled := testPool(t, 1, WithPrivateMount())
	t.Cleanup(func() { _ = pooled.Close() })
	for name, n := range map[string]Runner{"cold": testNS(WithPrivateMount()), "pool": pooled} {
		if err := n.Run(context.Background(), bytesArgs, oddArgs...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var ee *ExitError
		err := n.Run(context.Background(), bytesEcho, oddArgs...)
		if want := strings.Join(oddArgs, "\x00"); !errors.As(err, &ee) || ee.Msg != want {
			t.Errorf("%s: the function's error came back as %q (%v); want %q", name, exitMsg(err), err, want)
		}
		err = n.Run(context.Background(), bytesEcho, append([]string{"panic"}, oddArgs...)...)
		if want := "panic: " + strings.Join(oddArgs, "\x00"); !errors.As(err, &ee) || ee.Msg != want {
			t.Errorf("%s: the function's panic came back as %q; want %q", name, exitMsg(err), want)
		}
	}
}

// exitMsg returns the message of an *ExitError, or "".
func exitMsg(err error) string {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Msg
	}
	return ""
}

// TestCommandBytesExact: a Command whose program path, argv and
// environment hold bytes that are not UTF-8 runs exactly that file, with
// exactly that argv and environment. The program is a copy of sh at a path
// with such bytes; it prints the file it runs (/proc/self/exe), its argv
// and its environment.
func TestCommandBytesExact(t *testing.T) {
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "d\xff\xfe")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "sh\x80\xc3")
	if err := os.WriteFile(prog, sh, 0o755); err != nil {
		t.Fatal(err)
	}
	const sep = "\n--8<--\n"
	script := `readlink /proc/$$/exe; printf '` + strings.ReplaceAll(sep, "\n", `\n`) + `'; cat /proc/$$/cmdline; printf '` +
		strings.ReplaceAll(sep, "\n", `\n`) + `'; cat /proc/$$/environ`
	args := []string{"-c", script, "\xff\xfe/x\x80", "", "\xed\xa0\x80", "plain"}
	envEntry := "LINUXNS_TEST_BYTES=\xff\xfe=\x80 x"

	cmd := testNS(WithPrivateMount()).Command(context.Background(), prog, args...)
	cmd.Env = append(cmd.Env, envEntry)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, stderr.String())
	}
	parts := strings.Split(string(out), sep)
	if len(parts) != 3 {
		t.Fatalf("output %q is not three parts", out)
	}
	real, err := filepath.EvalSymlinks(prog)
	if err != nil {
		t.Fatal(err)
	}
	if exe := strings.TrimSuffix(parts[0], "\n"); exe != real {
		t.Errorf("the child ran %q, want %q", exe, real)
	}
	argv := strings.Split(strings.TrimSuffix(parts[1], "\x00"), "\x00")
	if want := append([]string{prog}, args...); !slices.Equal(argv, want) {
		t.Errorf("the child's argv is %q, want %q", argv, want)
	}
	env := strings.Split(strings.TrimSuffix(parts[2], "\x00"), "\x00")
	if !slices.Contains(env, envEntry) {
		t.Errorf("the child's environment %q lacks %q", env, envEntry)
	}
}

// TestFrameRoundTrip: jobs and messages come through writeFrame and
// readFrame unchanged, bytes that are not UTF-8 included.
func TestFrameRoundTrip(t *testing.T) {
	tmp := ""
	jobs := []job{
		{Token: newToken(), Role: roleFunc, Func: "f\xff", Args: oddArgs, Input: json.RawMessage("\"\xff\"")},
		{Token: newToken(), Role: roleExec, Path: "/\xff\xfe", Argv: oddArgs, Plan: plan{Steps: []step{{Kind: stepTmpfs, Target: "/tmp", Data: tmp}, {Kind: stepHostname, Data: "h\xff"}}, Flags: 0x20000}},
		{Token: newToken(), Role: roleSetup, Args: []string{}},
	}
	var b bytes.Buffer
	for _, j := range jobs {
		if err := writeFrame(&b, j); err != nil { // a value
			t.Fatal(err)
		}
	}
	for i, want := range jobs {
		var got job
		if err := readFrame(&b, &got); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("job %d: read\n%#v\nwant\n%#v", i, got, want)
		}
	}
	m := message{Type: msgError, Step: "mount \xff", Errno: 13, Msg: "\xfe\x00", Stack: "\x80", Output: json.RawMessage{}}
	if err := writeFrame(&b, &m); err != nil { // a pointer
		t.Fatal(err)
	}
	var got message
	if err := readFrame(&b, &got); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("message: read %#v, %v; want %#v", got, err, m)
	}
	if err := readFrame(&b, &got); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

// TestReadFrameRefuses: a damaged frame is an ErrProtocol error (a cut
// length is io.ErrUnexpectedEOF), never a panic or a partial value.
func TestReadFrameRefuses(t *testing.T) {
	frame := func(body []byte) []byte {
		return append([]byte{byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	}
	jobBody := wire.AppendJob(nil, &job{Token: newToken(), Role: roleFunc, Func: "f"})
	otherVersion := append([]byte(nil), jobBody...)
	otherVersion[4] = wire.Version + 1
	for _, c := range []struct {
		name    string
		in      []byte
		into    any
		want    error
		version bool
	}{
		{"cut length", []byte{0, 0}, &job{}, io.ErrUnexpectedEOF, false},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}, &job{}, ErrProtocol, false},
		{"cut body", frame(jobBody)[:20], &job{}, ErrProtocol, false},
		{"JSON body", frame([]byte(`{"token":"x","role":"func","func":"f"}`)), &job{}, ErrProtocol, false},
		{"other version", frame(otherVersion), &job{}, ErrProtocol, true},
		{"trailing byte", frame(append(append([]byte(nil), jobBody...), 0)), &job{}, ErrProtocol, false},
		{"job as message", frame(jobBody), &message{}, ErrProtocol, false},
		{"other type", frame(jobBody), &struct{}{}, ErrProtocol, false},
	} {
		err := readFrame(bytes.NewReader(c.in), c.into)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		}
		if errors.Is(err, wire.ErrVersion) != c.version {
			t.Errorf("%s: %v; wraps wire.ErrVersion: %v, want %v", c.name, err, !c.version, c.version)
		}
		if j, ok := c.into.(*job); ok && !reflect.DeepEqual(*j, job{}) {
			t.Errorf("%s: the job was partly filled: %#v", c.name, *j)
		}
	}
	if err := writeFrame(io.Discard, struct{}{}); !errors.Is(err, ErrProtocol) {
		t.Errorf("writeFrame of a struct{}: %v; want ErrProtocol", err)
	}
}

// TestAnswerHelloBounded: the reader of a child's reports answers at most
// maxHellos hellos, and gives up a job that the child does not read, both
// with ErrProtocol, so that it goes back to reading.
func TestAnswerHelloBounded(t *testing.T) {
	const timeout = 200 * time.Millisecond
	parentEnd, childEnd, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer parentEnd.Close()
	defer childEnd.Close()
	small := &job{Token: "t", Role: roleFunc, Func: "f"}
	for i := 1; i <= maxHellos; i++ {
		if err := answerHelloBounded(parentEnd, small, "n", i, timeout); err != nil {
			t.Fatalf("hello %d: %v", i, err)
		}
	}
	if err := answerHelloBounded(parentEnd, small, "n", maxHellos+1, timeout); !errors.Is(err, ErrProtocol) {
		t.Errorf("hello %d: %v; want ErrProtocol", maxHellos+1, err)
	}
	// Larger than the socket's buffers, and nobody reads.
	big := &job{Token: "t", Role: roleFunc, Func: "f", Args: []string{strings.Repeat("a", 8<<20)}}
	start := time.Now()
	if err := answerHelloBounded(parentEnd, big, "n", 1, timeout); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "did not read") {
		t.Errorf("a job nobody reads: %v; want ErrProtocol (did not read)", err)
	}
	if d := time.Since(start); d < timeout {
		t.Errorf("gave up after %v, before the timeout of %v", d, timeout)
	}
	// The deadline does not outlive the answer.
	go func() { _, _ = io.Copy(io.Discard, childEnd) }()
	if err := answerHelloBounded(parentEnd, small, "n", 1, timeout); err != nil {
		t.Errorf("an answer after a timed-out one: %v", err)
	}
}
