//go:build stress && linux

package stress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/internal/wire"
)

// TestHostileOptions: every option with a hostile value is refused with
// ErrInvalid by Validate, Run, Task.Run, Command and Do, before anything is
// created.
func TestHostileOptions(t *testing.T) {
	many := make([]namespace.IDMap, 341)
	for i := range many {
		many[i] = namespace.IDMap{Inside: i, Outside: 100000 + i, Size: 1}
	}
	year := 365 * 24 * time.Hour
	// Beyond the kernel's ids on 64-bit systems; on 32-bit ones, where an
	// int cannot hold it, the conversion makes it -1, invalid too.
	maxUint32 := uint64(math.MaxUint32)
	cases := map[string]*namespace.Namespace{
		"huge hostname":          namespace.New(namespace.WithHostname(strings.Repeat("h", 1<<20))),
		"65-byte hostname":       namespace.New(namespace.WithHostname(strings.Repeat("a.", 32) + "b")),
		"64-byte label":          namespace.New(namespace.WithHostname(strings.Repeat("l", 64))),
		"empty hostname":         namespace.New(namespace.WithHostname("")),
		"unicode hostname":       namespace.New(namespace.WithHostname("hôte-ünïcode")),
		"RTL override hostname":  namespace.New(namespace.WithHostname("abc\u202edef")),
		"NUL in hostname":        namespace.New(namespace.WithHostname("a\x00b")),
		"newline in hostname":    namespace.New(namespace.WithHostname("a\nb")),
		"slash in hostname":      namespace.New(namespace.WithHostname("../etc")),
		"dot hostname":           namespace.New(namespace.WithHostname(".")),
		"leading hyphen":         namespace.New(namespace.WithHostname("-x")),
		"negative inside id":     namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: -1, Outside: 0, Size: 1})),
		"negative outside id":    namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 0, Outside: -1, Size: 1})),
		"negative size":          namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 0, Outside: 0, Size: -5})),
		"zero size":              namespace.New(namespace.WithPrivateUser(namespace.IDMap{Size: 0})),
		"id overflow":            namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: int(maxUint32), Outside: 0, Size: 2})),
		"size overflow":          namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 1, Outside: 1, Size: math.MaxInt})),
		"overlapping inside":     namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 0, Outside: 0, Size: 10}, namespace.IDMap{Inside: 9, Outside: 50, Size: 1})),
		"overlapping outside":    namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 0, Outside: 0, Size: 10}, namespace.IDMap{Inside: 20, Outside: 5, Size: 1})),
		"overlap after expand":   namespace.New(namespace.WithPrivateUser(namespace.IDMap{Kind: namespace.UIDs, Size: 5}, namespace.IDMap{Inside: 2, Outside: 9, Size: 1})),
		"341 maps":               namespace.New(namespace.WithPrivateUser(many...)),
		"unknown map kind":       namespace.New(namespace.WithPrivateUser(namespace.IDMap{Kind: 7, Size: 1})),
		"negative tmpfs size":    namespace.New(namespace.WithPrivateTmp(namespace.TmpfsSize(-1))),
		"tmpfs mode bits":        namespace.New(namespace.WithPrivateTmp(namespace.TmpfsMode(os.ModeDevice | 0o777))),
		"negative inodes":        namespace.New(namespace.WithPrivateTmp(namespace.TmpfsInodes(math.MinInt64))),
		"inodes beyond kernel":   namespace.New(namespace.WithPrivateTmp(namespace.TmpfsInodes(1 << 54))),
		"inodes max int64":       namespace.New(namespace.WithPrivateTmp(namespace.TmpfsInodes(math.MaxInt64))),
		"monotonic before boot":  namespace.New(namespace.WithPrivateTime(math.MinInt64, 0)),
		"boottime before boot":   namespace.New(namespace.WithPrivateTime(0, -200*year)),
		"monotonic beyond limit": namespace.New(namespace.WithPrivateTime(math.MaxInt64, 0)),
		"boottime beyond limit":  namespace.New(namespace.WithPrivateTime(0, 150*year)),
		"negative grace":         namespace.New(namespace.WithKillGrace(-1)),
		"init without pid":       namespace.New(namespace.WithMinimalInit()),
	}
	before := mounts(t)
	for name, ns := range cases {
		t.Run(name, func(t *testing.T) {
			if err := ns.Validate(); !errors.Is(err, namespace.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if err := ns.Run(context.Background(), nop); !errors.Is(err, namespace.ErrInvalid) {
				t.Errorf("Run = %v", err)
			}
			if _, err := echoTask.Run(context.Background(), ns, "x"); !errors.Is(err, namespace.ErrInvalid) {
				t.Errorf("Task.Run = %v", err)
			}
			if err := ns.Command(context.Background(), "true").Run(); !errors.Is(err, namespace.ErrInvalid) {
				t.Errorf("Command = %v", err)
			}
			if err := ns.Do(func() error { t.Error("Do ran its function"); return nil }); !errors.Is(err, namespace.ErrInvalid) {
				t.Errorf("Do = %v", err)
			}
		})
	}
	if kids := children(); len(kids) > 0 {
		t.Errorf("a child was started: %v", kids)
	}
	if after := mounts(t); after != before {
		t.Error("host mount table changed")
	}
}

