//go:build linux && (amd64 || 386)

package rawproc

// VMClone says that Spawn clones with CLONE_VM on this architecture.
const VMClone = true

// cloneVM is clone(flags, stack, ptid, 0, 0) whose child calls vmChild(a)
// on stack (the top of a Stack); on amd64 through the entries at fn,
// vmEntries() (386 ignores it). It returns the pid or the errno in the
// parent; the child never returns. In assembly: clone_vm_GOARCH.s.
//
//go:noescape
func cloneVM(flags, stack, ptid uintptr, a *SpawnArgs, fn uintptr) (pid, errno uintptr)
