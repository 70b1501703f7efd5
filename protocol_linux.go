package namespace

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/wire"
)

// The child protocol.
//
// The parent starts the child with envChild set to "FD:TOKEN": the number
// of the descriptor at which the child finds its end of a socket pair (the
// first one after those the caller passes: 3 for Run, Setup and pools,
// 3+len(ExtraFiles) for Command), and a fresh random token. The child
// removes envChild from its environment, checks that the socket comes from
// its parent running the same program with the same credentials
// (trust_linux.go), asks for its job with a hello carrying a fresh nonce, reads
// the one job frame that its parent sends in answer (jobreader_linux.go: only
// bytes the parent sent after the hello), checks that the job carries the
// same token and the nonce, and answers with message frames (ack, ready,
// running, result, error). A frame is a 4-byte big-endian length and a job or a message in
// the binary encoding of internal/wire, which carries every string byte
// for byte.

const (
	envChild = "_LINUXNS_CHILD" // "FD:TOKEN"; its presence marks a child
	envStage = "_LINUXNS_STAGE" // "2:FD": re-executed to enter a time namespace; job in the memfd at FD
	envProc  = "_LINUXNS_PROC"  // "FD": the caller's /proc, for the checks of a stage 2 behind a join

	// maxFrame bounds a frame, so that a garbage length cannot make the
	// reader allocate without limit.
	maxFrame = wire.MaxSize
)

// The protocol's types and their encoding are in internal/wire; these
// names keep the package's code short.
type (
	job     = wire.Job
	plan    = wire.Plan
	message = wire.Message
)

const (
	roleFunc    = wire.RoleFunc    // run a registered function
	roleExec    = wire.RoleExec    // set up, then execve a command
	roleSetup   = wire.RoleSetup   // set up, then continue the program (Setup)
	rolePrewarm = wire.RolePrewarm // set up, then wait in Init for a second job: a pool child

	msgAck     = wire.MsgAck     // job read and accepted
	msgReady   = wire.MsgReady   // set-up done
	msgRunning = wire.MsgRunning // Init dispatched the function
	msgResult  = wire.MsgResult  // the function's outcome
	msgError   = wire.MsgError   // set-up or protocol failure; the child exits 125
	msgNoInit  = wire.MsgNoInit  // the program used the package before Init
	msgIdle    = wire.MsgIdle    // a pool child waits in Init for its job
	msgHello   = wire.MsgHello   // the child asks for its job, with a nonce
)

// newToken returns 16 random bytes from the kernel (getrandom(2), as
// crypto/rand reads them), in hex. The package does not import crypto/rand:
// its initialisation would add to every child's start-up. The system call
// is made directly, not through the vDSO (unix.Getrandom): the vDSO's
// first call in a process maps its per-thread state, which a child that
// draws one nonce would pay for nothing.
func newToken() string {
	var b [16]byte
	for got := 0; got < len(b); {
		m, _, e := unix.Syscall(unix.SYS_GETRANDOM, uintptr(unsafe.Pointer(&b[got])), uintptr(len(b)-got), 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			panic("namespace: no randomness for the child token: " + e.Error())
		}
		got += int(m)
	}
	return hex.EncodeToString(b[:])
}

// tokensEqual compares a received token with the expected one in time that
// does not depend on where they differ.
func tokensEqual(a, b string) bool {
	if len(a) != 32 || len(b) != 32 {
		return false
	}
	var diff byte
	for i := range 32 {
		diff |= a[i] ^ b[i]
	}
	return diff == 0
}

// writeFrame writes v, a job or a message, as one frame.
func writeFrame(w io.Writer, v any) error {
	buf := make([]byte, 4, 256) // the length, then the body
	switch v := v.(type) {
	case *job:
		buf = wire.AppendJob(buf, v)
	case job:
		buf = wire.AppendJob(buf, &v)
	case *message:
		buf = wire.AppendMessage(buf, v)
	case message:
		buf = wire.AppendMessage(buf, &v)
	default:
		return fmt.Errorf("%w: a %T is not a frame of the protocol", ErrProtocol, v)
	}
	n := len(buf) - 4
	if n > maxFrame {
		return fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrProtocol, n, maxFrame)
	}
	binary.BigEndian.PutUint32(buf, uint32(n))
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame into v, a *job or a *message. It returns io.EOF
// only at a clean end between frames.
func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("%w: frame length %d exceeds %d", ErrProtocol, n, maxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%w: truncated frame: %w", ErrProtocol, err)
	}
	var err error
	switch v := v.(type) {
	case *job:
		var j *job
		if j, err = wire.DecodeJob(body); err == nil {
			*v = *j
		}
	case *message:
		var m *message
		if m, err = wire.DecodeMessage(body); err == nil {
			*v = *m
		}
	default:
		return fmt.Errorf("%w: cannot read a frame into a %T", ErrProtocol, v)
	}
	if err != nil {
		return fmt.Errorf("%w: bad frame: %w", ErrProtocol, err)
	}
	return nil
}

// answerHello writes j to w in answer to a child's hello, with its nonce.
func answerHello(w io.Writer, j *job, nonce string) error {
	answer := *j
	answer.Nonce = nonce
	return writeFrame(w, &answer)
}

// maxHellos is how many times one child may ask for its job: once per
// stage that executes the program (the first; a second behind a time
// namespace, a join or a subreaper; the privilege stage), with room to
// spare.
const maxHellos = 8

// jobWriteTimeout bounds the writing of a job in answer to a hello. A
// child that asked reads its job at once (and gives up after
// jobReadTimeout); one that writes instead of reading would otherwise hold
// up the reader of its reports, which answers it, while it waits for the
// reader itself.
const jobWriteTimeout = jobReadTimeout

// answerHelloBounded is answerHello for a reader of the child's reports:
// the hellos-th hello of the child is answered if there have not been
// more than maxHellos, within timeout (jobWriteTimeout). Both failures
// wrap ErrProtocol; the caller ends the child.
func answerHelloBounded(f *os.File, j *job, nonce string, hellos int, timeout time.Duration) error {
	if hellos > maxHellos {
		return fmt.Errorf("%w: the child asked for its job %d times; a child asks at most %d", ErrProtocol, hellos, maxHellos)
	}
	_ = f.SetWriteDeadline(time.Now().Add(timeout))
	err := answerHello(f, j, nonce)
	_ = f.SetWriteDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: the child did not read the job it asked for within %v", ErrProtocol, timeout)
	}
	return err
}

// decodeJob parses and checks a job frame's body against the token from the
// environment.
func decodeJob(r io.Reader, token string) (*job, error) {
	var j job
	if err := readFrame(r, &j); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no job on the pipe", ErrProtocol)
		}
		return nil, err
	}
	if !tokensEqual(j.Token, token) {
		return nil, fmt.Errorf("%w: the job's token does not match", ErrProtocol)
	}
	switch j.Role {
	case roleFunc:
		if j.Func == "" {
			return nil, fmt.Errorf("%w: function job without a name", ErrProtocol)
		}
	case roleExec:
		if j.Path == "" || len(j.Argv) == 0 {
			return nil, fmt.Errorf("%w: exec job without a program", ErrProtocol)
		}
	case roleSetup, rolePrewarm:
	default:
		return nil, fmt.Errorf("%w: unknown role %q", ErrProtocol, j.Role)
	}
	return &j, nil
}
