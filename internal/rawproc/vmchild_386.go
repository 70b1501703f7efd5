//go:build linux && 386

package rawproc

// vmChild is the child of cloneVM, on its own stack in the caller's
// memory: the set-up, then the program (never WithMinimalInit's PID 1 nor
// WithKillDescendants' process: see SharesMemory); or, cloned by those
// (a.program), the program, PID 2, in their memory.
//
//go:nosplit
//go:norace
//go:nocheckptr
//lint:ignore U1000 called from clone_vm_386.s
func vmChild(a *SpawnArgs) {
	vmChildPre(a)
	// The set-up: the plan's steps, in order.
	i, e := RunSteps(a.Steps, &a.WD)
	vmChildPost(a, i, e)
}
