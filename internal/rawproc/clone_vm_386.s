// Clone with CLONE_VM onto a stack of its own (see vmclone.go).

#include "textflag.h"

#define SYS_exit_group	252

// func cloneVM(trap, a1, a2, a3 uintptr, a *SpawnArgs, fn uintptr) (pid, errno uintptr)
//
// The system call trap(a1, a2, a3, 0, 0), clone(flags, stack, ptid, 0, 0)
// or clone3(&args, size), through INT $0x80, which preserves every
// register but AX (the vDSO's entry would return on the parent's stack).
// The parent returns the child's pid or the errno. The child starts on the
// new stack, calls vmChild(a) and, should it return, exits with status 125
// (fn is not needed: 386 has one ABI, and no race detector).
// a is kept in BP, which neither clone(2) nor clone3(2) reads on 386.
TEXT ·cloneVM(SB),NOSPLIT,$0-32
	MOVL	a1+4(FP), BX
	MOVL	a2+8(FP), CX
	MOVL	a3+12(FP), DX
	MOVL	$0, SI
	MOVL	$0, DI
	MOVL	a+16(FP), BP
	MOVL	trap+0(FP), AX
	INT	$0x80
	CMPL	AX, $0
	JEQ	child
	CMPL	AX, $0xfffff001
	JLS	ok
	MOVL	$-1, pid+24(FP)
	NEGL	AX
	MOVL	AX, errno+28(FP)
	RET
ok:
	MOVL	AX, pid+24(FP)
	MOVL	$0, errno+28(FP)
	RET
child:
	NOP	SP // SP changed: stop vet's offset checks
	ANDL	$~15, SP
	SUBL	$16, SP
	MOVL	BP, 0(SP)
	CALL	·vmChild(SB)
	MOVL	$125, BX
	MOVL	$SYS_exit_group, AX
	INT	$0x80
	INT	$3