// TestForeignIDMapsUnprivileged: an unprivileged caller that maps ids other
// than its own gets ErrPermission before anything is created.
func TestForeignIDMapsUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may map any ids; this is the unprivileged side (the suite also runs as uid 65534)")
	}
	ns := namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 0, Outside: 0, Size: 1}))
	if err := ns.Run(context.Background(), nop); !errors.Is(err, namespace.ErrPermission) || !strings.Contains(err.Error(), "run as root") {
		t.Errorf("Run = %v, want ErrPermission saying what to do", err)
	}
	if kids := children(); len(kids) > 0 {
		t.Errorf("a child was started: %v", kids)
	}
}

var echoTask = namespace.NewTask("stress-echo", func(_ context.Context, s string) (string, error) { return s, nil })

// TestEdgeValues: the largest and smallest values that are valid work, in a
// real child: the kernel agrees with the validation.
func TestEdgeValues(t *testing.T) {
	host64 := strings.Repeat("h", 62) + ".x" // HostNameMax bytes
	cases := []struct {
		name string
		ns   *namespace.Namespace
		sh   string // a shell check in the child
		want string
	}{
		{"tmpfs of 1 EiB", rootless(namespace.WithPrivateTmp(namespace.TmpfsSize(1 << 60))), "ls -A /tmp | wc -l", "0"},
		{"tmpfs of MaxInt64 bytes", rootless(namespace.WithPrivateTmp(namespace.TmpfsSize(math.MaxInt64))), "echo ok > /tmp/f && cat /tmp/f", "ok"},
		{"tmpfs of 1 byte (one page)", rootless(namespace.WithPrivateTmp(namespace.TmpfsSize(1))), "head -c 8192 /dev/zero > /tmp/f 2>/dev/null; wc -c < /tmp/f", "4096"},
		{"tmpfs of the kernel's most inodes", rootless(namespace.WithPrivateTmp(namespace.TmpfsInodes(1<<54 - 1))), "echo ok > /tmp/f && cat /tmp/f", "ok"},
		{"tmpfs of 1 inode (its root)", rootless(namespace.WithPrivateTmp(namespace.TmpfsInodes(1))), "touch /tmp/f 2>/dev/null || echo full", "full"},
		{"tmpfs mode 0", rootless(namespace.WithPrivateTmp(namespace.TmpfsMode(0))), "stat -c %a /tmp", "0"},
		{"hostname of 64 bytes", rootless(namespace.WithHostname(host64)), "hostname | wc -c", "65"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.ns.Validate(); err != nil {
				t.Fatalf("Validate = %v", err)
			}
			var out []byte
			var err error
			noHang(t, c.name, func() { out, err = c.ns.Command(context.Background(), "sh", "-c", c.sh).Output() })
			if err != nil || strings.TrimSpace(string(out)) != c.want {
				t.Errorf("%s: %v, output %q, want %q", c.sh, err, out, c.want)
			}
		})
	}
}

