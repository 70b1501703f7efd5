package namespace

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A jobReader reads the parent's frames on the job socket. The checks of
// verifyParent look at the parent as it is when they are made; a process
// may have made the socket, queued a job and then executed this program,
// which passes them all. So the child asks for its job with a fresh nonce
// (the hello message) once the checks are made, refuses a socket on which
// anything was waiting before, and takes only bytes that the socket's
// maker sent afterwards, as their credentials (SO_PASSCRED) say: after the
// checks, that process runs this program, whose code only ever answers a
// hello on a socket of its own making.
type jobReader struct {
	fd        int
	senderPid int32
	deadline  time.Time // zero: none
	oob       []byte
}

func newJobReader(fd, senderPid int) (*jobReader, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return nil, fmt.Errorf("%w: SO_PASSCRED: %w", errUntrusted, err)
	}
	waiting, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return nil, fmt.Errorf("%w: SIOCINQ: %w", errUntrusted, err)
	}
	if waiting > 0 {
		return nil, fmt.Errorf("%w: %d bytes were waiting on the socket before this process asked for its job", errUntrusted, waiting)
	}
	return &jobReader{fd: fd, senderPid: int32(senderPid), oob: make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*16))}, nil
}

// Read reads what the socket's maker sent; bytes from any other sender are
// an error.
func (r *jobReader) Read(b []byte) (int, error) {
	for {
		n, oobn, _, _, err := unix.Recvmsg(r.fd, b, r.oob, unix.MSG_CMSG_CLOEXEC)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if err := r.wait(); err != nil {
				return 0, err
			}
			continue
		case err != nil:
			return 0, os.NewSyscallError("recvmsg", err)
		case n == 0:
			return 0, io.EOF
		}
		if err := r.checkSender(r.oob[:oobn]); err != nil {
			return 0, err
		}
		return n, nil
	}
}

// wait polls the socket until it is readable or the deadline passes.
func (r *jobReader) wait() error {
	timeout := -1
	if !r.deadline.IsZero() {
		left := time.Until(r.deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		timeout = int(left/time.Millisecond) + 1
	}
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, timeout); err != nil && err != unix.EINTR {
		return os.NewSyscallError("poll", err)
	}
	return nil
}

// checkSender checks the credentials that came with bytes just read, and
// closes any descriptor that came with them.
func (r *jobReader) checkSender(oob []byte) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return fmt.Errorf("%w: ancillary data: %w", errUntrusted, err)
	}
	from := int32(-1)
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case unix.SCM_CREDENTIALS:
			if c, err := unix.ParseUnixCredentials(m); err == nil {
				from = c.Pid
			}
		case unix.SCM_RIGHTS:
			if fds, err := unix.ParseUnixRights(m); err == nil {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
			return fmt.Errorf("%w: descriptors were sent on the job socket", errUntrusted)
		}
	}
	if from != r.senderPid {
		return fmt.Errorf("%w: bytes on the job socket from process %d, not from the parent (%d)", errUntrusted, from, r.senderPid)
	}
	return nil
}
