package namespace

// The signal hub: the terminating signals are caught once, for as long as
// any Run or Pool is active, and dispatched to the live Runs.

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// os/signal starts and stops catching a signal with a round trip to a
// thread of the runtime's (about 0.1-0.3 ms for the four terminating
// signals), but only when the first channel asks for the signal or the last
// one lets it go. The hub holds one registration while any Run (with
// WithTermChild, the default) or Pool is active, so that a Run on a pool
// pays a map insertion instead of that round trip.
//
// A signal that arrives while a Run is live is delivered to every live Run
// (each stops its child), as each Run catching it on its own did. One that
// arrives while no Run is live (a Pool is open and idle) is handled as the
// program would handle it without the package: the hub lets the signal go
// (signal.Stop) and sends it to the process again, so that a program
// without a handler of its own takes the default action (a terminating
// signal ends it, as a Go program ends on SIGQUIT). os/signal gives a
// signal to every channel that asked for it: a program that catches the
// signal itself (signal.Notify) got it already when the hub did, and gets
// it once more from the second sending, as os/signal offers no way to ask
// whether another channel wants a signal. The next Run catches the signals
// again.
var hub = sigHub{live: make(map[*supervisor]struct{})}

// sigHub is the process's one registration of the terminating signals.
type sigHub struct {
	mu    sync.Mutex
	users int                      // active Runs and Pools
	live  map[*supervisor]struct{} // Runs whose child may get a signal
	ep    *sigEpoch                // the current registration, or nil
}

// sigEpoch is one registration: from signal.Notify to signal.Stop.
type sigEpoch struct {
	c        chan os.Signal
	armed    chan struct{} // closed once the signals are caught
	stopOnce sync.Once
	stopped  chan struct{} // closed once they are let go
}

// join makes the hub active for s (a Run; nil for a Pool) and returns a
// channel closed once the signals are caught, or nil if every terminating
// signal is ignored (then nothing is caught). Every join is paired with a
// leave.
func (h *sigHub) join(s *supervisor) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users++
	if s != nil {
		h.live[s] = struct{}{}
	}
	if h.ep == nil {
		var sigs []os.Signal
		for _, sig := range terminatingSignals {
			if !signal.Ignored(sig) {
				sigs = append(sigs, sig)
			}
		}
		if len(sigs) == 0 {
			return nil
		}
		ep := &sigEpoch{c: make(chan os.Signal, len(sigs)), armed: make(chan struct{}), stopped: make(chan struct{})}
		h.ep = ep
		// In the background: a cold Run's child starts meanwhile.
		go func() {
			signal.Notify(ep.c, sigs...)
			close(ep.armed)
			h.dispatch(ep)
		}()
	}
	return h.ep.armed
}

// leave undoes join; the last one lets the signals go, and returns once
// they are.
func (h *sigHub) leave(s *supervisor) {
	h.mu.Lock()
	if s != nil {
		delete(h.live, s)
	}
	h.users--
	var ep *sigEpoch
	if h.users == 0 {
		ep, h.ep = h.ep, nil
	}
	h.mu.Unlock()
	if ep != nil {
		ep.stop()
	}
}

// stop lets the epoch's signals go; it returns once that is done.
func (ep *sigEpoch) stop() {
	ep.stopOnce.Do(func() {
		<-ep.armed
		signal.Stop(ep.c)
		close(ep.stopped)
	})
}

// dispatch serves one epoch until it is stopped.
func (h *sigHub) dispatch(ep *sigEpoch) {
	for {
		select {
		case sig := <-ep.c:
			if h.deliver(ep, sig) {
				continue
			}
			ep.stop()
			resend(sig)
		case <-ep.stopped:
			// Caught before the signals were let go, read after: no Run
			// is live any more.
			for {
				select {
				case sig := <-ep.c:
					resend(sig)
				default:
					return
				}
			}
		}
	}
}

// deliver gives sig to every live Run and reports whether there was one;
// if there was none, the epoch stops being the hub's.
func (h *sigHub) deliver(ep *sigEpoch, sig os.Signal) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.live) == 0 {
		if h.ep == ep {
			h.ep = nil // the next join catches the signals again
		}
		return false
	}
	for s := range h.live {
		select {
		case s.sigc <- sig:
		default: // it has one already
		}
	}
	return true
}

// resend sends sig to the process again, once the hub no longer catches
// it: the program's own handling, or the default action, takes its course.
func resend(sig os.Signal) {
	if n, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), n)
	}
}
