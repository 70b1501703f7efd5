// Package wire is the encoding of the child protocol of
// github.com/linuxns/namespace: the job a parent sends to the child it
// starts (with the set-up plan) and the messages the child sends back.
//
// The encoding is binary and byte-exact: every string and byte slice
// (paths, argv, function arguments, hostnames, error text, stacks) is a
// length and its raw bytes, so that whatever bytes the parent holds reach
// the child unchanged, invalid UTF-8 and NUL bytes included. (A JSON
// encoding would replace invalid UTF-8 with U+FFFD: a different file would
// be opened, a different program run.)
//
// # Layout
//
// An encoded job or message is
//
//	header: "LNSW", the version (one byte, Version), the kind ('J' job, 'M' message)
//	fields: every field of the type, in a fixed order, each as
//	        a tag byte (field number << 3 | value kind) and the value
//
// The value kinds are
//
//	bool    one byte, 0 or 1
//	uint    unsigned varint (encoding/binary's AppendUvarint), minimal
//	int     signed zig-zag varint (encoding/binary's AppendVarint), minimal
//	bytes   unsigned varint length, then the bytes
//	opt     one byte, 0 (absent: nil) or 1 (present), then, if present,
//	        a varint length and the bytes
//	list    one byte, 0 (nil) or 1, then, if 1, a varint count and count
//	        times a varint length and the bytes
//	struct  the nested type's fields (the plan in a job)
//	structs one byte, 0 (nil) or 1, then, if 1, a varint count and count
//	        times the nested type's fields (the plan's steps)
//
// Every field is always present, so there is exactly one encoding of each
// value, and decoding is strict: a header of another version (ErrVersion)
// or kind, a missing, unknown or misplaced tag, a truncated value, a
// length or count beyond the bytes left, a varint that is not minimal or
// overflows its field, a bool byte other than 0 or 1, and bytes after the
// last field are errors. Decoding never panics, and it allocates no more
// than a small multiple of its input's size. A value that decodes encodes
// back to the same bytes.
//
// The parent and the child are the same program (the child is the parent's
// executable, executed again), so there is no negotiation: a frame of
// another version is refused.
package wire

import (
	"encoding/json"
	"errors"
)

// Version is the version of the encoding, the fifth byte of every
// encoded job or message. A change of the layout changes it.
const Version = 1

// MaxSize bounds an encoded job or message: decoding refuses larger input.
const MaxSize = 64 << 20

// ErrVersion is wrapped by the error of decoding a job or message encoded
// with another version of the encoding.
var ErrVersion = errors.New("wire: unsupported version of the child protocol")

// Role is what a job asks the child to do.
type Role string

// The roles of a job.
const (
	RoleFunc  Role = "func"  // run a registered function
	RoleExec  Role = "exec"  // set up, then execve a command
	RoleSetup Role = "setup" // set up, then continue the program (Setup)
	// RolePrewarm: set up, then wait in Init, without a time limit, for a
	// second job (RoleFunc) on the same socket: a child of a pool
	// (Namespace.Pool).
	RolePrewarm Role = "prewarm"
)

// Job is what the parent asks of the child.
type Job struct {
	Token string          // the token of the child's environment
	Role  Role            // what to do
	Plan  Plan            // the set-up
	Func  string          // RoleFunc: the registered function's name
	Args  []string        // RoleFunc: the function's arguments (Run)
	Input json.RawMessage // RoleFunc: the task's input, JSON (Task)
	Path  string          // RoleExec: the resolved program
	Argv  []string        // RoleExec: its argv
	Nonce string          // the nonce of the child's hello that this job answers
}

// Plan is the in-namespace set-up, computed by the parent from the options.
type Plan struct {
	Flags uintptr // the CLONE_NEW* flags of the namespaces created
	// Steps is the set-up, in the order in which the child performs it.
	Steps []Step
	PID1  bool // the child is PID 1 of a new PID namespace
	Init  bool // a minimal init is PID 1, the command PID 2 (WithMinimalInit)
	Debug bool // the child logs its steps to standard error
	// KillDescendants: a subreaper in front of the child ends its
	// descendants (WithKillDescendants without a PID namespace).
	KillDescendants bool
	// ParentNS identifies the parent's namespaces of the kinds the child
	// must not share, as "name:dev:ino", for a child that cannot read its
	// parent's (from a new user namespace).
	ParentNS []string
}

// StepKind is the kind of a set-up step.
type StepKind uint8

