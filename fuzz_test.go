package namespace

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"
)

const fuzzToken = "0123456789abcdef0123456789abcdef"

// FuzzDecodeJob feeds arbitrary bytes to the child's job reader: it must
// never panic, never accept a job without the right token, and never accept
// a job whose role lacks what the role needs.
func FuzzDecodeJob(f *testing.F) {
	for _, j := range []job{
		{Token: fuzzToken, Role: roleFunc, Func: "f", Args: []string{"a"}},
		{Token: fuzzToken, Role: roleExec, Path: "/bin/true", Argv: []string{"true"}},
		{Token: fuzzToken, Role: roleSetup, Plan: plan{Flags: 0x20000, Hostname: "h"}},
		{Token: "wrong", Role: roleFunc, Func: "f"},
	} {
		var b bytes.Buffer
		if err := writeFrame(&b, j); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := decodeJob(bytes.NewReader(data), fuzzToken)
		if err != nil {
			return
		}
		if j.Token != fuzzToken {
			t.Fatalf("accepted token %q", j.Token)
		}
		switch j.Role {
		case roleFunc:
			if j.Func == "" {
				t.Fatal("accepted a function job without a name")
			}
		case roleExec:
			if j.Path == "" || len(j.Argv) == 0 {
				t.Fatal("accepted an exec job without a program")
			}
		case roleSetup:
		default:
			t.Fatalf("accepted role %q", j.Role)
		}
		if len(data) < 4 || int(binary.BigEndian.Uint32(data)) > maxFrame {
			t.Fatal("accepted a frame with a bad length")
		}
	})
}

// FuzzValidate builds options from arbitrary values: Validate must never
// panic, and a hostname it accepts must be one Linux accepts.
func FuzzValidate(f *testing.F) {
	f.Add("host", 0, 1000, 1, int64(1<<20), uint32(0o1777), int64(0), int64(0))
	f.Add("", -1, -1, 0, int64(-1), uint32(0xffffffff), int64(-1)<<62, int64(1)<<62)
	f.Add("a.b-c", 0, 0, 1<<32, int64(0), uint32(0o700), int64(time.Hour), int64(-time.Hour))
	f.Fuzz(func(t *testing.T, host string, inside, outside, size int, tmpSize int64, mode uint32, mono, boot int64) {
		n := New(WithHostname(host), WithPrivateUser(IDMap{Inside: inside, Outside: outside, Size: size}),
			WithPrivateTmp(TmpfsSize(tmpSize), TmpfsMode(os.FileMode(mode))), WithPrivateTime(time.Duration(mono), time.Duration(boot)))
		_ = n.Validate()
		_ = n.Flags()
		if checkHostname(host) == nil {
			if len(host) == 0 || len(host) > HostNameMax {
				t.Fatalf("accepted hostname of %d bytes", len(host))
			}
			for _, c := range []byte(host) {
				ok := c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
				if !ok {
					t.Fatalf("accepted hostname %q with byte %q", host, c)
				}
			}
		}
		if checkIDMaps([]IDMap{{Inside: inside, Outside: outside, Size: size}}, 0, 0) == nil {
			if size <= 0 || inside < 0 || outside < 0 || inside+size-1 > maxID || outside+size-1 > maxID {
				t.Fatalf("accepted map %d %d %d", inside, outside, size)
			}
		}
	})
}
