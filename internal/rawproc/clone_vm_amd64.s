// Clone with CLONE_VM onto a stack of its own (see vmclone.go).

#include "go_asm.h"
#include "textflag.h"

#define SYS_exit_group	231

// func cloneVM(trap, a1, a2, a3 uintptr, a *SpawnArgs, fn uintptr) (pid, errno uintptr)
//
// The system call trap(a1, a2, a3, 0, 0): clone(flags, stack, ptid, 0, 0)
// or clone3(&args, size). The parent returns the child's pid or the
// errno. The child starts on the new stack (the kernel switched SP)
// and calls, with the register ABI, the entries in the table at fn
// (vmEntries): vmChildPre(a), RunSteps(a.Steps, &a.WD) and
// vmChildPost(a, i, e), which never returns; should it, the child exits
// with status 125. a and fn are kept in R12 and R13 across the system call
// (SYSCALL preserves them in both processes), then in the child's frame.
//
// The calls follow the register ABI: arguments in AX, BX, CX, DI, the
// goroutine in R14 (still the caller's, as on entry here; the nosplit
// child never reads it), X15 zero, and spill space for the arguments above
// the return address. Calling the functions' symbols would go through the
// ABI0-to-ABIInternal wrappers, which the race detector instruments
// (racefuncenter: runtime code on the child's stack with the caller's
// goroutine) although the functions are norace. Calling RunSteps from here
// rather than from a Go function keeps its deep nosplit chain within the
// linker's limit (the child's first frame is its root).
TEXT ·cloneVM(SB),NOSPLIT,$0-64
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	a3+24(FP), DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	MOVQ	a+32(FP), R12
	MOVQ	fn+40(FP), R13
	MOVQ	trap+0(FP), AX
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, pid+48(FP)
	NEGQ	AX
	MOVQ	AX, errno+56(FP)
	RET
ok:
	MOVQ	AX, pid+48(FP)
	MOVQ	$0, errno+56(FP)
	RET
child:
	// The child: SP is the top of the new stack (clone3 adds the size
	// to the stack's base). Nothing of the parent's
	// stack is touched from here on. Frame: spill space 0-31, a at 32, fn
	// at 40.
	NOP	SP // SP changed: stop vet's offset checks
	ANDQ	$~15, SP
	SUBQ	$48, SP
	MOVQ	R12, 32(SP)
	MOVQ	R13, 40(SP)
	MOVQ	$0, BP
	XORPS	X15, X15
	MOVQ	R12, AX
	MOVQ	0(R13), DX
	CALL	DX // vmChildPre(a): returns if the set-up so far succeeded
	MOVQ	32(SP), DI
	MOVQ	SpawnArgs_Steps(DI), AX
	MOVQ	(SpawnArgs_Steps+8)(DI), BX
	MOVQ	(SpawnArgs_Steps+16)(DI), CX
	LEAQ	SpawnArgs_WD(DI), DI
	XORPS	X15, X15
	MOVQ	40(SP), DX
	MOVQ	8(DX), DX
	CALL	DX // RunSteps(a.Steps, &a.WD): i in AX, errno in BX
	MOVQ	BX, CX
	MOVQ	AX, BX
	MOVQ	32(SP), AX
	XORPS	X15, X15
	MOVQ	40(SP), DX
	MOVQ	16(DX), DX
	CALL	DX // vmChildPost(a, i, e): never returns
	MOVL	$125, DI
	MOVL	$SYS_exit_group, AX
	SYSCALL
	INT	$3
