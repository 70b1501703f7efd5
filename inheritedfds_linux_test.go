package namespace

import (
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestListFDs compares listFDs with os.ReadDir of the same directory,
// with descriptors open at 100 and 3000 (two getdents calls of listFDs'
// buffer are needed for a table that large only if many are open: 40 are).
func TestListFDs(t *testing.T) {
	var opened []int
	defer func() {
		for _, fd := range opened {
			unix.Close(fd)
		}
	}()
	for _, from := range []int{100, 3000} {
		fd, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, from)
		if err != nil {
			t.Skipf("F_DUPFD_CLOEXEC from %d: %v", from, err)
		}
		opened = append(opened, fd)
	}
	for range 40 {
		fd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, fd)
	}
	self, err := unix.Open("/proc/self", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no procfs: %v", err)
	}
	defer unix.Close(self)
	got, err := listFDs(self)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, e := range entries {
		fd, _ := strconv.Atoi(e.Name())
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			want = append(want, fd) // not ReadDir's own, closed by now
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("listFDs = %v, want %v", got, want)
	}
	for _, fd := range opened {
		if !slices.Contains(got, fd) {
			t.Errorf("listFDs misses descriptor %d", fd)
		}
	}
}

// TestAppendDirentFDs feeds appendDirentFDs records as the kernel lays
// them out, and ones it never would: names that are not numbers, a
// number too large, a record longer than the buffer, one shorter than
// its header.
func TestAppendDirentFDs(t *testing.T) {
	nameOff := int(unsafe.Offsetof(unix.Dirent{}.Name))
	reclenOff := int(unsafe.Offsetof(unix.Dirent{}.Reclen))
	rec := func(name string, reclen int) []byte {
		if reclen == 0 {
			reclen = (nameOff + len(name) + 1 + 7) &^ 7
		}
		b := make([]byte, max(reclen, nameOff+len(name)+1))
		binary.NativeEndian.PutUint16(b[reclenOff:], uint16(reclen))
		copy(b[nameOff:], name)
		return b[:max(reclen, nameOff)]
	}
	cat := func(rs ...[]byte) []byte { return slices.Concat(rs...) }
	for _, tc := range []struct {
		name string
		b    []byte
		skip int
		want []int
	}{
		{"kernel's", cat(rec(".", 0), rec("..", 0), rec("0", 0), rec("17", 0), rec("1048575", 0)), -1, []int{0, 17, 1048575}},
		{"skipped", cat(rec("3", 0), rec("4", 0)), 3, []int{4}},
		{"not numbers", cat(rec("x", 0), rec("1x", 0), rec("", 0), rec("5", 0)), -1, []int{5}},
		{"too large", cat(rec("99999999999999999999", 0), rec("6", 0)), -1, []int{6}},
		{"past the end", cat(rec("7", 0), rec("8", 64)[:nameOff+2]), -1, []int{7}},
		{"shorter than its header", cat(rec("9", 0), rec("", nameOff-1)), -1, []int{9}},
		{"truncated header", cat(rec("10", 0), []byte{1, 2, 3}), -1, []int{10}},
	} {
		if got := appendDirentFDs(nil, tc.b, tc.skip); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
