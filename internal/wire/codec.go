package wire

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// magic starts every encoded job and message.
const magic = "LNSW"

// The kinds of encoded values: the sixth byte of the header.
const (
	kindJob     = 'J'
	kindMessage = 'M'
)

// headerSize is the size of the header: magic, version, kind.
const headerSize = len(magic) + 2

// The kinds of field values: the low three bits of a tag.
const (
	kBool    = 0
	kUint    = 1
	kInt     = 2
	kBytes   = 3
	kOpt     = 4
	kList    = 5
	kStruct  = 6
	kStructs = 7
)

var kindNames = [8]string{"bool", "uint", "int", "bytes", "opt", "list", "struct", "structs"}

// tag returns the tag byte of field number n (1 to 31) of kind k.
func tag(n, k byte) byte { return n<<3 | k }

// The tags of Job's fields, in their order.
var (
	tJobToken = tag(1, kBytes)
	tJobRole  = tag(2, kBytes)
	tJobPlan  = tag(3, kStruct)
	tJobFunc  = tag(4, kBytes)
	tJobArgs  = tag(5, kList)
	tJobInput = tag(6, kOpt)
	tJobPath  = tag(7, kBytes)
	tJobArgv  = tag(8, kList)
	tJobNonce = tag(9, kBytes)
)

// The tags of Plan's fields, in their order, and of Step's.
var (
	tPlan = struct{ flags, steps, pid1, init, debug, killDesc, parentNS byte }{
		tag(1, kUint), tag(2, kStructs), tag(3, kBool), tag(4, kBool), tag(5, kBool), tag(6, kBool), tag(7, kList)}
	tStep = struct{ kind, target, data, flags byte }{tag(1, kUint), tag(2, kBytes), tag(3, kBytes), tag(4, kUint)}
)

// The tags of Message's fields, in their order.
var (
	tMsgType   = tag(1, kBytes)
	tMsgStep   = tag(2, kBytes)
	tMsgErrno  = tag(3, kInt)
	tMsgMsg    = tag(4, kBytes)
	tMsgPanic  = tag(5, kBool)
	tMsgStack  = tag(6, kBytes)
	tMsgOK     = tag(7, kBool)
	tMsgOutput = tag(8, kOpt)
	tMsgPid    = tag(9, kInt)
)

// AppendJob appends the encoding of j to b and returns the extended
// buffer.
func AppendJob(b []byte, j *Job) []byte {
	b = appendHeader(b, kindJob)
	b = appendBytes(b, tJobToken, j.Token)
	b = appendBytes(b, tJobRole, string(j.Role))
	b = append(b, tJobPlan)
	b = appendPlan(b, &j.Plan)
	b = appendBytes(b, tJobFunc, j.Func)
	b = appendList(b, tJobArgs, j.Args)
	b = appendOpt(b, tJobInput, j.Input != nil, j.Input)
	b = appendBytes(b, tJobPath, j.Path)
	b = appendList(b, tJobArgv, j.Argv)
	b = appendBytes(b, tJobNonce, j.Nonce)
	return b
}

func appendPlan(b []byte, p *Plan) []byte {
	b = appendUint(b, tPlan.flags, uint64(p.Flags))
	b = appendSteps(b, tPlan.steps, p.Steps)
	b = appendBool(b, tPlan.pid1, p.PID1)
	b = appendBool(b, tPlan.init, p.Init)
	b = appendBool(b, tPlan.debug, p.Debug)
	b = appendBool(b, tPlan.killDesc, p.KillDescendants)
	b = appendList(b, tPlan.parentNS, p.ParentNS)
	return b
}

func appendSteps(b []byte, t byte, steps []Step) []byte {
	if steps == nil {
		return append(b, t, 0)
	}
	b = binary.AppendUvarint(append(b, t, 1), uint64(len(steps)))
	for i := range steps {
		s := &steps[i]
		b = appendUint(b, tStep.kind, uint64(s.Kind))
		b = appendBytes(b, tStep.target, s.Target)
		b = appendBytes(b, tStep.data, s.Data)
		b = appendUint(b, tStep.flags, s.Flags)
	}
	return b
}

