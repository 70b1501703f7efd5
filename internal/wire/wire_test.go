package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// stepJob is a job whose plan has two steps, the second of kind kind
// (which the encoder writes as it is: a kind beyond a byte tests the
// decoder). The first step's kind tag is at offset 21, its target's tag at
// 23.
func stepJob(kind uint64) []byte {
	b := AppendJob(nil, &Job{Token: "t", Role: RoleFunc, Plan: Plan{Steps: []Step{{Kind: StepLoopback}, {Kind: StepLoopback}}}})
	at := bytes.LastIndex(b, []byte{tStep.kind, byte(StepLoopback)})
	return append(binary.AppendUvarint(append([]byte(nil), b[:at+1]...), kind), b[at+2:]...)
}

// sampleJobs are jobs whose every byte string must come through unchanged:
// invalid UTF-8, NUL bytes, lone surrogates encoded in UTF-8, empty and nil
// values.
func sampleJobs() []Job {
	odd := "\xff\xfe/x\x80\x00\xed\xa0\x80\u2028\"\\"
	return []Job{
		{},
		{Token: "0123456789abcdef0123456789abcdef", Role: RoleFunc, Func: "f", Args: []string{odd, "", "a\x00b"}},
		{Role: RoleFunc, Args: []string{}, Input: json.RawMessage{}},
		{Role: RoleFunc, Args: []string{""}, Input: json.RawMessage(`{"a":[1,2]}`)},
		{Role: RoleFunc, Input: json.RawMessage(odd)},
		{Role: RoleExec, Path: "/tmp/\xff\xfe", Argv: []string{"\xff", "-c", odd}},
		{Role: RoleExec, Argv: []string{}},
		{Role: RoleSetup, Plan: Plan{Steps: []Step{}}},
		{Role: RoleSetup, Plan: Plan{Steps: []Step{{}}}},
		{Role: RolePrewarm, Plan: Plan{
			Flags: ^uintptr(0), Steps: []Step{
				{Kind: StepRPrivate, Target: "/", Flags: 1<<14 | 1<<18},
				{Kind: StepTmpfs, Target: "/tmp", Data: "size=1m,mode=1777", Flags: 6},
				{Kind: StepProc, Target: "/proc", Flags: 14},
				{Kind: StepHostname, Data: odd},
				{Kind: StepLoopback},
				{Kind: StepTimeNS},
				{Kind: StepTimeOffsets, Data: "monotonic -3600 0\nboottime 0 0\n"},
				{Kind: StepWorkDir, Target: odd, Flags: StepDirExplicit},
				{Kind: 0xff, Target: "\x00", Data: "\x00", Flags: ^uint64(0)},
			},
			PID1: true, Init: true, Debug: true, KillDescendants: true, ParentNS: []string{"net:4:4026531840", "\xff"},
		}},
		{Role: Role(odd), Token: odd, Plan: Plan{Flags: 1}},
	}
}

func sampleMessages() []Message {
	odd := "\xff\xfe/x\x80\x00\xed\xa0\x80"
	return []Message{
		{},
		{Type: MsgAck, Pid: 1<<31 - 1},
		{Type: MsgError, Step: "mount " + odd, Errno: 1, Msg: odd},
		{Type: MsgError, Errno: -4095},
		{Type: MsgResult, Panic: true, Msg: odd, Stack: "goroutine 1 [running]:\n\t" + odd},
		{Type: MsgResult, OK: true, Output: json.RawMessage(`null`)},
		{Type: MsgResult, OK: true, Output: json.RawMessage{}},
		{Type: MsgResult, OK: true, Output: json.RawMessage(odd)},
		{Type: MsgType(odd), Pid: -1},
	}
}

