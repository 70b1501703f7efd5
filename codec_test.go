//go:build linux

package namespace

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Strings that exercise JSON escaping: quotes, backslashes, control
// characters, HTML characters, U+2028/U+2029, multi-byte runes, invalid
// UTF-8 and a lone surrogate's UTF-8 encoding.
var codecStrings = []string{
	"", "plain", `quote " and \ backslash`, "nl\n cr\r tab\t nul\x00 esc\x1b del\x7f",
	"<html> & </html>", "line\u2028sep\u2029", "ünïcødé 日本 🎉", "bad \xff utf8 \xc3", "\xed\xa0\x80",
	"/slash/", "\\u0041 literal",
}

func codecJobs() []job {
	tmp := "mode=1777,size=1024"
	empty := ""
	var jobs []job
	for i, s := range codecStrings {
		jobs = append(jobs, job{
			Token: "0123456789abcdef0123456789abcdef",
			Role:  roleFunc,
			Plan: plan{Flags: 0x7e020000, RPrivate: true, TmpData: &tmp, Proc: i%2 == 0, Hostname: s,
				Loopback: true, Time: true, Monotonic: -3 * time.Hour, Boottime: time.Duration(i) * time.Second,
				PID1: true, Init: i%3 == 0, KillGraceNS: 200 * time.Millisecond, Debug: i%2 == 1},
			Func:  s,
			Args:  []string{s, "", s + s},
			Input: json.RawMessage(`{"words":["a",` + strings.Repeat(`[`, 3) + `1.5e3` + strings.Repeat(`]`, 3) + `],"n":null}`),
		})
	}
	jobs = append(jobs,
		job{Token: "t", Role: roleExec, Path: "/bin/true", Argv: []string{"true", "--", "x y"}},
		job{Token: "t", Role: roleSetup, Plan: plan{TmpData: &empty}},
		job{Token: "t", Role: roleFunc, Func: "f", Input: json.RawMessage(`null`)},
		job{},
	)
	return jobs
}

