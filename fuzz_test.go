//go:build linux

package namespace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const fuzzToken = "0123456789abcdef0123456789abcdef"

// FuzzDecodeJob feeds arbitrary bytes to the child's job reader: it must
// never panic, never accept a job without the right token, never accept a
// job whose role lacks what the role needs, and what it accepts is written
// back as the same bytes. The same bytes go to the parent's reader of the
// child's messages (a hostile child), which must not panic either and must
// stop at the first bad frame.
func FuzzDecodeJob(f *testing.F) {
	for _, j := range []job{
		{Token: fuzzToken, Role: roleFunc, Func: "f", Args: []string{"a"}},
		{Token: fuzzToken, Role: roleExec, Path: "/bin/true", Argv: []string{"true"}},
		{Token: fuzzToken, Role: roleSetup, Plan: plan{Flags: 0x20000, Steps: []step{{Kind: stepHostname, Data: "h"}}}},
		{Token: fuzzToken, Role: rolePrewarm, Plan: plan{Flags: 0x20000}},
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
		rep := readReport(bytes.NewReader(data), nil)
		if rep.readErr != nil && !errors.Is(rep.readErr, ErrProtocol) && !errors.Is(rep.readErr, io.ErrUnexpectedEOF) {
			t.Fatalf("readReport: unexpected error %v", rep.readErr)
		}
		j, err := decodeJob(bytes.NewReader(data), fuzzToken)
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("decodeJob: error %v wraps neither ErrProtocol nor io.ErrUnexpectedEOF", err)
			}
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
		case roleSetup, rolePrewarm:
		default:
			t.Fatalf("accepted role %q", j.Role)
		}
		if len(data) < 4 || int(binary.BigEndian.Uint32(data)) > maxFrame {
			t.Fatal("accepted a frame with a bad length")
		}
		// One encoding per job: the frame read is the frame written.
		var again bytes.Buffer
		if err := writeFrame(&again, j); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, again.Bytes()) {
			t.Fatalf("accepted the frame %q, which encodes back as %q", data, again.Bytes())
		}
	})
}

// FuzzValidate builds options from arbitrary values: Validate must never
// panic, must report every problem as ErrInvalid or ErrPermission, and
// whatever it accepts the kernel accepts too: a valid hostname, id maps
// within range, tmpfs limits within the kernel's, clocks that stay within
// 0 and the kernel's maximum, and tmpfs mount data of numbers only.
func FuzzValidate(f *testing.F) {
	f.Add("host", 0, 1000, 1, int64(1<<20), int64(0), uint32(0o1777), int64(0), int64(0))
	f.Add("", -1, -1, 0, int64(-1), int64(-1), uint32(0xffffffff), int64(-1)<<62, int64(1)<<62)
	f.Add("a.b-c", 0, 0, min(1<<32, math.MaxInt), int64(0), int64(1)<<54, uint32(0o700), int64(time.Hour), int64(-time.Hour))
	f.Fuzz(func(t *testing.T, host string, inside, outside, size int, tmpSize, inodes int64, mode uint32, mono, boot int64) {
		n := New(WithHostname(host), WithPrivateUser(IDMap{Inside: inside, Outside: outside, Size: size}),
			WithPrivateTmp(TmpfsSize(tmpSize), TmpfsInodes(inodes), TmpfsMode(os.FileMode(mode))),
			WithPrivateTime(time.Duration(mono), time.Duration(boot)))
		if err := n.Validate(); err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				if !errors.Is(e, ErrInvalid) && !errors.Is(e, ErrPermission) {
					t.Fatalf("Validate reported %v, neither ErrInvalid nor ErrPermission", e)
				}
			}
		}
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
			if size <= 0 || inside < 0 || outside < 0 || int64(inside)+int64(size)-1 > maxID || int64(outside)+int64(size)-1 > maxID {
				t.Fatalf("accepted map %d %d %d", inside, outside, size)
			}
		}
		if len(n.tmp.check()) == 0 {
			if tmpSize < 0 || inodes < 0 || inodes > maxTmpfsInodes {
				t.Fatalf("accepted tmpfs size %d, inodes %d", tmpSize, inodes)
			}
			for _, c := range n.tmp.data() {
				if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '_' || c == '=' || c == ',') {
					t.Fatalf("tmpfs mount data %q has %q", n.tmp.data(), c)
				}
			}
		}
		if checkTimeOffsets(time.Duration(mono), time.Duration(boot)) == nil {
			for _, c := range []struct {
				id  int32
				off int64
			}{{unix.CLOCK_MONOTONIC, mono}, {unix.CLOCK_BOOTTIME, boot}} {
				var ts unix.Timespec
				if err := unix.ClockGettime(c.id, &ts); err != nil {
					continue
				}
				sec := int64(ts.Sec) + c.off/int64(time.Second)
				if sec < -1 || sec > maxClockSec {
					t.Fatalf("accepted clock %d offset %d: the clock would read %d s", c.id, c.off, sec)
				}
			}
		}
	})
}
