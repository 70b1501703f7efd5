//go:build linux

package syscalls

import (
	"os"
	"testing"
)

func countFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// The functions that open files hand them to the caller, and those that
// open something internally close it: repeated use leaves no descriptor.
func TestNoFDLeak(t *testing.T) {
	once := func() {
		for _, typ := range Types() {
			f, err := OpenNS(0, 0, typ)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := IDOfFile(f); err != nil {
				t.Fatal(err)
			}
			if typ != User {
				u, err := GetUserns(f)
				if err != nil {
					t.Fatal(err)
				}
				u.Close()
			}
			if _, err := GetParent(f); err == nil {
				t.Fatalf("GetParent(%s of the test process) succeeded", typ)
			}
			f.Close()
			if _, err := IDOf(0, 0, typ); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := loFlags(); err != nil {
			t.Fatal(err)
		}
	}
	once() // let the runtime open whatever it opens once
	before := countFDs(t)
	for range 50 {
		once()
	}
	if after := countFDs(t); after != before {
		t.Errorf("open descriptors: %d before, %d after", before, after)
	}
}
