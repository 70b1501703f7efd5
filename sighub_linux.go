package namespace

// The signal hub: the terminating signals are caught once for as long as
// any Run is live, and dispatched to the live Runs.

import (
	"os"
	"os/signal"
	"sync"
)

// os/signal starts and stops catching a signal with a round trip to a
// thread of the runtime's (about 0.1-0.3 ms for the four terminating
// signals), but only when the first channel asks for the signal or the last
// one lets it go. The hub holds one registration while any Run (with
// WithTermChild, the default) is live, however many there are, and
// dispatches each signal to every live Run (each stops its child).
//
// Nothing is caught while no Run is live, even with a Pool open: os/signal
// gives a signal to every channel that asked for it and has no way to ask
// whether another channel did, so a hub that caught a signal with no Run
// to give it to could not tell whether the program got it too (its own
// signal.Notify) or must take the default action; sending it again would
// give a program that catches it two, not sending it would leave a program
// that does not alive. So the hub lets the signals go when the last live
// Run leaves, and that Run stays live until they are let go: every signal
// the hub catches reaches a live Run, none is sent again, and a signal
// that arrives while no Run is live takes its course as if the package
// were not there (the program's own handler gets it once, or the default
// action ends the program). A signal the program catches itself while a
// Run is live reaches both its handler (as without the package) and the
// Run.
var hub = sigHub{live: make(map[*supervisor]struct{})}

// sigHub is the process's one registration of the terminating signals.
type sigHub struct {
	mu   sync.Mutex
	live map[*supervisor]struct{} // Runs whose child may get a signal
	ep   *sigEpoch                // the current registration, or nil
}

// sigEpoch is one registration: from signal.Notify to signal.Stop.
type sigEpoch struct {
	c       chan os.Signal
	armed   chan struct{} // closed once the signals are caught
	stopped chan struct{} // closed by stop to end the registration
	done    chan struct{} // closed once every signal caught was dispatched
}

// join makes s live and returns a channel closed once the signals are
// caught, or nil if every terminating signal is ignored (then nothing is
// caught). Every join is paired with a leave.
func (h *sigHub) join(s *supervisor) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live[s] = struct{}{}
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
		ep := &sigEpoch{c: make(chan os.Signal, len(sigs)), armed: make(chan struct{}), stopped: make(chan struct{}), done: make(chan struct{})}
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

// leave undoes join. The last live Run lets the signals go, and stays
// live until they are and every signal caught before has been dispatched;
// a registration made meanwhile by a Run that came and went is let go too.
func (h *sigHub) leave(s *supervisor) {
	h.mu.Lock()
	for len(h.live) == 1 && h.ep != nil {
		ep := h.ep
		h.ep = nil
		h.mu.Unlock()
		ep.stop()
		h.mu.Lock()
	}
	delete(h.live, s)
	h.mu.Unlock()
}

// stop lets the epoch's signals go; it returns once that is done and the
// signals caught before have been dispatched. Only the last live Run
// calls it, once per epoch.
func (ep *sigEpoch) stop() {
	<-ep.armed
	signal.Stop(ep.c) // c receives nothing once it returns
	close(ep.stopped)
	<-ep.done
}

// dispatch serves one epoch until it is stopped, then dispatches what was
// caught before.
func (h *sigHub) dispatch(ep *sigEpoch) {
	defer close(ep.done)
	for {
		select {
		case sig := <-ep.c:
			h.deliver(sig)
		case <-ep.stopped:
			for {
				select {
				case sig := <-ep.c:
					h.deliver(sig)
				default:
					return
				}
			}
		}
	}
}

// deliver gives sig to every live Run. There is at least one: the one
// that stops the epoch is live until the epoch is done.
func (h *sigHub) deliver(sig os.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.live {
		select {
		case s.sigc <- sig:
		default: // it has one already
		}
	}
}