// TestBadFuncsAndTasks: nil and unregistered functions, duplicate and empty
// names, nil functions, and Task values that cannot be encoded or decoded.
func TestBadFuncsAndTasks(t *testing.T) {
	ns := rootless(namespace.WithPrivateMount())
	ctx := context.Background()
	if err := ns.Run(ctx, nil); !errors.Is(err, namespace.ErrUnknownFunc) {
		t.Errorf("nil Func: %v", err)
	}
	if err := ns.Run(ctx, &namespace.Func{}); !errors.Is(err, namespace.ErrUnknownFunc) {
		t.Errorf("unregistered Func: %v", err)
	}
	var nilTask *namespace.Task[int, int]
	if _, err := nilTask.Run(ctx, ns, 0); !errors.Is(err, namespace.ErrUnknownFunc) {
		t.Errorf("nil Task: %v", err)
	}
	if _, err := (&namespace.Task[int, int]{}).Run(ctx, ns, 0); !errors.Is(err, namespace.ErrUnknownFunc) {
		t.Errorf("zero Task: %v", err)
	}
	mustPanic(t, "duplicate Register", func() { namespace.Register("stress-nop", func(context.Context, []string) error { return nil }) })
	mustPanic(t, "Register over a Task", func() { namespace.Register("stress-echo", func(context.Context, []string) error { return nil }) })
	mustPanic(t, "duplicate NewTask", func() {
		namespace.NewTask("stress-nop", func(context.Context, int) (int, error) { return 0, nil })
	})
	mustPanic(t, "nil fn", func() { namespace.Register("stress-nil", nil) })
	mustPanic(t, "nil task fn", func() { namespace.NewTask[int, int]("stress-nil-task", nil) })
	mustPanic(t, "empty name", func() { namespace.Register("", func(context.Context, []string) error { return nil }) })

	if kids := children(); len(kids) > 0 {
		t.Errorf("a child was started: %v", kids)
	}
	if _, err := chanTask.Run(ctx, ns, make(chan int)); !errors.As(err, new(*json.UnsupportedTypeError)) || !strings.Contains(err.Error(), "encode input") {
		t.Errorf("unencodable input: %v", err)
	}
	if kids := children(); len(kids) > 0 {
		t.Errorf("a child was started for an input that cannot be encoded: %v", kids)
	}
	var ee *namespace.ExitError
	if _, err := infTask.Run(ctx, ns, 0); !errors.As(err, &ee) || !strings.Contains(ee.Msg, "encode task output") {
		t.Errorf("unencodable output: %v", err)
	}
	if _, err := asInt.Run(ctx, ns, 0); err == nil || !strings.Contains(err.Error(), "decode output") || !strings.Contains(err.Error(), "oneWay cannot be decoded") {
		t.Errorf("undecodable output: %v", err)
	}
	if _, err := wrongShape.Run(ctx, ns, `{"a":1}`); !errors.As(err, &ee) || !strings.Contains(ee.Msg, "decode task input") {
		t.Errorf("input the child cannot decode: %v", err)
	}
}

var chanTask = namespace.NewTask("stress-chan", func(context.Context, chan int) (int, error) { return 0, nil })
var infTask = namespace.NewTask("stress-inf", func(context.Context, int) (float64, error) { return math.Inf(1), nil })

// oneWay encodes but refuses to decode: the output of asInt reaches the
// parent and cannot be decoded there.
type oneWay struct{}

func (oneWay) MarshalJSON() ([]byte, error) { return []byte(`"one way"`), nil }
func (*oneWay) UnmarshalJSON([]byte) error  { return errors.New("oneWay cannot be decoded") }

var asInt = namespace.NewTask("stress-one-way", func(context.Context, int) (oneWay, error) { return oneWay{}, nil })

// rawJSON is sent as-is: the child decodes it as a number and fails.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

var wrongShape = namespace.NewTask("stress-wrong-shape", func(context.Context, rawJSON) (int, error) { return 0, nil })

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}

