//go:build linux

package rawproc

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The raw children (ForkInit, Spawn) pass kernelSigaction to
// rt_sigaction(2), which writes the architecture's whole struct sigaction
// into it: 5 words on 32-bit systems. Nothing may be written past it.
func TestKernelSigactionFits(t *testing.T) {
	var buf struct {
		act   kernelSigaction
		guard [64]byte
	}
	for i := range buf.guard {
		buf.guard[i] = 0xa5
	}
	// The Go runtime handles SIGURG, with a full mask.
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGURG), 0, uintptr(unsafe.Pointer(&buf.act)), 8, 0, 0); e != 0 {
		t.Fatalf("rt_sigaction: %v", e)
	}
	for i, b := range buf.guard {
		if b != 0xa5 {
			t.Fatalf("rt_sigaction wrote past kernelSigaction (%d bytes), at byte %d after it", unsafe.Sizeof(buf.act), i)
		}
	}
	if buf.act[0] == 0 || buf.act[0] == 1 {
		t.Errorf("handler of SIGURG read as %#x (SIG_DFL or SIG_IGN); the Go runtime's was expected in the first word", buf.act[0])
	}
}
