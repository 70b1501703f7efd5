//go:build linux

package main

// The floor of Run's protocol: a child of this program started as the
// floors are (StartProcess, the set-up in the raw child) that asks for a
// job on a socket, reads it, reports twice and exits, with a parent that
// answers and reads to the end, as Run's do. What Run has beyond it is its
// guarantees and its machinery: the child's trust check and namespace
// check, the set-up through the Go executor, the closing of inherited
// descriptors, the caught signals, the tee of the child's standard error,
// os/exec and the thread that started the child (Pdeathsig).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
)

// jobFloorArg is the argument with which benchcmp is the job floor's child,
// its socket at descriptor 3.
const jobFloorArg = "-job-floor-child"

// The frames' sizes are those of Run's with a function of no arguments in
// mnt+pid+tmpfs: the hello, the job, the "running" and the result. Run's
// child also acknowledges the job (27 bytes) before its set-up; the floor
// leaves that frame out.
const (
	helloSize   = 61
	jobSize     = 466
	runningSize = 31
	resultSize  = 30
)

// jobFloorChild is the child's side: hello, job, two reports.
func jobFloorChild() int {
	sock := os.NewFile(3, "job")
	if sock == nil || writeBenchFrame(sock, helloSize) != nil {
		return 125
	}
	if _, err := readBenchFrame(sock); err != nil {
		return 125
	}
	if writeBenchFrame(sock, runningSize) != nil || writeBenchFrame(sock, resultSize) != nil {
		return 125
	}
	return 0
}

// jobFloorOp returns the parent's side: a socket pair, StartProcess of
// this program as the job floor's child in n's namespaces, the job in
// answer to the hello, the reports to the end, and the wait.
func jobFloorOp(n *namespace.Namespace, self string) func() error {
	return func() error {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		parent, childEnd := os.NewFile(uintptr(fds[0]), "job"), os.NewFile(uintptr(fds[1]), "job-child")
		defer parent.Close()
		p, err := n.StartProcess(self, []string{self, jobFloorArg}, &os.ProcAttr{Files: []*os.File{nil, nil, os.Stderr, childEnd}})
		childEnd.Close()
		if err != nil {
			return err
		}
		// A child that does not answer within the deadline is ended by
		// the parent's end closing (its read fails) and then waited for.
		_ = parent.SetDeadline(time.Now().Add(10 * time.Second))
		frames := 0
		if _, err = readBenchFrame(parent); err == nil {
			frames++
			err = writeBenchFrame(parent, jobSize)
		}
		for err == nil {
			if _, err = readBenchFrame(parent); err == nil {
				frames++
			}
		}
		parent.Close()
		st, werr := p.Wait()
		switch {
		case werr != nil:
			return werr
		case !st.Success():
			return fmt.Errorf("job floor's child: %v", st)
		case !errors.Is(err, io.EOF):
			return err
		case frames != 3:
			return fmt.Errorf("job floor's child sent %d frames, not a hello and two reports", frames)
		}
		return nil
	}
}

// writeBenchFrame writes a frame of size bytes after its 4-byte length.
func writeBenchFrame(w io.Writer, size int) error {
	b := make([]byte, 4+size)
	binary.BigEndian.PutUint32(b, uint32(size))
	_, err := w.Write(b)
	return err
}

// readBenchFrame reads one frame; io.EOF at a clean end between frames.
func readBenchFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return b, nil
}