func TestJobRoundTrip(t *testing.T) {
	for i, j := range sampleJobs() {
		b := AppendJob(nil, &j)
		got, err := DecodeJob(b)
		if err != nil {
			t.Fatalf("job %d: DecodeJob: %v", i, err)
		}
		if !reflect.DeepEqual(*got, j) {
			t.Errorf("job %d: decoded\n%#v\nwant\n%#v", i, *got, j)
		}
		if again := AppendJob(nil, got); !bytes.Equal(again, b) {
			t.Errorf("job %d: encoded again as\n%q\nwant\n%q", i, again, b)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for i, m := range sampleMessages() {
		b := AppendMessage(nil, &m)
		got, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("message %d: DecodeMessage: %v", i, err)
		}
		if !reflect.DeepEqual(*got, m) {
			t.Errorf("message %d: decoded\n%#v\nwant\n%#v", i, *got, m)
		}
		if again := AppendMessage(nil, got); !bytes.Equal(again, b) {
			t.Errorf("message %d: encoded again as\n%q\nwant\n%q", i, again, b)
		}
	}
}

// TestDecodedSharesNoMemory: changing the input after decoding changes
// nothing decoded (the parent and the child reuse their buffers).
func TestDecodedSharesNoMemory(t *testing.T) {
	j := Job{Token: "tok", Func: "f", Args: []string{"arg"}, Input: json.RawMessage(`"in"`), Plan: Plan{Steps: []Step{{Kind: StepTmpfs, Target: "/tmp", Data: "data"}}}}
	b := AppendJob(nil, &j)
	got, err := DecodeJob(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := headerSize; i < len(b); i++ {
		b[i] = 'X'
	}
	if !reflect.DeepEqual(*got, j) {
		t.Errorf("after the input changed, the job is %#v; want %#v", *got, j)
	}
}

// TestLayout pins the encoding: a change of these bytes is a change of
// the protocol, which changes Version.
func TestLayout(t *testing.T) {
	j := Job{Token: "t", Role: RoleExec, Plan: Plan{Flags: 0x20000, Steps: []Step{{Kind: StepTmpfs, Target: "/tmp", Flags: 6}}, Init: true},
		Path: "/p", Argv: []string{"\xff"}}
	want := "LNSW\x01J" +
		"\x0b\x01t" + "\x13\x04exec" + "\x1e" +
		"\x09\x80\x80\x08" + "\x17\x01\x01" + "\x09\x02" + "\x13\x04/tmp" + "\x1b\x00" + "\x21\x06" +
		"\x18\x00" + "\x20\x01" + "\x28\x00" + "\x30\x00" + "\x3d\x00" +
		"\x23\x00" + "\x2d\x00" + "\x34\x00" + "\x3b\x02/p" + "\x45\x01\x01\x01\xff" + "\x4b\x00"
	if got := string(AppendJob(nil, &j)); got != want {
		t.Errorf("job encoded as\n%q\nwant\n%q", got, want)
	}
	m := Message{Type: MsgAck, Errno: 2, Pid: 300, Output: json.RawMessage("1")}
	want = "LNSW\x01M" +
		"\x0b\x03ack" + "\x13\x00" + "\x1a\x04" + "\x23\x00" + "\x28\x00" + "\x33\x00" + "\x38\x00" +
		"\x44\x01\x011" + "\x4a\xd8\x04"
	if got := string(AppendMessage(nil, &m)); got != want {
		t.Errorf("message encoded as\n%q\nwant\n%q", got, want)
	}
}

// TestDecodeRefuses: hostile and damaged input is an error that says what
// is wrong, never a panic.
func TestDecodeRefuses(t *testing.T) {
	job := AppendJob(nil, &Job{Token: "t", Role: RoleFunc, Func: "f", Args: []string{"a"}})
	msg := AppendMessage(nil, &Message{Type: MsgAck, Pid: 5})
	replace := func(b []byte, off int, with ...byte) []byte {
		c := append([]byte(nil), b[:off]...)
		c = append(c, with...)
		return append(c, b[off+len(with):]...)
	}
	// Offsets in job: header 0-5; token tag 6, length 7, "t" 8; role tag 9,
	// length 10, "func" 11-14; plan tag 15; flags tag 16, value 17;
	// steps tag 18, presence 19; pid1 tag 20, value 21; ...
	planEnd := 15 + 1 + 2*7 // plan tag, then 7 fields of a tag and a one-byte value
	funcTag := planEnd
	argsTag := funcTag + 3
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated header"},
		{"JSON", []byte(`{"token":"t","role":"func"}`), "not a frame of the namespace child protocol"},
		{"magic", replace(job, 0, 'X'), "not a frame"},
		{"version 2", replace(job, 4, 2), "version 2, this program reads version 1"},
		{"version 0", replace(job, 4, 0), "version 0"},
		{"message as job", msg, "kind is 'M', want 'J'"},
		{"header only", job[:headerSize], "field token at offset 6: truncated"},
		{"unknown tag", replace(job, 6, tag(9, kBytes)), "tag 0x4b (field 9, bytes), want 0x0b (field 1, bytes)"},
		{"wrong kind", replace(job, 6, tag(1, kInt)), "an unknown or misplaced field"},
		{"length beyond input", replace(job, 7, 0x7f), "length 127 exceeds"},
		{"huge length", replace(job, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "varint overflows 64 bits"},
		{"overlong varint", append(append(append([]byte(nil), job[:7]...), 0x81, 0x00), job[8:]...), "not in its shortest form"},
		{"bad bool", replace(job, 21, 2), "field plan.pid1 at offset 21: byte 0x02 where 0 or 1 belongs"},
		{"bad presence", replace(job, 19, 7), "field plan.steps at offset 19: byte 0x07"},
		{"step count beyond input", replace(job, 19, 1, 0x40), "field plan.steps at offset 20: length 64 exceeds"},
		{"step kind overflows", stepJob(0x100), "field plan.steps[1].kind at offset"},
		{"step field misplaced", replace(stepJob(1), 23, tag(3, kBytes)), "field plan.steps[0].target at offset 23: tag 0x1b"},
		{"count beyond input", replace(job, argsTag+2, 0x40), "field args at offset"},
		{"element beyond input", replace(job, argsTag+3, 0x7f), "field args[0] at offset"},
		{"trailing byte", append(append([]byte(nil), job...), 0), "1 bytes after the last field"},
		{"message trailing", append(append([]byte(nil), msg...), 'x', 'y'), "2 bytes after the last field"},
	} {
		var err error
		if c.name == "message trailing" {
			_, err = DecodeMessage(c.in)
		} else {
			_, err = DecodeJob(c.in)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error containing %q", c.name, err, c.want)
		}
		if strings.HasPrefix(c.name, "version") != errors.Is(err, ErrVersion) {
			t.Errorf("%s: errors.Is(%v, ErrVersion) = %v", c.name, err, errors.Is(err, ErrVersion))
		}
	}
	if j, err := DecodeJob(job); err != nil || j.Args[0] != "a" {
		t.Fatalf("the unchanged job: %v, %v", j, err)
	}
}

// TestDecodeRefusesOverflow: an integer beyond its field's type (Errno and
// Pid are ints, of 32 bits on some platforms; Flags is a uintptr).
func TestDecodeRefusesOverflow(t *testing.T) {
	for _, c := range []struct {
		v    int64
		bits uint
		ok   bool
	}{{1<<31 - 1, 32, true}, {-1 << 31, 32, true}, {1 << 31, 32, false}, {-1<<31 - 1, 32, false}, {1 << 40, 32, false}, {-1 << 63, 64, true}} {
		d := decoder{b: binary.AppendVarint([]byte{tMsgPid}, c.v), what: "message", elem: -1}
		got := d.int(tMsgPid, "pid", c.bits)
		err := d.finish()
		if c.ok && (err != nil || got != c.v) {
			t.Errorf("%d in %d bits: %d, %v", c.v, c.bits, got, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "overflows the field")) {
			t.Errorf("%d in %d bits: %d, %v; want an overflow", c.v, c.bits, got, err)
		}
	}
	d := decoder{b: binary.AppendUvarint([]byte{tPlan.flags}, 1<<32), what: "job", elem: -1}
	if d.uint(tPlan.flags, "plan.flags", 1<<32-1); d.finish() == nil {
		t.Error("2^32 accepted for a 32-bit field")
	}
}

// TestDecodeEveryCut: every proper prefix of an encoding is refused, as is
// the encoding with any byte appended.
func TestDecodeEveryCut(t *testing.T) {
	for i, j := range sampleJobs() {
		b := AppendJob(nil, &j)
		for n := range len(b) {
			if _, err := DecodeJob(b[:n]); err == nil {
				t.Fatalf("job %d: DecodeJob accepted the first %d of %d bytes", i, n, len(b))
			}
		}
		if _, err := DecodeJob(append(b, 0)); err == nil {
			t.Fatalf("job %d: DecodeJob accepted a trailing byte", i)
		}
	}
	for i, m := range sampleMessages() {
		b := AppendMessage(nil, &m)
		for n := range len(b) {
			if _, err := DecodeMessage(b[:n]); err == nil {
				t.Fatalf("message %d: DecodeMessage accepted the first %d of %d bytes", i, n, len(b))
			}
		}
	}
}

// TestDecodeAllocatesInProportion: a job that announces a list of 2^40
// elements, or many empty elements, makes the decoder allocate in
// proportion to its input, not to what it announces.
func TestDecodeAllocatesInProportion(t *testing.T) {
	prefix := AppendJob(nil, &Job{})
	argsAt := bytes.LastIndexByte(prefix[:len(prefix)-2*3], tJobArgs) // args tag, before input, path, argv
	if argsAt < 0 || prefix[argsAt+1] != 0 {
		t.Fatalf("args field not found in %q", prefix)
	}
	head := append([]byte(nil), prefix[:argsAt+1]...)
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"count 2^40", binary.AppendUvarint(append(append([]byte(nil), head...), 1), 1<<40)},
		{"count beyond the elements", append(binary.AppendUvarint(append(append([]byte(nil), head...), 1), 1<<20), make([]byte, 1<<20-1)...)},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := DecodeJob(c.in)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%s: accepted", c.name)
		}
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(64*len(c.in)+64<<10); got > limit {
			t.Errorf("%s: decoding %d bytes allocated %d bytes (limit %d)", c.name, len(c.in), got, limit)
		}
	}
}