// AppendMessage appends the encoding of m to b and returns the extended
// buffer.
func AppendMessage(b []byte, m *Message) []byte {
	b = appendHeader(b, kindMessage)
	b = appendBytes(b, tMsgType, string(m.Type))
	b = appendBytes(b, tMsgStep, m.Step)
	b = appendInt(b, tMsgErrno, int64(m.Errno))
	b = appendBytes(b, tMsgMsg, m.Msg)
	b = appendBool(b, tMsgPanic, m.Panic)
	b = appendBytes(b, tMsgStack, m.Stack)
	b = appendBool(b, tMsgOK, m.OK)
	b = appendOpt(b, tMsgOutput, m.Output != nil, m.Output)
	b = appendInt(b, tMsgPid, int64(m.Pid))
	return b
}

func appendHeader(b []byte, kind byte) []byte {
	b = append(b, magic...)
	return append(b, Version, kind)
}

func appendBool(b []byte, t byte, v bool) []byte {
	if v {
		return append(b, t, 1)
	}
	return append(b, t, 0)
}

func appendUint(b []byte, t byte, v uint64) []byte {
	return binary.AppendUvarint(append(b, t), v)
}

func appendInt(b []byte, t byte, v int64) []byte {
	return binary.AppendVarint(append(b, t), v)
}

func appendBytes[S ~string | ~[]byte](b []byte, t byte, s S) []byte {
	b = binary.AppendUvarint(append(b, t), uint64(len(s)))
	return append(b, s...)
}