// The kinds of set-up steps. Their names, their order in a plan and their
// execution are the root package's; the encoding carries any value.
const (
	StepRPrivate    StepKind = iota + 1 // mount(2) Flags (MS_REC|MS_PRIVATE) on Target, "/"
	StepTmpfs                           // mount a tmpfs on Target with Flags and Data
	StepProc                            // mount proc on Target with Flags
	StepHostname                        // set the hostname to Data
	StepLoopback                        // bring lo up
	StepTimeNS                          // create a time namespace for the children
	StepTimeOffsets                     // write Data to /proc/self/timens_offsets
	// StepWorkDir enters the working directory again by its path: Target,
	// or, if it is empty, the path of the working directory before the
	// first step. With Flags&StepDirExplicit, a directory that is not there
	// is an error; else the step falls back to /.
	StepWorkDir

	// StepCgroup is the child's cgroup, made (or, Target, opened) by the
	// parent before the clone, which puts the child in it
	// (CLONE_INTO_CGROUP), and removed by the parent when the child has
	// ended: neither executor performs it, and it is not sent to a child.
	// The cgroup range is 80-95.
	StepCgroup StepKind = 80
)

// The kinds of the filesystem view's steps (16-39). Destinations (Target)
// are absolute paths resolved in the view's root (the new root, once
// StepNewRoot made one). Every step that mounts is in two parts: a source
// step that makes a detached mount tree, held by the executor, and a
// StepAttach that attaches it. A destination that does not exist is
// created only below its anchor (StepAnchorLen), the destination of an
// earlier step that made a fresh file system.
const (
	// StepNewRoot makes the tree that becomes the root: a recursive bind
	// of the directory Data, or, if Data is empty, a fresh tmpfs. It is
	// attached over the old root, which stays the process's root until
	// StepPivot.
	StepNewRoot StepKind = 16
	// StepBindSource clones the tree at Data (a recursive bind), with the
	// mount attributes Flags&StepAttrMask added to every mount of it;
	// with StepOptional a missing source is skipped, and so is its attach.
	StepBindSource StepKind = 17
	// StepFileSource makes a file with the content Data and the
	// permissions Flags&0o7777 on a tmpfs made for it, with the mount
	// attributes Flags>>12&StepAttrMask.
	StepFileSource StepKind = 18
	// StepFSSource makes a new file system of type Target with the
	// options Data (key NUL value NUL …; an empty value sets a flag) and
	// the mount attributes Flags&StepAttrMask.
	StepFSSource StepKind = 19
	// StepOverlaySource makes an overlay of the directory Data with an
	// upper layer on a fresh tmpfs.
	StepOverlaySource StepKind = 20
	// StepAttach attaches the tree of the last source step at Target.
	StepAttach StepKind = 21
	// StepSetAttr adds the mount attributes Flags&StepAttrMask to every
	// mount at and below Target (mount_setattr with AT_RECURSIVE).
	StepSetAttr StepKind = 22
	// StepSymlink makes the symbolic link Target with the content Data.
	StepSymlink StepKind = 23
	// StepDir makes the directory Target with the permissions
	// Flags&0o7777.
	StepDir StepKind = 24
	// StepPivot makes the new root the process's root (pivot_root); the
	// old root stays attached over it, unreachable by any path, until
	// StepDetachOldRoot (a fresh /proc is mounted between the two: the
	// kernel allows that in a user namespace only while a full /proc is
	// in the mount namespace).
	StepPivot StepKind = 25
	// StepDetachOldRoot detaches the old root (umount2 MNT_DETACH).
	StepDetachOldRoot StepKind = 26
)

// The flags of the filesystem view's steps.
const (
	StepAttrReadOnly = 0x1 // MOUNT_ATTR_RDONLY
	StepAttrNoSuid   = 0x2 // MOUNT_ATTR_NOSUID
	StepAttrNoDev    = 0x4 // MOUNT_ATTR_NODEV
	StepAttrNoExec   = 0x8 // MOUNT_ATTR_NOEXEC
	StepAttrMask     = 0xf
	// StepOptional: a missing source is skipped (StepBindSource), and so
	// is the attach of a skipped source (StepAttach).
	StepOptional = 1 << 16
	// StepProcGuard marks the StepBindSource and StepAttach that make a
	// part of a fresh /proc read-only (/proc/sys, /proc/sysrq-trigger …):
	// they belong with the /proc's mount, wherever it is performed. The
	// executors ignore it.
	StepProcGuard = 1 << 17
)

