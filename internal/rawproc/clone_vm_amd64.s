// Clone with CLONE_VM onto a stack of its own (see vmclone.go).

#include "textflag.h"

#define SYS_clone	56
#define SYS_exit_group	231

// func cloneVM(flags, stack, ptid uintptr, a *SpawnArgs, fn uintptr) (pid, errno uintptr)
//
// clone(flags, stack, ptid, 0, 0). The parent returns the child's pid or
// the errno. The child starts on the new stack (the kernel switched SP),
// calls fn(a) and, should it return, exits with status 125. a and fn are
// kept in R12 and R13, which the SYSCALL instruction preserves in both
// processes.
//
// fn is vmChild's ABIInternal entry (vmChildPC), called directly with the
// register ABI: a in AX, the goroutine in R14 (still the caller's, as on
// entry here; the nosplit child never reads it) and X15 zero. A CALL of
// ·vmChild(SB) would go through the ABI0-to-ABIInternal wrapper, which the
// race detector instruments (racefuncenter: runtime code on the child's
// stack with the caller's goroutine) although vmChild is norace.
TEXT ·cloneVM(SB),NOSPLIT,$0-56
	MOVQ	flags+0(FP), DI
	MOVQ	stack+8(FP), SI
	MOVQ	ptid+16(FP), DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	MOVQ	a+24(FP), R12
	MOVQ	fn+32(FP), R13
	MOVL	$SYS_clone, AX
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, pid+40(FP)
	NEGQ	AX
	MOVQ	AX, errno+48(FP)
	RET
ok:
	MOVQ	AX, pid+40(FP)
	MOVQ	$0, errno+48(FP)
	RET
child:
	// The child: SP is the top of the new stack. Nothing of the parent's
	// stack is touched from here on.
	NOP	SP // SP changed: stop vet's offset checks
	ANDQ	$~15, SP
	SUBQ	$16, SP
	MOVQ	R12, AX
	MOVQ	$0, BP
	XORPS	X15, X15
	CALL	R13
	MOVL	$125, DI
	MOVL	$SYS_exit_group, AX
	SYSCALL
	INT	$3
