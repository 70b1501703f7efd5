package namespace

// What a function child writes on its standard error before it runs its
// function: passed on to the caller's standard error as it comes, and the
// last stderrTail bytes of it kept for the diagnosis of a child that dies
// before then (a Go runtime that cannot start, a panic in a package's
// init, a program without Init).
//
// The child (Run, Task.Run) starts with a pipe as its descriptor 2 and the
// caller's standard error at the descriptor after the job socket (the
// marker's third field says which). When Init dispatches the function, the
// child moves the caller's standard error back onto descriptor 2
// (restoreStderr), which closes the child's end of the pipe: from then on
// the function, and everything it starts, writes straight to the caller's
// standard error, as without the tee, and the parent's reader sees the end
// of the pipe and stops. The happy path costs the pipe, one goroutine and
// one read.

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// stderrTail is how much of the child's early standard error is kept.
const stderrTail = 4 << 10

// stderrTee reads the pipe that is a function child's standard error until
// the child restores the caller's, copying to the caller's standard error.
type stderrTee struct {
	r, w *os.File      // the read end (parent's), the write end (child's fd 2)
	out  *os.File      // the caller's standard error
	done chan struct{} // closed when the reader stops

	mu   sync.Mutex
	tail []byte // the last stderrTail bytes read

	once sync.Once
	text string // what finish returns
}

// newStderrTee returns a tee for out, or nil if no pipe can be made (the
// child then writes to out directly, and its diagnosis lacks the text).
func newStderrTee(out *os.File) *stderrTee {
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	return &stderrTee{r: r, w: w, out: out, done: make(chan struct{})}
}

// start begins copying; call it after the child has started, when the
// parent's copy of the write end is closed.
func (t *stderrTee) start() {
	t.w.Close()
	go func() {
		defer close(t.done)
		defer t.r.Close()
		buf := make([]byte, 4096)
		for {
			n, err := t.r.Read(buf)
			if n > 0 {
				_, _ = t.out.Write(buf[:n])
				t.mu.Lock()
				t.tail = append(t.tail, buf[:n]...)
				if len(t.tail) > stderrTail {
					t.tail = append(t.tail[:0], t.tail[len(t.tail)-stderrTail:]...)
				}
				t.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
}

// abort closes both ends when the child did not start.
func (t *stderrTee) abort() {
	t.w.Close()
	t.r.Close()
}

// finish waits, after the child exited, for the end of the pipe (bounded:
// a process the child started before it ran its function may hold it) and
// returns what was kept, trimmed.
func (t *stderrTee) finish() string {
	if t == nil {
		return ""
	}
	t.once.Do(func() {
		_ = t.r.SetReadDeadline(time.Now().Add(socketDrainTimeout))
		<-t.done
		t.mu.Lock()
		defer t.mu.Unlock()
		t.text = string(bytes.TrimSpace(t.tail))
	})
	return t.text
}

// withStderr adds to the error of a child that died before it ran its
// function what it wrote on its standard error (the end of it): to an
// *ExitError's Stderr, or after any other error's text.
func withStderr(err error, text string) error {
	if text == "" {
		return err
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		ee.Stderr = text
		return err
	}
	return &stderrError{err: err, text: text}
}

// stderrError is an error with the end of the child's standard error.
type stderrError struct {
	err  error
	text string
}

func (e *stderrError) Error() string {
	return e.err.Error() + "; the child's standard error ended with:\n" + e.text
}
func (e *stderrError) Unwrap() error { return e.err }

// stderrMarker is the marker's third field: the descriptor of the caller's
// standard error in a child whose standard error is a tee's pipe.
func stderrMarker(fd int) string { return ":" + strconv.Itoa(fd) }

// restoreStderr puts the caller's standard error, at fd, back on
// descriptor 2 of this child (closing its end of the tee's pipe), and
// closes fd. A child without a tee has fd -1.
func restoreStderr(fd int) {
	if fd < 0 {
		return
	}
	_ = unix.Dup3(fd, 2, 0)
	unix.Close(fd)
}
