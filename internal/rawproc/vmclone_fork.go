//go:build linux && !amd64 && !386 && !arm64

package rawproc

import "syscall"

// VMClone says that Spawn clones with CLONE_VM on this architecture. It
// has no cloneVM in assembly here, so Spawn forks.
const VMClone = false

// cloneVM is not available on this architecture; Spawn does not call it.
func cloneVM(trap, a1, a2, a3 uintptr, a *SpawnArgs, fn uintptr) (pid, errno uintptr) {
	return 0, uintptr(syscall.ENOSYS)
}
