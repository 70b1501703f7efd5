//go:build linux

package namespace

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linuxns/namespace/syscalls"
)

// TestJoinProcessWithoutPidfd: on kernels before 5.8 (setns takes no
// pidfd) the namespaces of a process are joined through its
// /proc/PID/ns files, user first.
func TestJoinProcessWithoutPidfd(t *testing.T) {
	pid := joinTarget(t)
	old := setnsPidfd
	setnsPidfd = func() bool { return false }
	defer func() { setnsPidfd = old }()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := New(WithJoinProcess(pid)).StartProcess("/bin/sh", []string{"sh", "-c", joinScript}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	buf := make([]byte, 4096)
	for {
		m, err := r.Read(buf)
		out.Write(buf[:m])
		if err != nil {
			break
		}
	}
	if st, err := p.Wait(); err != nil || !st.Success() {
		t.Fatal(st, err)
	}
	wantJoined(t, out.String(), pid)
}

// TestHandleTimeNamespace: the jobs of a Handle with a time namespace see
// its clock offsets (the namespace is joined through time_for_children).
func TestHandleTimeNamespace(t *testing.T) {
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("this kernel has no time namespaces")
	}
	h, err := testNS(WithPrivateTime(0, 1000*time.Hour)).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	out, err := h.Command(context.Background(), "cat", "/proc/uptime").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatalf("uptime %q", out)
	}
	up, _ := strconv.ParseFloat(f[0], 64)
	if up < 1000*3600 {
		t.Errorf("uptime in the held time namespace %v s, want the 1000 h offset", up)
	}
	if err := h.Pin(syscalls.Time, "relative"); err == nil {
		t.Error("Pin on a relative path")
	}
}
