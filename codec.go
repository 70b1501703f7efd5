//go:build linux

package namespace

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written JSON codec for the two frame types of the child protocol,
// job and message.
//
// The wire format is the JSON that encoding/json makes of these structs
// (same keys, same omitempty), so either side may use either codec. The
// point is speed where it counts: a re-executed child decodes one job and
// encodes a few messages and exits, and encoding/json's first use of a
// struct type (reflection, field caches) costs it 150–300 µs on the dev
// machine, about a tenth of a cold Run. This codec costs a few µs.
//
// Decoding is strict JSON (RFC 8259): one object, nothing after it; keys
// match exactly (encoding/json also accepts other letter cases); unknown
// keys are skipped; null leaves a field unset; strings are unescaped as
// encoding/json does (invalid UTF-8 and lone surrogates become U+FFFD).

// appendJob appends j as JSON to b.
func appendJob(b []byte, j *job) []byte {
	b = append(b, `{"token":`...)
	b = appendJSONString(b, j.Token)
	b = append(b, `,"role":`...)
	b = appendJSONString(b, string(j.Role))
	b = append(b, `,"plan":`...)
	b = appendPlan(b, &j.Plan)
	if j.Func != "" {
		b = append(b, `,"func":`...)
		b = appendJSONString(b, j.Func)
	}
	if len(j.Args) > 0 {
		b = append(b, `,"args":`...)
		b = appendJSONStrings(b, j.Args)
	}
	if len(j.Input) > 0 {
		b = append(b, `,"input":`...)
		b = append(b, j.Input...)
	}
	if j.Path != "" {
		b = append(b, `,"path":`...)
		b = appendJSONString(b, j.Path)
	}
	if len(j.Argv) > 0 {
		b = append(b, `,"argv":`...)
		b = appendJSONStrings(b, j.Argv)
	}
	return append(b, '}')
}

func appendPlan(b []byte, p *plan) []byte {
	b = append(b, `{"flags":`...)
	b = strconv.AppendUint(b, uint64(p.Flags), 10)
	b = appendBoolField(b, "rprivate", p.RPrivate)
	if p.TmpData != nil {
		b = append(b, `,"tmp":`...)
		b = appendJSONString(b, *p.TmpData)
	}
	b = appendBoolField(b, "proc", p.Proc)
	if p.Hostname != "" {
		b = append(b, `,"hostname":`...)
		b = appendJSONString(b, p.Hostname)
	}
	b = appendBoolField(b, "lo", p.Loopback)
	b = appendBoolField(b, "time", p.Time)
	b = appendIntField(b, "monotonic", int64(p.Monotonic))
	b = appendIntField(b, "boottime", int64(p.Boottime))
	b = appendBoolField(b, "pid1", p.PID1)
	b = appendBoolField(b, "init", p.Init)
	b = appendIntField(b, "grace", int64(p.KillGraceNS))
	b = appendBoolField(b, "debug", p.Debug)
	return append(b, '}')
}

// appendMessage appends m as JSON to b.
func appendMessage(b []byte, m *message) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, string(m.Type))
	if m.Step != "" {
		b = append(b, `,"step":`...)
		b = appendJSONString(b, m.Step)
	}
	b = appendIntField(b, "errno", int64(m.Errno))
	if m.Msg != "" {
		b = append(b, `,"msg":`...)
		b = appendJSONString(b, m.Msg)
	}
	b = appendBoolField(b, "panic", m.Panic)
	if m.Stack != "" {
		b = append(b, `,"stack":`...)
		b = appendJSONString(b, m.Stack)
	}
	b = appendBoolField(b, "ok", m.OK)
	if len(m.Output) > 0 {
		b = append(b, `,"output":`...)
		b = append(b, m.Output...)
	}
	b = appendIntField(b, "pid", int64(m.Pid))
	return append(b, '}')
}

func appendBoolField(b []byte, key string, v bool) []byte {
	if !v {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, `":true`...)
}

func appendIntField(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Like encoding/json it
// replaces invalid UTF-8 with U+FFFD and escapes U+2028 and U+2029; unlike
// it, it leaves <, > and & alone (the frames are never embedded in HTML).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// maxJSONDepth bounds the nesting of values the decoder skips or copies.
const maxJSONDepth = 1000

var errJSONDepth = errors.New("nested too deeply")

// jsonDecoder decodes one JSON text.
type jsonDecoder struct {
	b []byte
	i int
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{d.i}, args...)...)
}