func appendOpt[S ~string | ~[]byte](b []byte, t byte, present bool, s S) []byte {
	if !present {
		return append(b, t, 0)
	}
	b = binary.AppendUvarint(append(b, t, 1), uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, t byte, ss []string) []byte {
	if ss == nil {
		return append(b, t, 0)
	}
	b = binary.AppendUvarint(append(b, t, 1), uint64(len(ss)))
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// DecodeJob decodes a job encoded by AppendJob. b must hold exactly one
// job. The job shares no memory with b.
func DecodeJob(b []byte) (*Job, error) {
	d := decoder{b: b, what: "job", elem: -1}
	d.header(kindJob)
	j := new(Job)
	j.Token = d.bytes(tJobToken, "token")
	j.Role = Role(d.bytes(tJobRole, "role"))
	if d.tag(tJobPlan, "plan") {
		d.plan(&j.Plan)
	}
	j.Func = d.bytes(tJobFunc, "func")
	j.Args = d.list(tJobArgs, "args")
	if in, ok := d.opt(tJobInput, "input"); ok {
		j.Input = json.RawMessage(in)
	}
	j.Path = d.bytes(tJobPath, "path")
	j.Argv = d.list(tJobArgv, "argv")
	j.Nonce = d.bytes(tJobNonce, "nonce")
	if err := d.finish(); err != nil {
		return nil, err
	}
	return j, nil
}

func (d *decoder) plan(p *Plan) {
	p.Flags = uintptr(d.uint(tPlan.flags, "plan.flags", uint64(^uintptr(0))))
	p.Steps = d.steps(tPlan.steps, "plan.steps")
	p.PID1 = d.bool(tPlan.pid1, "plan.pid1")
	p.Init = d.bool(tPlan.init, "plan.init")
	p.Debug = d.bool(tPlan.debug, "plan.debug")
	p.KillDescendants = d.bool(tPlan.killDesc, "plan.killDescendants")
	p.ParentNS = d.list(tPlan.parentNS, "plan.parentNS")
}

// steps reads a list of steps: nil, or a slice that is not nil.
func (d *decoder) steps(t byte, field string) []Step {
	return listOf(d, t, field, func() (Step, bool) {
		var s Step
		d.sub = ".kind"
		s.Kind = StepKind(d.uint(tStep.kind, field, 0xff))
		d.sub = ".target"
		s.Target = d.bytes(tStep.target, field)
		d.sub = ".data"
		s.Data = d.bytes(tStep.data, field)
		d.sub = ".flags"
		s.Flags = d.uint(tStep.flags, field, ^uint64(0))
		d.sub = ""
		return s, d.err == nil
	})
}

// DecodeMessage decodes a message encoded by AppendMessage. b must hold
// exactly one message. The message shares no memory with b.
func DecodeMessage(b []byte) (*Message, error) {
	d := decoder{b: b, what: "message", elem: -1}
	d.header(kindMessage)
	m := new(Message)
	m.Type = MsgType(d.bytes(tMsgType, "type"))
	m.Step = d.bytes(tMsgStep, "step")
	m.Errno = int(d.int(tMsgErrno, "errno", intSize))
	m.Msg = d.bytes(tMsgMsg, "msg")
	m.Panic = d.bool(tMsgPanic, "panic")
	m.Stack = d.bytes(tMsgStack, "stack")
	m.OK = d.bool(tMsgOK, "ok")
	if out, ok := d.opt(tMsgOutput, "output"); ok {
		m.Output = json.RawMessage(out)
	}
	m.Pid = int(d.int(tMsgPid, "pid", intSize))
	if err := d.finish(); err != nil {
		return nil, err
	}
	return m, nil
}

const intSize = 32 << (^uint(0) >> 63) // the size of int in bits

// decoder reads fields in order from b; the first error sticks, and every
// read after it returns a zero value.
type decoder struct {
	b    []byte
	off  int
	what string // "job" or "message", for errors
	elem int    // the element of a list being read, for errors; -1: none
	sub  string // the field of that element, for a list of structs
	err  error
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err != nil {
		return
	}
	if d.elem >= 0 {
		field = fmt.Sprintf("%s[%d]%s", field, d.elem, d.sub)
	}
	d.err = fmt.Errorf("wire: %s: field %s at offset %d: %s", d.what, field, d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) header(kind byte) {
	switch {
	case len(d.b) > MaxSize:
		d.err = fmt.Errorf("wire: %s: %d bytes exceed the limit of %d", d.what, len(d.b), MaxSize)
	case len(d.b) < headerSize:
		d.err = fmt.Errorf("wire: %s: truncated header (%d bytes, want %d)", d.what, len(d.b), headerSize)
	case string(d.b[:len(magic)]) != magic:
		d.err = fmt.Errorf("wire: %s: not a frame of the namespace child protocol (it starts with %q, want %q)", d.what, d.b[:len(magic)], magic)
	case d.b[len(magic)] != Version:
		d.err = fmt.Errorf("%w: the %s is of version %d, this program reads version %d: the parent and the child are different builds of the program", ErrVersion, d.what, d.b[len(magic)], Version)
	case d.b[len(magic)+1] != kind:
		d.err = fmt.Errorf("wire: %s: the header's kind is %q, want %q", d.what, d.b[len(magic)+1], kind)
	}
	d.off = headerSize
}

// tag consumes the tag t of the next field, or fails.
func (d *decoder) tag(t byte, field string) bool {
	if d.err != nil {
		return false
	}
	if d.off >= len(d.b) {
		d.fail(field, "truncated: the field is missing")
		return false
	}
	if got := d.b[d.off]; got != t {
		d.fail(field, "tag 0x%02x (field %d, %s), want 0x%02x (field %d, %s): an unknown or misplaced field",
			got, got>>3, kindNames[got&7], t, t>>3, kindNames[t&7])
		return false
	}
	d.off++
	return true
}

func (d *decoder) byte1(field string) (byte, bool) {
	if d.off >= len(d.b) {
		d.fail(field, "truncated")
		return 0, false
	}
	c := d.b[d.off]
	d.off++
	return c, true
}

// flag reads a byte that must be 0 or 1.
func (d *decoder) flag(field string) (bool, bool) {
	c, ok := d.byte1(field)
	if !ok {
		return false, false
	}
	if c > 1 {
		d.off--
		d.fail(field, "byte 0x%02x where 0 or 1 belongs", c)
		return false, false
	}
	return c == 1, true
}

// uvarint reads a minimal unsigned varint.
func (d *decoder) uvarint(field string) (uint64, bool) {
	start := d.off
	var x uint64
	var s uint
	for i := 0; ; i++ {
		if d.off >= len(d.b) {
			d.off = start
			d.fail(field, "truncated varint")
			return 0, false
		}
		c := d.b[d.off]
		d.off++
		if c < 0x80 {
			if i == 9 && c > 1 {
				d.off = start
				d.fail(field, "varint overflows 64 bits")
				return 0, false
			}
			if i > 0 && c == 0 {
				d.off = start
				d.fail(field, "varint not in its shortest form")
				return 0, false
			}
			return x | uint64(c)<<s, true
		}
		if i == 9 {
			d.off = start
			d.fail(field, "varint overflows 64 bits")
			return 0, false
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
}

// length reads a varint length or count and checks it against the bytes
// left, each unit taking at least one byte.
func (d *decoder) length(field string) (int, bool) {
	start := d.off
	n, ok := d.uvarint(field)
	if !ok {
		return 0, false
	}
	if left := d.left(); n > uint64(left) {
		d.off = start
		d.fail(field, "length %d exceeds the %d bytes left", n, left)
		return 0, false
	}
	return int(n), true
}

// raw reads a varint length and that many bytes, which it returns without
// copying them.
func (d *decoder) raw(field string) ([]byte, bool) {
	n, ok := d.length(field)
	if !ok {
		return nil, false
	}
	b := d.b[d.off : d.off+n]
	d.off += n
	return b, true
}

func (d *decoder) bool(t byte, field string) bool {
	if !d.tag(t, field) {
		return false
	}
	v, _ := d.flag(field)
	return v
}

// uint reads an unsigned integer no larger than max.
func (d *decoder) uint(t byte, field string, max uint64) uint64 {
	if !d.tag(t, field) {
		return 0
	}
	start := d.off
	v, ok := d.uvarint(field)
	if ok && v > max {
		d.off = start
		d.fail(field, "%d overflows the field", v)
		return 0
	}
	return v
}

// int reads a signed integer that fits in bits bits.
func (d *decoder) int(t byte, field string, bits uint) int64 {
	if !d.tag(t, field) {
		return 0
	}
	start := d.off
	ux, ok := d.uvarint(field)
	if !ok {
		return 0
	}
	v := int64(ux >> 1)
	if ux&1 != 0 {
		v = ^v
	}
	if bits < 64 && (v < -1<<(bits-1) || v > 1<<(bits-1)-1) {
		d.off = start
		d.fail(field, "%d overflows the field", v)
		return 0
	}
	return v
}

func (d *decoder) bytes(t byte, field string) string {
	if !d.tag(t, field) {
		return ""
	}
	b, _ := d.raw(field)
	return string(b)
}

// opt reads an optional value: a copy of its bytes, never nil, and true if
// it is present.
func (d *decoder) opt(t byte, field string) ([]byte, bool) {
	if !d.tag(t, field) {
		return nil, false
	}
	present, ok := d.flag(field)
	if !ok || !present {
		return nil, false
	}
	b, ok := d.raw(field)
	if !ok {
		return nil, false
	}
	return append(make([]byte, 0, len(b)), b...), true
}

// count reads the tag t, the presence byte and the count of a list: ok is
// false for a nil list or an error.
func (d *decoder) count(t byte, field string) (n int, ok bool) {
	if !d.tag(t, field) {
		return 0, false
	}
	present, ok := d.flag(field)
	if !ok || !present {
		return 0, false
	}
	return d.length(field)
}

// list reads a list of strings: nil, or a slice that is not nil.
func (d *decoder) list(t byte, field string) []string {
	return listOf(d, t, field, func() (string, bool) {
		b, ok := d.raw(field)
		return string(b), ok
	})
}

// listOf reads a list whose elements elem reads: nil, or a slice that is
// not nil.
func listOf[T any](d *decoder, t byte, field string, elem func() (T, bool)) []T {
	n, ok := d.count(t, field)
	if !ok {
		return nil
	}
	// Each element takes at least a byte, which length checked; the
	// capacity grows with the elements actually read.
	out := make([]T, 0, min(n, 64))
	for i := range n {
		d.elem = i
		v, ok := elem()
		if !ok {
			return nil
		}
		out = append(out, v)
	}
	d.elem = -1
	return out
}

// finish checks that nothing follows the last field and returns the first
// error.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.err = fmt.Errorf("wire: %s: %d bytes after the last field, at offset %d", d.what, len(d.b)-d.off, d.off)
	}
	return d.err
}