// FuzzJobRoundTrip: a job built from arbitrary values (invalid UTF-8, NUL
// bytes, nil and empty lists and inputs, absent and empty tmpfs data)
// decodes to the same job, and encodes back to the same bytes.
func FuzzJobRoundTrip(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef", "func", uint64(0x20000), uint16(0), "", "", uint64(0), uint64(0), "f", ",a,b", []byte(nil), "", "")
	f.Add("\xff\xfe", "exec", uint64(1<<63), uint16(0xffff), ",/tmp,/proc", "h\x00st;", uint64(1<<63), uint64(0x0102030405060708), "", "", []byte("\xff"), "/x\x80", "\x00\xff\x00-c")
	f.Add("", "", uint64(0), uint16(1<<8|1<<9), ",", "\xed\xa0\x80", uint64(1), uint64(0xffffffffffffffff), "\x00", ";", []byte{}, "/", ";")
	f.Fuzz(func(t *testing.T, token, role string, flags uint64, bits uint16, targets, data string, kinds, stepFlags uint64,
		fn, args string, input []byte, path, argv string) {
		bit := func(i uint) bool { return bits&(1<<i) != 0 }
		j := Job{
			Token: token, Role: Role(role), Func: fn, Args: splitList(args), Path: path, Argv: splitList(argv), Nonce: data + token,
			Plan: Plan{
				Flags: uintptr(flags), PID1: bit(4), Init: bit(5), Debug: bit(6), KillDescendants: bit(10), ParentNS: splitList(argv),
			},
		}
		// Steps: one per target (nil, empty or some), with a kind from
		// the bytes of kinds and flags rotated from stepFlags.
		ds := splitList(data)
		for i, target := range splitList(targets) {
			if j.Plan.Steps == nil {
				j.Plan.Steps = []Step{}
			}
			s := Step{Kind: StepKind(kinds >> (8 * (i % 8))), Target: target, Flags: stepFlags<<(i%64) | stepFlags>>(64-i%64)}
			if i < len(ds) {
				s.Data = ds[i]
			}
			j.Plan.Steps = append(j.Plan.Steps, s)
		}
		if bit(8) && j.Plan.Steps == nil {
			j.Plan.Steps = []Step{}
		}
		if bit(9) {
			j.Input = append(json.RawMessage{}, input...)
		}
		b := AppendJob(nil, &j)
		got, err := DecodeJob(b)
		if err != nil {
			t.Fatalf("DecodeJob(AppendJob(%#v)): %v", j, err)
		}
		if !reflect.DeepEqual(*got, j) {
			t.Fatalf("decoded\n%#v\nwant\n%#v", *got, j)
		}
		if again := AppendJob(nil, got); !bytes.Equal(again, b) {
			t.Fatalf("encoded again as %q, want %q", again, b)
		}
	})
}