// TestForgedChild starts the test binary by hand with the child marker set:
// without a socket, with a job in a pipe or a file instead of a socket, with
// a wrong or missing token, a truncated, garbage or oversized frame, or an
// incomplete job. It must run nothing (no test, no function) and exit 125
// with a clear message.
func TestForgedChild(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	frame := func(body []byte) []byte {
		b := []byte{0, 0, byte(len(body) >> 8), byte(len(body))}
		return append(b, body...)
	}
	job := func(j wire.Job) []byte { return frame(wire.AppendJob(nil, &j)) }
	token := "0123456789abcdef0123456789abcdef"
	// A job that would start `sleep MARKER` if it ran.
	sleepArg := marker()
	good := job(wire.Job{Token: token, Role: wire.RoleFunc, Func: "stress-blocker", Args: []string{sleepArg}})
	otherVersion := bytes.Clone(good)
	otherVersion[4+4] = wire.Version + 1
	badBool := wire.AppendJob(nil, &wire.Job{Token: token, Role: wire.RoleFunc, Func: "stress-nop"})
	// plan.pid1's value: after the plan's tag, the flags' tag and value (0), the steps' tag and presence (0), its tag.
	badBool[bytes.IndexByte(badBool, 0x1e)+6] = 7
	for name, c := range map[string]struct {
		via     string // "socket", "pipe", "file" or "" (no fd 3)
		payload []byte
		says    string
	}{
		// Without its socket the marker is not a child's: the program runs
		// as usual (says "" below), and the job never runs.
		"marker alone":  {"", nil, ""},
		"job in a pipe": {"pipe", good, ""},
		"job in a file": {"file", good, ""},
		"empty socket":  {"socket", nil, "no job on the pipe"},
		"wrong token":   {"socket", job(wire.Job{Token: "ffffffffffffffffffffffffffffffff", Role: wire.RoleFunc, Func: "stress-nop"}), "token does not match"},
		"no token":      {"socket", job(wire.Job{Role: wire.RoleFunc, Func: "stress-nop"}), "token does not match"},
		"short token":   {"socket", job(wire.Job{Token: "0123", Role: wire.RoleFunc, Func: "stress-nop"}), "token does not match"},
		"truncated":     {"socket", good[:20], "truncated frame"},
		"garbage":       {"socket", []byte("\x00\x00\x00\x08garbage!"), "bad frame"},
		"huge length":   {"socket", []byte("\x7f\xff\xff\xff"), "exceeds"},
		"a message":     {"socket", frame(wire.AppendMessage(nil, &wire.Message{Type: wire.MsgAck})), "bad frame"},
		"JSON job":      {"socket", frame([]byte(`{"token":"` + token + `","role":"func","func":"stress-nop","plan":{}}`)), "bad frame"},
		"other version": {"socket", otherVersion, "this program reads version"},
		"unknown role":  {"socket", job(wire.Job{Token: token, Role: "root"}), "unknown role"},
		"exec no path":  {"socket", job(wire.Job{Token: token, Role: wire.RoleExec}), "without a program"},
		"func no name":  {"socket", job(wire.Job{Token: token, Role: wire.RoleFunc}), "without a name"},
		"unknown func":  {"socket", job(wire.Job{Token: token, Role: wire.RoleFunc, Func: "no-such"}), "not registered"},
		"bad bool byte": {"socket", frame(badBool), "where 0 or 1 belongs"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(self, "-test.run=^TestNothingHere$")
			cmd.Env = append(os.Environ(), "_LINUXNS_CHILD=3:"+token)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			var feed *os.File
			switch c.via {
			case "socket":
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				feed = os.NewFile(uintptr(fds[0]), "parent")
				childEnd := os.NewFile(uintptr(fds[1]), "child")
				cmd.ExtraFiles = []*os.File{childEnd}
				defer childEnd.Close()
			case "pipe":
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				feed = w
				cmd.ExtraFiles = []*os.File{r}
				defer r.Close()
			case "file":
				path := t.TempDir() + "/job"
				if err := os.WriteFile(path, c.payload, 0o600); err != nil {
					t.Fatal(err)
				}
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				cmd.ExtraFiles = []*os.File{f}
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if feed != nil {
				payload := c.payload
				if c.via == "socket" && payload != nil {
					// A parent answers the child's hello: the job must
					// carry its nonce to get past the token checks.
					nonce := awaitHello(t, feed)
					if c.says == "not registered" {
						payload = job(wire.Job{Token: token, Role: wire.RoleFunc, Func: "no-such", Nonce: nonce})
					}
				}
				feed.Write(payload)
				if c.via == "socket" {
					// Keep the socket open, as a parent does (the child
					// takes end of file for its parent's death), except
					// when the child must see that the job is cut short.
					if c.says != "not registered" {
						unix.Shutdown(int(feed.Fd()), unix.SHUT_WR)
					}
					defer feed.Close()
				} else {
					feed.Close()
				}
			}
			var err error
			noHang(t, name, func() { err = cmd.Wait() })
			text := out.String()
			if pids := withArg(sleepArg); len(pids) > 0 {
				t.Errorf("the forged job started a process: %v", pids)
			}
			if c.says == "" {
				if err != nil || !strings.Contains(text, "PASS") {
					t.Errorf("a marker without its socket: the program did not run as usual: %v\n%s", err, text)
				}
				return
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 125 {
				t.Errorf("exit %v, want 125:\n%s", err, out.String())
			}
			if !strings.Contains(text, "namespace:") || !strings.Contains(text, c.says) {
				t.Errorf("want a message with %q:\n%s", c.says, text)
			}
			if strings.Contains(text, "PASS") || strings.Contains(text, "ready") || strings.Contains(text, "testing:") {
				t.Errorf("the forged child ran something:\n%s", text)
			}
			if pids := withArg(sleepArg); len(pids) > 0 {
				t.Errorf("the forged job started a process: %v", pids)
			}
		})
	}
}

// awaitHello reads a child's frames on r until its hello, as a parent
// does, and returns the hello's nonce.
func awaitHello(t *testing.T, r *os.File) string {
	t.Helper()
	_ = r.SetReadDeadline(time.Now().Add(time.Minute))
	defer r.SetReadDeadline(time.Time{})
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			t.Fatalf("no hello from the child: %v", err)
		}
		body := make([]byte, int(hdr[0])<<24|int(hdr[1])<<16|int(hdr[2])<<8|int(hdr[3]))
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatalf("no hello from the child: %v", err)
		}
		m, err := wire.DecodeMessage(body)
		if err != nil {
			t.Fatalf("the child's first frame: %v", err)
		}
		if m.Type == wire.MsgHello {
			return m.Msg
		}
	}
}

// TestNothingHere is what a forged child would run if it ran tests.
func TestNothingHere(t *testing.T) {}