func (d *jsonDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *jsonDecoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *jsonDecoder) expect(c byte) error {
	if d.peek() != c {
		if d.i >= len(d.b) {
			return d.errorf("unexpected end, want %q", c)
		}
		return d.errorf("unexpected %q, want %q", d.b[d.i], c)
	}
	d.i++
	return nil
}

// literal consumes the literal word (true, false, null) if it is next.
func (d *jsonDecoder) literal(word string) bool {
	if d.peek() == word[0] && len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

// end checks that nothing but white space follows.
func (d *jsonDecoder) end() error {
	if d.peek() != 0 || d.i != len(d.b) {
		return d.errorf("data after the value")
	}
	return nil
}

// object decodes an object, calling field for each key with the decoder
// positioned at its value; field must consume the value. It accepts null
// as an object without keys.
func (d *jsonDecoder) object(field func(key string) error) error {
	if d.literal("null") {
		return nil
	}
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		key, err := d.str()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("want ',' or '}' after a value")
		}
	}
}

// str decodes a string.
func (d *jsonDecoder) str() (string, error) {
	if err := d.expect('"'); err != nil {
		return "", err
	}
	start := d.i
	// The common case: no escapes, no control characters, valid UTF-8.
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := d.b[start:d.i]
			d.i++
			if utf8.Valid(s) {
				return string(s), nil
			}
			d.i = start
			break
		}
		if c == '\\' || c < 0x20 {
			d.i = start
			break
		}
		d.i++
	}
	var out []byte
	for {
		if d.i >= len(d.b) {
			return "", d.errorf("unterminated string")
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), nil
		case c < 0x20:
			return "", d.errorf("control character in string")
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return "", d.errorf("unterminated string")
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.errorf("bad \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					save := d.i
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						d.i += 2
						if lo, ok := d.hex4(); ok {
							if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
								r2 = dec
							} else {
								d.i = save
							}
						} else {
							d.i = save
						}
					}
					r = r2
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", d.errorf("bad escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.b[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

// optStr decodes a string or null ("").
func (d *jsonDecoder) optStr() (string, error) {
	if d.literal("null") {
		return "", nil
	}
	return d.str()
}

// strs decodes an array of strings, or null.
func (d *jsonDecoder) strs() ([]string, error) {
	if d.literal("null") {
		return nil, nil
	}
	if err := d.expect('['); err != nil {
		return nil, err
	}
	out := []string{}
	if d.peek() == ']' {
		d.i++
		return out, nil
	}
	for {
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return out, nil
		default:
			return nil, d.errorf("want ',' or ']' in an array")
		}
	}
}

// boolean decodes true, false or null (false).
func (d *jsonDecoder) boolean() (bool, error) {
	switch {
	case d.literal("true"):
		return true, nil
	case d.literal("false"), d.literal("null"):
		return false, nil
	}
	return false, d.errorf("want a boolean")
}

// integer decodes an integer that fits in bits bits (signed or not), or
// null (0). Fractions and exponents are refused, as encoding/json refuses
// them for integer fields.
func (d *jsonDecoder) integer(signed bool, bits int) (int64, error) {
	if d.literal("null") {
		return 0, nil
	}
	d.ws()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || (d.b[digits] == '0' && d.i-digits > 1) {
		return 0, d.errorf("want an integer")
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return 0, d.errorf("want an integer, not a fraction")
	}
	text := string(d.b[start:d.i])
	if signed {
		return strconv.ParseInt(text, 10, bits)
	}
	u, err := strconv.ParseUint(text, 10, bits)
	if err != nil {
		return 0, err
	}
	return int64(u), nil
}

// raw returns a copy of the next value, which it checks (null too, as
// encoding/json does for a json.RawMessage).
func (d *jsonDecoder) raw() (json.RawMessage, error) {
	d.ws()
	start := d.i
	if err := d.skip(0); err != nil {
		return nil, err
	}
	return append(json.RawMessage(nil), d.b[start:d.i]...), nil
}

// skip consumes one value of any kind, checking its syntax.
func (d *jsonDecoder) skip(depth int) error {
	if depth > maxJSONDepth {
		return errJSONDepth
	}
	switch c := d.peek(); {
	case c == '{':
		return d.object(func(string) error { return d.skip(depth + 1) })
	case c == '[':
		d.i++
		if d.peek() == ']' {
			d.i++
			return nil
		}
		for {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.i++
			case ']':
				d.i++
				return nil
			default:
				return d.errorf("want ',' or ']' in an array")
			}
		}
	case c == '"':
		_, err := d.str()
		return err
	case c == 't' || c == 'f' || c == 'n':
		if d.literal("true") || d.literal("false") || d.literal("null") {
			return nil
		}
		return d.errorf("bad literal")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	case c == 0:
		return d.errorf("unexpected end")
	default:
		return d.errorf("unexpected %q", c)
	}
}