// FuzzMessageRoundTrip: the same for messages.
func FuzzMessageRoundTrip(f *testing.F) {
	f.Add("result", "", int64(0), "boom", uint8(1), "goroutine 1", []byte(`{"a":1}`), int64(0))
	f.Add("\xff", "mount /\x80", int64(-1), "\x00", uint8(0xff), "", []byte{}, int64(1<<40))
	f.Fuzz(func(t *testing.T, typ, step string, errno int64, msg string, bits uint8, stack string, output []byte, pid int64) {
		m := Message{Type: MsgType(typ), Step: step, Errno: int(errno), Msg: msg, Panic: bits&1 != 0,
			Stack: stack, OK: bits&2 != 0, Pid: int(pid)}
		if bits&4 != 0 {
			m.Output = append(json.RawMessage{}, output...)
		}
		b := AppendMessage(nil, &m)
		got, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("DecodeMessage(AppendMessage(%#v)): %v", m, err)
		}
		if !reflect.DeepEqual(*got, m) {
			t.Fatalf("decoded\n%#v\nwant\n%#v", *got, m)
		}
		if again := AppendMessage(nil, got); !bytes.Equal(again, b) {
			t.Fatalf("encoded again as %q, want %q", again, b)
		}
	})
}

// FuzzDecode: arbitrary bytes never make the decoders panic, and whatever
// they accept encodes back to exactly the same bytes (one encoding per
// value: nothing is skipped, normalised or ignored).
func FuzzDecode(f *testing.F) {
	for _, j := range sampleJobs() {
		f.Add(AppendJob(nil, &j))
	}
	for _, m := range sampleMessages() {
		f.Add(AppendMessage(nil, &m))
	}
	f.Add([]byte("LNSW\x02J"))
	f.Add([]byte(`{"type":"ack"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if j, err := DecodeJob(data); err == nil {
			if again := AppendJob(nil, j); !bytes.Equal(again, data) {
				t.Fatalf("DecodeJob accepted %q, which encodes back as %q", data, again)
			}
		} else if j != nil {
			t.Fatalf("DecodeJob returned a job with error %v", err)
		}
		if m, err := DecodeMessage(data); err == nil {
			if again := AppendMessage(nil, m); !bytes.Equal(again, data) {
				t.Fatalf("DecodeMessage accepted %q, which encodes back as %q", data, again)
			}
		} else if m != nil {
			t.Fatalf("DecodeMessage returned a message with error %v", err)
		}
	})
}

// splitList makes a list of strings from s: "" is nil; otherwise the first
// byte separates the elements of the rest ("," is an empty list that is
// not nil, ",," two empty strings).
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	if len(s) == 1 {
		return []string{}
	}
	return strings.Split(s[1:], s[:1])
}

// A typical job: a function with a few arguments and a plan with a tmpfs.
func benchJob() *Job {
	return &Job{Token: "0123456789abcdef0123456789abcdef", Role: RoleFunc, Func: "bench-nop",
		Args: []string{"one", "two", "/some/path"}, Plan: Plan{Flags: 0x20020000, PID1: true, Steps: []Step{
			{Kind: StepRPrivate, Target: "/", Flags: 1<<14 | 1<<18}, {Kind: StepTmpfs, Target: "/tmp", Data: "mode=1777", Flags: 6},
			{Kind: StepProc, Target: "/proc", Flags: 14}, {Kind: StepWorkDir},
		}}}
}

func BenchmarkAppendJob(b *testing.B) {
	j := benchJob()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = AppendJob(buf[:0], j)
	}
}

func BenchmarkDecodeJob(b *testing.B) {
	enc := AppendJob(nil, benchJob())
	for b.Loop() {
		if _, err := DecodeJob(enc); err != nil {
			b.Fatal(err)
		}
	}
}
