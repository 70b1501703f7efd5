//go:build stress

package stress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
)

func TestHostileOptions(t *testing.T) {
	many := make([]namespace.IDMap, 341)
	for i := range many {
		many[i] = namespace.IDMap{Inside: i, Outside: 100000 + i, Size: 1}
	}
	cases := map[string]*namespace.Namespace{
		"huge hostname":            namespace.New(namespace.WithHostname(strings.Repeat("h", 1<<20))),
		"empty hostname":           namespace.New(namespace.WithHostname("")),
		"unicode hostname":         namespace.New(namespace.WithHostname("hôte-ünïcode")),
		"NUL in hostname":          namespace.New(namespace.WithHostname("a\x00b")),
		"slash in hostname":        namespace.New(namespace.WithHostname("../etc")),
		"dot hostname":             namespace.New(namespace.WithHostname(".")),
		"negative inside id":       namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: -1, Outside: 0, Size: 1})),
		"negative size":            namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 0, Outside: 0, Size: -5})),
		"id overflow":              namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: math.MaxUint32, Outside: 0, Size: 2})),
		"overlapping inside":       namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 0, Outside: 0, Size: 10}, namespace.IDMap{Inside: 9, Outside: 50, Size: 1})),
		"overlapping outside":      namespace.New(namespace.WithPrivateUser(namespace.IDMap{Inside: 0, Outside: 0, Size: 10}, namespace.IDMap{Inside: 20, Outside: 5, Size: 1})),
		"341 maps":                 namespace.New(namespace.WithPrivateUser(many...)),
		"unknown map kind":         namespace.New(namespace.WithPrivateUser(namespace.IDMap{Kind: 7, Size: 1})),
		"negative tmpfs size":      namespace.New(namespace.WithPrivateTmp(namespace.TmpfsSize(-1))),
		"tmpfs mode bits":          namespace.New(namespace.WithPrivateTmp(namespace.TmpfsMode(os.ModeDevice | 0o777))),
		"negative inodes":          namespace.New(namespace.WithPrivateTmp(namespace.TmpfsInodes(math.MinInt64))),
		"offset before boot":       namespace.New(namespace.WithPrivateTime(math.MinInt64, 0)),
		"boottime before boot":     namespace.New(namespace.WithPrivateTime(0, -200*365*24*time.Hour)),
		"negative grace":           namespace.New(namespace.WithKillGrace(-1)),
		"init without pid":         namespace.New(namespace.WithInit()),
		"maps without a user ns?":  namespace.New(namespace.WithPrivateUser(namespace.IDMap{Size: 0})),
		"overlapping after expand": namespace.New(namespace.WithPrivateUser(namespace.IDMap{Kind: namespace.UIDs, Size: 5}, namespace.IDMap{Inside: 2, Outside: 9, Size: 1})),
	}
	for name, ns := range cases {
		t.Run(name, func(t *testing.T) {
			if err := ns.Validate(); !errors.Is(err, namespace.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if err := ns.Run(context.Background(), nop); !errors.Is(err, namespace.ErrInvalid) {
				t.Errorf("Run = %v", err)
			}
			if err := ns.Command(context.Background(), "true").Run(); !errors.Is(err, namespace.ErrInvalid) {
				t.Errorf("Command = %v", err)
			}
			if err := ns.Do(func() error { t.Error("ran"); return nil }); !errors.Is(err, namespace.ErrInvalid) {
				t.Errorf("Do = %v", err)
			}
		})
	}
}

func TestAbsurdTmpfsSize(t *testing.T) {
	// Larger than any machine: the kernel accepts it as a limit; the child
	// must still see a working, empty /tmp and the host nothing.
	out, err := rootless(namespace.WithPrivateTmp(namespace.TmpfsSize(1<<60))).Command(context.Background(), "sh", "-c", "ls -A /tmp | wc -l").Output()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("tmpfs of 1 EiB: %v %q", err, out)
	}
}

func TestBadFuncsAndTasks(t *testing.T) {
	ns := rootless(namespace.WithPrivateMount())
	if err := ns.Run(context.Background(), nil); !errors.Is(err, namespace.ErrUnknownFunc) {
		t.Errorf("nil Func: %v", err)
	}
	if err := ns.Run(context.Background(), &namespace.Func{}); !errors.Is(err, namespace.ErrUnknownFunc) {
		t.Errorf("unregistered Func: %v", err)
	}
	mustPanic(t, "duplicate", func() { namespace.Register("stress-nop", func(context.Context, []string) error { return nil }) })
	mustPanic(t, "nil fn", func() { namespace.Register("stress-nil", nil) })
	mustPanic(t, "empty name", func() { namespace.Register("", func(context.Context, []string) error { return nil }) })

	if _, err := chanTask.Run(context.Background(), ns, make(chan int)); !errors.As(err, new(*json.UnsupportedTypeError)) {
		t.Errorf("unencodable input: %v", err)
	}
	if _, err := infTask.Run(context.Background(), ns, 0); err == nil || !strings.Contains(err.Error(), "encode task output") {
		t.Errorf("unencodable output: %v", err)
	}
	if _, err := asInt.Run(context.Background(), ns, 0); err == nil || !strings.Contains(err.Error(), "decode output") {
		t.Errorf("undecodable output: %v", err)
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

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}

func TestForgedChild(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	frame := func(body string) []byte {
		b := []byte{0, 0, 0, byte(len(body))}
		return append(b, body...)
	}
	token := "0123456789abcdef0123456789abcdef"
	for name, c := range map[string]struct {
		socket  bool
		payload []byte
	}{
		"marker alone": {false, nil},
		"empty socket": {true, nil},
		"wrong token":  {true, frame(`{"token":"ffffffffffffffffffffffffffffffff","role":"func","func":"stress-nop","plan":{}}`)},
		"no token":     {true, frame(`{"role":"func","func":"stress-nop","plan":{}}`)},
		"truncated":    {true, frame(`{"token":"` + token + `","role":"func","func":"stress-nop","plan":{}}`)[:20]},
		"garbage":      {true, []byte("\x00\x00\x00\x08garbage!")},
		"huge length":  {true, []byte("\x7f\xff\xff\xff")},
		"unknown role": {true, frame(`{"token":"` + token + `","role":"root","plan":{}}`)},
		"exec no path": {true, frame(`{"token":"` + token + `","role":"exec","plan":{}}`)},
		"func no name": {true, frame(`{"token":"` + token + `","role":"func","plan":{}}`)},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(self, "-test.run=^TestNothingHere$")
			cmd.Env = append(os.Environ(), "_LINUXNS_CHILD="+token)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			var parent *os.File
			if c.socket {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				parent = os.NewFile(uintptr(fds[0]), "parent")
				childEnd := os.NewFile(uintptr(fds[1]), "child")
				cmd.ExtraFiles = []*os.File{childEnd}
				defer childEnd.Close()
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if parent != nil {
				parent.Write(c.payload)
				parent.Close()
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 125 {
				t.Errorf("exit %v, want 125:\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "namespace:") || strings.Contains(out.String(), "PASS") || strings.Contains(out.String(), "testing:") {
				t.Errorf("want a clear message and nothing run:\n%s", out.String())
			}
		})
	}
}

func TestNothingHere(t *testing.T) {}
