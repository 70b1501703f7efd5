//go:build linux

package namespace

import (
	"golang.org/x/sys/unix"

	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// The child protocol.
//
// The parent starts the child with envChild set to a fresh random token and
// the child's end of a socket pair as file descriptor childFD. It sends one
// job frame on the socket; the child reads it, checks that the job carries
// the same token as its environment, removes envChild from its environment
// and answers with message frames (ack, ready, running, result, error).
// A frame is a 4-byte big-endian length and a JSON document.

const (
	envChild = "_LINUXNS_CHILD" // token; its presence marks a child
	envStage = "_LINUXNS_STAGE" // "2": re-executed to enter a time namespace; job on jobFD
	childFD  = 3                // the socket to the parent
	jobFD    = 4                // stage 2 only: a memfd holding the job

	// maxFrame bounds a frame, so that a garbage length cannot make the
	// reader allocate without limit.
	maxFrame = 64 << 20
)

type role string

const (
	roleFunc  role = "func"  // run a registered function
	roleExec  role = "exec"  // set up, then execve a command
	roleSetup role = "setup" // set up, then continue the program (Setup)
	// rolePrewarm: set up, then wait in Init, without a time limit, for a
	// second job frame (roleFunc) on the same socket: a child of a pool
	// (WithPrewarm).
	rolePrewarm role = "prewarm"
)

// job is what the parent asks of the child.
type job struct {
	Token string          `json:"token"`
	Role  role            `json:"role"`
	Plan  plan            `json:"plan"`
	Func  string          `json:"func,omitempty"`
	Args  []string        `json:"args,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	Path  string          `json:"path,omitempty"` // exec: resolved program
	Argv  []string        `json:"argv,omitempty"` // exec: its argv
}

// plan is the in-namespace set-up, computed by the parent from the options.
type plan struct {
	Flags       uintptr       `json:"flags"`
	RPrivate    bool          `json:"rprivate,omitempty"`
	TmpData     *string       `json:"tmp,omitempty"`
	Proc        bool          `json:"proc,omitempty"`
	Hostname    string        `json:"hostname,omitempty"`
	Loopback    bool          `json:"lo,omitempty"`
	Time        bool          `json:"time,omitempty"`
	Monotonic   time.Duration `json:"monotonic,omitempty"`
	Boottime    time.Duration `json:"boottime,omitempty"`
	PID1        bool          `json:"pid1,omitempty"`
	Init        bool          `json:"init,omitempty"`
	KillGraceNS time.Duration `json:"grace,omitempty"`
	Debug       bool          `json:"debug,omitempty"`
}

type msgType string

const (
	msgAck     msgType = "ack"     // job read and accepted
	msgReady   msgType = "ready"   // set-up done
	msgRunning msgType = "running" // Init dispatched the function
	msgResult  msgType = "result"  // the function's outcome
	msgError   msgType = "error"   // set-up or protocol failure; the child exits 125
	msgNoInit  msgType = "noinit"  // the program used the package before Init
)

// message is what the child tells the parent.
type message struct {
	Type   msgType         `json:"type"`
	Step   string          `json:"step,omitempty"`
	Errno  int             `json:"errno,omitempty"`
	Msg    string          `json:"msg,omitempty"`
	Panic  bool            `json:"panic,omitempty"`
	Stack  string          `json:"stack,omitempty"`
	OK     bool            `json:"ok,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Pid    int             `json:"pid,omitempty"`
}

// newToken returns 16 random bytes from the kernel (getrandom(2), as
// crypto/rand reads them), in hex. The package does not import crypto/rand:
// its initialisation would add to every child's start-up.
func newToken() string {
	var b [16]byte
	for got := 0; got < len(b); {
		m, err := unix.Getrandom(b[got:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			panic("namespace: no randomness for the child token: " + err.Error())
		}
		got += m
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

func writeFrame(w io.Writer, v any) error {
	body, err := frameBody(v) // codec.go
	if err != nil {
		return err
	}
	if len(body) > maxFrame {
		return fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrProtocol, len(body), maxFrame)
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err = w.Write(buf)
	return err
}

// readFrame reads one frame into v. It returns io.EOF only at a clean end
// between frames.
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
	if err := parseFrameBody(body, v); err != nil { // codec.go
		return fmt.Errorf("%w: bad frame: %w", ErrProtocol, err)
	}
	return nil
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
