//go:build linux

package nstest

import (
	"regexp"
	"strings"
	"testing"
)

func TestChildRunPattern(t *testing.T) {
	for _, c := range []struct{ name, user, want string }{
		{"TestA", "", "^TestA$"},
		{"TestA", "TestA", "^TestA$"},
		{"TestA", "^TestA$/two", "^TestA$/two"},
		{"TestA", "TestA/two/x", "^TestA$/two/x"},
		{"TestA/sub", "TestA", "^TestA$/^sub$"},
		{"TestA/sub", "TestA/sub/(x|y)", "^TestA$/^sub$/(x|y)"},
		{"TestA", "TestB/one|TestA/two", "^TestA$/two"},
		{"TestA", "TestA/one|TestA/two", "^TestA$/one|^TestA$/two"},
		{"TestA", "TestA/one|Test", "^TestA$"},
		{"TestA", "Test[/]A/x", "^TestA$"}, // '/' inside brackets does not split
		{"a.b(c)/x|y", "", `^a\.b\(c\)$/^x\|y$`},
	} {
		if got := childRunPattern(c.name, c.user); got != c.want {
			t.Errorf("childRunPattern(%q, %q) = %q, want %q", c.name, c.user, got, c.want)
		}
	}
}

func TestRunPatternMatchesOnlyItsTest(t *testing.T) {
	names := []string{"TestA", "TestAB", "TestA/sub", "TestA/sub#01", "TestA/su", "TestA/a.b(c)", "TestA/aXb(c)"}
	for _, name := range names {
		elems := strings.Split(runPattern(name), "/")
		for _, other := range names {
			parts := strings.Split(other, "/")
			match := len(parts) >= len(elems)
			for i := 0; match && i < len(elems); i++ {
				match = regexp.MustCompile(elems[i]).MatchString(parts[i])
			}
			// A pattern for name matches name and its subtests only.
			if want := other == name || strings.HasPrefix(other, name+"/"); match != want {
				t.Errorf("runPattern(%q) matches %q: %v, want %v", name, other, match, want)
			}
		}
	}
}

func TestParseMarker(t *testing.T) {
	if m := parseMarker("2:ab12:TestA/x:y"); m == nil || m.call != 2 || m.nonce != "ab12" || m.name != "TestA/x:y" {
		t.Errorf("parseMarker = %+v", m)
	}
	for _, bad := range []string{"", "TestA", "0:n:TestA", "x:n:TestA", "1::TestA", "1:n:"} {
		if m := parseMarker(bad); m != nil {
			t.Errorf("parseMarker(%q) = %+v, want nil", bad, m)
		}
	}
}

func TestCoverageLineDropped(t *testing.T) {
	for l, want := range map[string]bool{
		"coverage: 18.5% of statements":                 true,
		"coverage: [no statements]":                     true,
		"    nstest_test.go:12: coverage: 5% of things": false,
		"coverage: the body's notes":                    false,
	} {
		if got := coverageLine.MatchString(l); got != want {
			t.Errorf("coverageLine matches %q: %v, want %v", l, got, want)
		}
	}
}