func codecMessages() []message {
	var ms []message
	for i, s := range codecStrings {
		ms = append(ms, message{Type: msgResult, Step: s, Errno: i - 3, Msg: s, Panic: i%2 == 0, Stack: s + "\n\tgoroutine 1", OK: i%2 == 1,
			Output: mustJSON(map[string]any{"joined": s, "n": -1e-3}), Pid: i * 1000})
	}
	return append(ms, message{Type: msgAck, Pid: 1}, message{Type: msgResult, OK: true, Output: json.RawMessage(`null`)}, message{})
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// normalizeText replaces what JSON cannot carry (invalid UTF-8) as
// encoding/json does, so that round trips can be compared.
func normalizeText(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := reflect.New(reflect.TypeOf(v)).Interface()
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return reflect.ValueOf(out).Elem().Interface()
}

// The codec writes what encoding/json reads, and reads what encoding/json
// writes, field for field.
func TestCodecJobMatchesEncodingJSON(t *testing.T) {
	for i, j := range codecJobs() {
		want := normalizeText(t, j).(job)

		ours := appendJob(nil, &j)
		if !json.Valid(ours) {
			t.Fatalf("job %d: invalid JSON: %s", i, ours)
		}
		var viaStd job
		if err := json.Unmarshal(ours, &viaStd); err != nil {
			t.Fatalf("job %d: encoding/json cannot read %s: %v", i, ours, err)
		}
		if !reflect.DeepEqual(viaStd, want) {
			t.Errorf("job %d: encoding/json read\n%+v\nwant\n%+v", i, viaStd, want)
		}

		std, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		var viaOurs job
		if err := parseJob(std, &viaOurs); err != nil {
			t.Fatalf("job %d: parseJob(%s): %v", i, std, err)
		}
		if !reflect.DeepEqual(viaOurs, want) {
			t.Errorf("job %d: parseJob read\n%+v\nwant\n%+v", i, viaOurs, want)
		}
	}
}

func TestCodecMessageMatchesEncodingJSON(t *testing.T) {
	for i, m := range codecMessages() {
		want := normalizeText(t, m).(message)

		ours := appendMessage(nil, &m)
		var viaStd message
		if err := json.Unmarshal(ours, &viaStd); err != nil {
			t.Fatalf("message %d: encoding/json cannot read %s: %v", i, ours, err)
		}
		if !reflect.DeepEqual(viaStd, want) {
			t.Errorf("message %d: encoding/json read\n%+v\nwant\n%+v", i, viaStd, want)
		}

		std, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var viaOurs message
		if err := parseMessage(std, &viaOurs); err != nil {
			t.Fatalf("message %d: parseMessage(%s): %v", i, std, err)
		}
		if !reflect.DeepEqual(viaOurs, want) {
			t.Errorf("message %d: parseMessage read\n%+v\nwant\n%+v", i, viaOurs, want)
		}
	}
}

// Hand-written inputs: parseJob accepts what encoding/json accepts, with
// the same result, and refuses what it refuses.
func TestCodecParseJobAgreesOnEdgeCases(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { } `, `null`, `{"token":null,"args":null,"plan":null,"input":null}`,
		`{"token":"a","token":"b"}`, `{"unknown":{"deep":[1,2,{"x":[true,false,null]}]},"func":"f"}`,
		`{"func":"\u00e9\ud83c\udf89\/\b\f\n\r\t"}`, `{"func":"lone \ud800 surrogate"}`, `{"func":"swapped \udc00\ud800"}`,
		`{"plan":{"flags":0,"monotonic":-1,"grace":9223372036854775807,"tmp":null}}`,
		`{"plan":{"tmp":""}}`, `{"args":[]}`, `{"input":"text"}`, `{"input":-0.5E+3}`,
		// Refused by both.
		``, `{`, `{"func":"f"`, `{"func":"f"} x`, `{"func":"f",}`, `{"func":f}`, `{"args":["a",]}`,
		`{"args":[1]}`, `{"plan":{"flags":-1}}`, `{"plan":{"flags":1.5}}`, `{"plan":{"grace":1e3}}`,
		`{"plan":{"monotonic":99999999999999999999}}`, `{"func":"bad \x escape"}`, "{\"func\":\"ctl \x01\"}",
		`{"func":"\u12"}`, `{"input":01}`, `{"input":[1 2]}`, `{"input":tru}`, `{"plan":{"proc":1}}`, `[]`, `"s"`,
	} {
		var std job
		stdErr := json.Unmarshal([]byte(in), &std)
		var ours job
		ourErr := parseJob([]byte(in), &ours)
		if (stdErr == nil) != (ourErr == nil) {
			t.Errorf("%q: encoding/json error %v, parseJob error %v", in, stdErr, ourErr)
			continue
		}
		if stdErr == nil && !reflect.DeepEqual(std, ours) {
			t.Errorf("%q: encoding/json read %+v, parseJob %+v", in, std, ours)
		}
	}
}

func TestCodecDepthLimit(t *testing.T) {
	deep := `{"input":` + strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2) + `}`
	var j job
	if err := parseJob([]byte(deep), &j); err == nil {
		t.Error("parseJob accepted a value nested beyond the limit")
	}
	ok := `{"input":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}`
	if err := parseJob([]byte(ok), &j); err != nil {
		t.Errorf("parseJob refused 50 levels: %v", err)
	}
}

// FuzzCodecJob: parseJob never panics, accepts only valid JSON, and what it
// reads survives a round trip through appendJob.
func FuzzCodecJob(f *testing.F) {
	for _, j := range codecJobs() {
		f.Add(appendJob(nil, &j))
	}
	f.Add([]byte(`{"plan":{"flags":1},"args":["\ud800"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var j job
		if err := parseJob(body, &j); err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("parseJob accepted invalid JSON %q", body)
		}
		again := appendJob(nil, &j)
		var j2 job
		if err := parseJob(again, &j2); err != nil {
			t.Fatalf("parseJob cannot read appendJob's %q: %v", again, err)
		}
		if !reflect.DeepEqual(normalizeText(t, j), normalizeText(t, j2)) {
			t.Fatalf("round trip changed the job:\n%+v\n%+v", j, j2)
		}
	})
}