// number consumes a JSON number.
func (d *jsonDecoder) number() error {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.b[d.i] == '-' {
		d.i++
	}
	first := d.i
	n := digits()
	if n == 0 || (d.b[first] == '0' && n > 1) {
		return d.errorf("bad number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return d.errorf("bad number")
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return d.errorf("bad number")
		}
	}
	return nil
}

// parseJob decodes a job frame's body into j.
func parseJob(body []byte, j *job) error {
	d := &jsonDecoder{b: body}
	err := d.object(func(key string) error {
		var err error
		switch key {
		case "token":
			j.Token, err = d.optStr()
		case "role":
			var s string
			s, err = d.optStr()
			j.Role = role(s)
		case "plan":
			err = d.object(func(key string) error { return d.planField(&j.Plan, key) })
		case "func":
			j.Func, err = d.optStr()
		case "args":
			j.Args, err = d.strs()
		case "input":
			j.Input, err = d.raw()
		case "path":
			j.Path, err = d.optStr()
		case "argv":
			j.Argv, err = d.strs()
		default:
			err = d.skip(0)
		}
		return err
	})
	if err == nil {
		err = d.end()
	}
	return err
}

func (d *jsonDecoder) planField(p *plan, key string) error {
	var err error
	var v int64
	switch key {
	case "flags":
		v, err = d.integer(false, strconv.IntSize)
		p.Flags = uintptr(v)
	case "rprivate":
		p.RPrivate, err = d.boolean()
	case "tmp":
		if d.literal("null") {
			p.TmpData = nil
			return nil
		}
		var s string
		s, err = d.str()
		p.TmpData = &s
	case "proc":
		p.Proc, err = d.boolean()
	case "hostname":
		p.Hostname, err = d.optStr()
	case "lo":
		p.Loopback, err = d.boolean()
	case "time":
		p.Time, err = d.boolean()
	case "monotonic":
		v, err = d.integer(true, 64)
		p.Monotonic = time.Duration(v)
	case "boottime":
		v, err = d.integer(true, 64)
		p.Boottime = time.Duration(v)
	case "pid1":
		p.PID1, err = d.boolean()
	case "init":
		p.Init, err = d.boolean()
	case "grace":
		v, err = d.integer(true, 64)
		p.KillGraceNS = time.Duration(v)
	case "debug":
		p.Debug, err = d.boolean()
	default:
		err = d.skip(0)
	}
	return err
}

// parseMessage decodes a message frame's body into m.
func parseMessage(body []byte, m *message) error {
	d := &jsonDecoder{b: body}
	err := d.object(func(key string) error {
		var err error
		var v int64
		var s string
		switch key {
		case "type":
			s, err = d.optStr()
			m.Type = msgType(s)
		case "step":
			m.Step, err = d.optStr()
		case "errno":
			v, err = d.integer(true, strconv.IntSize)
			m.Errno = int(v)
		case "msg":
			m.Msg, err = d.optStr()
		case "panic":
			m.Panic, err = d.boolean()
		case "stack":
			m.Stack, err = d.optStr()
		case "ok":
			m.OK, err = d.boolean()
		case "output":
			m.Output, err = d.raw()
		case "pid":
			v, err = d.integer(true, strconv.IntSize)
			m.Pid = int(v)
		default:
			err = d.skip(0)
		}
		return err
	})
	if err == nil {
		err = d.end()
	}
	return err
}

// frameBody encodes v as a frame's body: jobs and messages with this
// codec, anything else with encoding/json.
func frameBody(v any) ([]byte, error) {
	switch v := v.(type) {
	case *job:
		return appendJob(nil, v), nil
	case job:
		return appendJob(nil, &v), nil
	case *message:
		return appendMessage(nil, v), nil
	case message:
		return appendMessage(nil, &v), nil
	}
	return json.Marshal(v)
}

// parseFrameBody decodes a frame's body into v: jobs and messages with
// this codec, anything else with encoding/json.
func parseFrameBody(body []byte, v any) error {
	switch v := v.(type) {
	case *job:
		return parseJob(body, v)
	case *message:
		return parseMessage(body, v)
	}
	return json.Unmarshal(body, v)
}