// StepAnchorLen returns the length of the anchor of a StepAttach,
// StepSymlink or StepDir with flags f, the prefix of its Target below
// which a missing destination is created, or -1 if it has none (the
// destination must exist).
func StepAnchorLen(f uint64) int { return int(f>>32&0xffff) - 1 }

// StepWithAnchor returns the flags f with an anchor of n bytes (n < 0:
// none).
func StepWithAnchor(f uint64, n int) uint64 { return f&^(0xffff<<32) | uint64(n+1)<<32 }

// The kinds of the privilege and limit steps (reserved range 40-63), run
// after the working directory, in this order.
const (
	// StepRlimit sets resource Flags to Data: "SOFT HARD", decimal.
	StepRlimit StepKind = 40
	// StepNewSession starts a new session (setsid).
	StepNewSession StepKind = 41
	// StepLandlock applies a Landlock ruleset: Flags holds the handled
	// file system rights (bits 0-31) and network rights (bits 32-47);
	// Data the rules (see the root package's landlock_linux.go).
	StepLandlock StepKind = 42
	// StepCapabilities drops every capability outside the mask Flags.
	StepCapabilities StepKind = 43
	// StepNoNewPrivs sets no_new_privs.
	StepNoNewPrivs StepKind = 44
	// StepSeccomp installs the BPF program Data (struct sock_filter
	// entries, native byte order), after setting no_new_privs.
	StepSeccomp StepKind = 45
)

// The step kinds of joining existing namespaces (WithJoin,
// WithJoinProcess): the numbers 64-79 are theirs.
const (
	// StepJoin enters the namespace of kind Flags (a CLONE_NEW* flag)
	// whose file is at Target.
	StepJoin StepKind = 64
	// StepJoinProcess enters the namespaces of kinds Flags (CLONE_NEW*
	// flags; 0: every kind that differs) of the process whose pid is
	// Target, in decimal.
	StepJoinProcess StepKind = 65
	// StepUnshare creates the namespaces of Flags by unshare(2): those
	// that must be created after a join (inside a joined user
	// namespace, or a mount namespace on top of a joined one).
	StepUnshare StepKind = 66
	// StepJoinFD enters the namespaces of Flags through the descriptor
	// Data (decimal): a join resolved by the process that performs it;
	// Target names the file for errors. It is never sent to a child.
	StepJoinFD StepKind = 67
	// StepSubIDs says that the id maps of the new user namespace are
	// written by newuidmap and newgidmap (WithPrivateUser(SubIDs())),
	// which need the pid of a process in it before its set-up: a
	// re-executed Go child then makes its namespaces by the raw process of
	// its join stage, whose id maps it writes. It performs nothing.
	StepSubIDs StepKind = 68
)

// StepDirExplicit is the flag of a StepWorkDir whose directory was asked
// for explicitly (Command's Dir, StartProcess's attr.Dir).
const StepDirExplicit = 1

// Step is one step of the set-up: a kind and its arguments.
type Step struct {
	Kind   StepKind // what to do
	Target string   // the mount point, or the directory to enter
	Data   string   // mount data, hostname, or time offsets
	Flags  uint64   // mount flags, or StepDirExplicit
}

// MsgType is the type of a message.
type MsgType string

// The types of messages.
const (
	MsgAck     MsgType = "ack"     // job read and accepted
	MsgReady   MsgType = "ready"   // set-up done
	MsgRunning MsgType = "running" // Init dispatched the function
	MsgResult  MsgType = "result"  // the function's outcome
	MsgError   MsgType = "error"   // set-up or protocol failure; the child exits 125
	MsgNoInit  MsgType = "noinit"  // the program used the package before Init
	MsgIdle    MsgType = "idle"    // a pool child waits in Init for its job
	// MsgHello: the child, having checked its parent, asks for its job;
	// Msg is a fresh nonce that the job must carry (Job.Nonce).
	MsgHello MsgType = "hello"
)

// Message is what the child tells the parent.
type Message struct {
	Type   MsgType         // what happened
	Step   string          // MsgError: the failed step
	Errno  int             // MsgError: the errno of the failure, or 0
	Msg    string          // MsgError, MsgResult: the error's text
	Panic  bool            // MsgResult: the function panicked (Msg is the value)
	Stack  string          // MsgResult: the stack of the panic
	OK     bool            // MsgResult: the function returned nil
	Output json.RawMessage // MsgResult: the task's output, JSON
	Pid    int             // MsgAck: the child's process ID
}
