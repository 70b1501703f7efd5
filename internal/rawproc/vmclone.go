//go:build linux

package rawproc

// The clone that shares the caller's memory until execve.
//
// A fork-style clone copies the caller's page tables: its cost grows with
// the memory the caller has touched (tens of milliseconds for gigabytes).
// Where VMClone is true (amd64, 386 and arm64, which have cloneVM in
// assembly), Spawn clones with CLONE_VM instead: the child runs in the
// caller's address space, on a stack of its own (a Stack, mapped by the
// parent with a guard page below it), until execve gives it an address
// space of its own or it exits. This is what the standard library's forkAndExecInChild does
// with CLONE_VM|CLONE_VFORK, with two differences:
//
//   - The child does not run on the parent's stack, so the parent need not
//     be suspended: without an id-map gate or a hold (Prepare) Spawn adds
//     CLONE_VFORK and the calling thread sleeps until the child has
//     executed the program or exited, as with os/exec; with one, the
//     parent goes on (it writes the id maps, or returns from Prepare)
//     while the child waits on a pipe. os/exec falls back to a full fork
//     for a user namespace; Spawn does not need to.
//   - The child starts in a fresh frame (vmChild, called by cloneVM on the
//     new stack), so it never returns through frames the parent will use.
//
// What the child may touch in the shared memory: it reads the SpawnArgs
// and the buffers it points to (prepared by the parent, which keeps them
// alive and unchanged until the child has executed or exited: the report
// pipe's end of file says so, since the kernel closes close-on-exec
// descriptors after execve has replaced the address space and exit closes
// them after releasing it), and writes only non-pointer fields of them
// (the report, the descriptor numbers, the working directory buffer, the
// ifreq of lo) and its own stack. It writes no Go variable that the parent
// reads, holds no lock, allocates nothing, and runs only nosplit, norace,
// nocheckptr functions, so that no stack check reads the goroutine (the
// g in the thread-local storage it shares with the parent's thread) and
// no race-detector or write-barrier code runs.
//
// Signals: Spawn's caller blocks every signal on a locked thread around
// the clone, so the child starts with all of them blocked, and a Go
// handler (the child has a copy of the parent's dispositions, not the
// table itself: no CLONE_SIGHAND) can never run on the shared memory. The
// child sets the runtime's signals to their default action before it
// sets the program's mask, just before execve. A fault in the child (a
// synchronous signal, which cannot be blocked) is delivered with the
// default action because it is blocked: the child dies, the parent sees a
// missing report.
//
// The child is entered by register-ABI entries on amd64 and arm64
// (vmChildPre, RunSteps, vmChildPost, called in turn by cloneVM), not by a
// CALL of a symbol: that reaches the ABI0 wrapper, which -race instruments
// with racefuncenter although the function is norace (the children
// crashed under -race until TestStartProcessSharedMemory found it).
//
// Where a fork is still needed: the cloned process of WithMinimalInit (PID
// 1), of WithKillDescendants and the TimeFork relay outlive the program's
// execve, so they cannot live in the caller's memory; Spawn forks them,
// and they clone the program (vmChild with a.program) with
// CLONE_VM|CLONE_VFORK onto their own copy of the stack. The subreaper of WithKillDescendants outlives the
// execve too, and is forked. The architectures without cloneVM (arm,
// riscv64, ppc64le, s390x, loong64, ...) fork as before: each needs a
// cloneVM of some 40 lines of assembly, and a guest of its architecture to
// test it (qemu-user, which turns CLONE_VM into a thread, cannot; arm64's
// is tested under qemu-system-aarch64: scripts/vm VMARCH=arm64).

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// StackSize is the size of a Stack, above its guard page. The child runs
// nosplit functions only, whose frames the linker limits to a few
// kilobytes altogether; the rest is margin.
const StackSize = 64 << 10

// A Stack is memory outside the Go heap for a CLONE_VM child, with an
// inaccessible guard page below it, so that an overflow faults instead of
// writing into the caller's memory.
type Stack struct {
	mem []byte
	end uintptr // the address above mem's last byte
}

// NewStack maps a Stack.
func NewStack() (*Stack, error) {
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, page+StackSize, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	if err := unix.Mprotect(mem[page:], unix.PROT_READ|unix.PROT_WRITE); err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	return &Stack{mem: mem, end: uintptr(unsafe.Pointer(&mem[len(mem)-1])) + 1}, nil
}

// top returns the address above the stack's last byte (stacks grow down).
// A forked PID 1 calls it: no bounds check.
//
//go:nosplit
//go:norace
func (s *Stack) top() uintptr {
	return s.end
}

// base returns the address of the stack's lowest byte, above the guard
// page (clone3(2) takes the base and the size).
//
//go:nosplit
//go:norace
func (s *Stack) base() uintptr {
	return s.end - StackSize
}

// Free unmaps the stack. Call it only once the child that ran on it has
// executed its program or exited (or was never cloned).
func (s *Stack) Free() {
	if s != nil && s.mem != nil {
		_ = unix.Munmap(s.mem)
		s.mem = nil
	}
}

// vmEntryTable holds the register-ABI entries of vmChildPre, RunSteps and
// vmChildPost, in that order, which cloneVM calls in the child on amd64
// and arm64 (see clone_vm_amd64.s, clone_vm_arm64.s). A func value of a
// top-level function points to a word that holds the address of its code,
// the ABIInternal entry.
var vmEntryTable = func() (t [3]uintptr) {
	pre, steps, post := vmChildPre, RunSteps, vmChildPost
	t[0] = **(**uintptr)(unsafe.Pointer(&pre))
	t[1] = **(**uintptr)(unsafe.Pointer(&steps))
	t[2] = **(**uintptr)(unsafe.Pointer(&post))
	return t
}()

// vmEntries returns the address of vmEntryTable, cloneVM's fn.
//
//go:nosplit
//go:norace
//go:nocheckptr
func vmEntries() uintptr {
	return uintptr(unsafe.Pointer(&vmEntryTable))
}
