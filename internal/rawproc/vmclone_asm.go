//go:build linux && (amd64 || 386 || arm64)

package rawproc

// VMClone says that Spawn clones with CLONE_VM on this architecture.
const VMClone = true

// cloneVM makes the system call trap(a1, a2, a3, 0, 0), either clone(flags,
// stack, ptid, 0, 0) with stack the top of a Stack, or clone3(&args, size)
// with the Stack's base and size in args, whose child calls vmChild(a) on
// that stack; on amd64 and arm64 through the entries at fn, vmEntries()
// (386 ignores it). It returns the pid or the errno in the
// parent; the child never returns. In assembly: clone_vm_GOARCH.s.
//
//go:noescape
func cloneVM(trap, a1, a2, a3 uintptr, a *SpawnArgs, fn uintptr) (pid, errno uintptr)
