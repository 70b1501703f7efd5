// Clone with CLONE_VM onto a stack of its own (see vmclone.go).

#include "go_asm.h"
#include "textflag.h"

#define SYS_exit_group	94

// func cloneVM(trap, a1, a2, a3 uintptr, a *SpawnArgs, fn uintptr) (pid, errno uintptr)
//
// The system call trap(a1, a2, a3, 0, 0): clone(flags, stack, ptid, 0, 0)
// or clone3(&args, size) (arm64's clone takes flags, stack and ptid first,
// as amd64's). The parent returns the child's pid or the errno. The child
// starts on the new stack (the kernel set SP) and calls, with the register
// ABI, the entries in the table at fn (vmEntries): vmChildPre(a),
// RunSteps(a.Steps, &a.WD) and vmChildPost(a, i, e), which never returns;
// should it, the child exits with status 125. a and fn are kept in R19
// and R20 across the system call (SVC preserves every register but R0 in
// both processes), then in the child's frame.
//
// The calls follow the register ABI: arguments in R0-R3, the goroutine in
// g (R28; still the caller's, as on entry here: the nosplit child never
// reads it), and spill space for the arguments above the word at 0(RSP).
// As on amd64, calling the functions' symbols would go through the
// ABI0-to-ABIInternal wrappers, which the race detector instruments.
// NOFRAME: no prologue saves LR on the parent's stack; the parent's path
// calls nothing.
TEXT ·cloneVM(SB),NOSPLIT|NOFRAME,$0-64
	MOVD	a1+8(FP), R0
	MOVD	a2+16(FP), R1
	MOVD	a3+24(FP), R2
	MOVD	$0, R3
	MOVD	$0, R4
	MOVD	a+32(FP), R19
	MOVD	fn+40(FP), R20
	MOVD	trap+0(FP), R8
	SVC
	CMP	$0, R0
	BEQ	child
	CMN	$4095, R0
	BCS	failed
	MOVD	R0, pid+48(FP)
	MOVD	ZR, errno+56(FP)
	RET
failed:
	MOVD	$-1, R1
	MOVD	R1, pid+48(FP)
	NEG	R0, R0
	MOVD	R0, errno+56(FP)
	RET
child:
	// The child: SP is the top of the new stack (clone3 adds the size
	// to the stack's base). Nothing of the parent's stack is touched from
	// here on. Frame, 64 bytes, SP 16-byte aligned: 0-7 unused (each callee
	// saves LR at its own 0(RSP), below this frame), the callees' spill
	// space 8-39, a at 40, fn at 48.
	MOVD	RSP, R9
	AND	$~15, R9
	SUB	$64, R9
	MOVD	R9, RSP
	MOVD	R19, 40(RSP)
	MOVD	R20, 48(RSP)
	MOVD	ZR, R29 // no frame above this one
	MOVD	R19, R0
	MOVD	0(R20), R9
	CALL	(R9) // vmChildPre(a): returns if the set-up so far succeeded
	MOVD	40(RSP), R4
	MOVD	SpawnArgs_Steps(R4), R0
	MOVD	(SpawnArgs_Steps+8)(R4), R1
	MOVD	(SpawnArgs_Steps+16)(R4), R2
	ADD	$SpawnArgs_WD, R4, R3
	MOVD	48(RSP), R9
	MOVD	8(R9), R9
	CALL	(R9) // RunSteps(a.Steps, &a.WD): i in R0, errno in R1
	MOVD	R1, R2
	MOVD	R0, R1
	MOVD	40(RSP), R0
	MOVD	48(RSP), R9
	MOVD	16(R9), R9
	CALL	(R9) // vmChildPost(a, i, e): never returns
	MOVD	$125, R0
	MOVD	$SYS_exit_group, R8
	SVC
	UNDEF
