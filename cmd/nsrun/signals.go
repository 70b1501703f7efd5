//go:build linux

package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Signals and the terminal.
//
// Every signal in forwarded that nsrun receives is sent on to COMMAND
// through its pidfd (os.Process.Signal), so a reused pid is never hit.
// After a terminating signal (HUP, INT, QUIT, TERM), COMMAND gets SIGKILL
// if it is still alive after the kill grace.
//
// The terminal sends SIGINT, SIGQUIT, SIGTSTP and SIGWINCH to its whole
// foreground process group. Forwarding what the terminal already delivered
// would deliver it twice, so:
//
//   - If standard input is a terminal in whose foreground nsrun runs and
//     standard output is a terminal too (an interactive use), COMMAND gets a
//     process group of its own and the terminal's foreground, as a shell
//     gives a job. (With standard output a pipe, nsrun is part of a
//     pipeline such as `nsrun … | less`, whose other commands share its
//     process group and may read the terminal: they keep the foreground.) The terminal's signals
//     reach COMMAND alone, so whatever nsrun receives was sent to nsrun on
//     purpose and is forwarded. A shell inside (nsrun -p -- bash) finds
//     itself leader of its process group and has job control. When COMMAND
//     stops (Ctrl-Z), nsrun takes the terminal back and stops itself, so the
//     calling shell sees the job stopped; when continued (fg, bg), it gives
//     the terminal back if it is in the foreground and continues COMMAND.
//   - Otherwise COMMAND shares nsrun's process group. If nsrun's group is in
//     the foreground of its controlling terminal when SIGINT, SIGQUIT or
//     SIGWINCH arrives, the terminal sent it to COMMAND too: it is not
//     forwarded (a terminating one still arms the kill grace).
//
// SIGTSTP, SIGTTIN and SIGTTOU are not caught: sent to nsrun, they stop it.

// forwarded are the signals nsrun catches and passes on.
var forwarded = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT,
	syscall.SIGALRM,
}

// terminating reports whether s is one after which COMMAND is killed if it
// outlives the kill grace.
func terminating(s os.Signal) bool {
	switch s {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM:
		return true
	}
	return false
}

// fromTerminal reports whether the terminal sends s to its foreground
// process group.
func fromTerminal(s os.Signal) bool {
	switch s {
	case syscall.SIGINT, syscall.SIGQUIT, syscall.SIGWINCH:
		return true
	}
	return false
}

// terminal is nsrun's relation to its terminal.
type terminal struct {
	// tty is standard input when it is a terminal in whose foreground nsrun
	// runs: COMMAND gets its own process group, in the foreground.
	tty *os.File
	// ctty is the controlling terminal when nsrun shares its process group
	// with COMMAND, or nil.
	ctty *os.File
}

// openTerminal finds out how nsrun relates to a terminal.
func openTerminal(stdin, stdout *os.File) *terminal {
	t := &terminal{}
	if isForeground(stdin) && isTerminal(stdout) {
		t.tty = stdin
		return t
	}
	if f, err := os.OpenFile("/dev/tty", os.O_RDWR|unix.O_NOCTTY, 0); err == nil {
		t.ctty = f
	}
	return t
}

func (t *terminal) close() {
	if t.ctty != nil {
		t.ctty.Close()
	}
}

// ownGroup reports whether COMMAND gets a process group of its own.
func (t *terminal) ownGroup() bool { return t.tty != nil }

// delivered reports whether the terminal delivered s to COMMAND already:
// COMMAND shares nsrun's process group, which is the terminal's foreground.
func (t *terminal) delivered(s os.Signal) bool {
	return t.ctty != nil && fromTerminal(s) && isForeground(t.ctty)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// isForeground reports whether f is a terminal whose foreground process
// group is nsrun's.
func isForeground(f *os.File) bool {
	if f == nil {
		return false
	}
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// setForeground makes pgrp the foreground process group of tty. SIGTTOU,
// which a background process gets for it, is ignored meanwhile.
func setForeground(tty *os.File, pgrp int) error {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	return unix.IoctlSetPointerInt(int(tty.Fd()), unix.TIOCSPGRP, pgrp)
}

// reclaim gives the terminal back to nsrun's process group after COMMAND
// (process group pgid) ended, unless someone else holds it: the calling
// shell, when it has put nsrun in the background.
func (t *terminal) reclaim(pgid int) {
	if t.tty == nil {
		return
	}
	fg, err := unix.IoctlGetInt(int(t.tty.Fd()), unix.TIOCGPGRP)
	if err != nil || fg == unix.Getpgrp() {
		return
	}
	// COMMAND's group, or a group that has no process left (one that a
	// shell inside made for itself or a job).
	if fg == pgid || (fg > 0 && errors.Is(unix.Kill(-fg, 0), unix.ESRCH)) {
		_ = setForeground(t.tty, unix.Getpgrp())
	}
}

// cldStopped is CLD_STOPPED, the siginfo code of a child that stopped.
const cldStopped = 5

// followStops mirrors COMMAND's job-control stops on nsrun: when COMMAND
// (process group leader pgid) stops, nsrun takes the terminal back and stops
// its own process group; when continued, it gives the terminal back if it is
// in the foreground and continues COMMAND's group. If no shell could continue
// nsrun (its process group is orphaned), COMMAND is continued at once, as
// the kernel does not stop an orphaned group for SIGTSTP either. It returns
// when COMMAND is gone.
func (t *terminal) followStops(pgid int, log *slog.Logger) {
	// SIGCONT tells when nsrun has been continued: SIGSTOP sent to the
	// process group wakes one thread, and the one that sent it may run on
	// for a moment before the whole process stops.
	contc := make(chan os.Signal, 1)
	signal.Notify(contc, syscall.SIGCONT)
	defer signal.Stop(contc)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pgid, &info, unix.WSTOPPED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || info.Code != cldStopped {
			return
		}
		// Consume this report of the stop.
		_ = unix.Waitid(unix.P_PID, pgid, &info, unix.WSTOPPED|unix.WNOHANG, nil)
		if orphaned() {
			log.Debug("COMMAND stopped; no job-control shell above nsrun, continuing it", "pgid", pgid)
			_ = unix.Kill(-pgid, unix.SIGCONT)
			continue
		}
		log.Debug("COMMAND stopped; stopping nsrun", "pgid", pgid)
		_ = setForeground(t.tty, unix.Getpgrp())
		select {
		case <-contc: // an old one
		default:
		}
		_ = unix.Kill(0, unix.SIGSTOP) // nsrun's own group: the caller's job
		<-contc                        // continued by the calling shell (fg, bg)
		fg := isForeground(t.tty)
		if fg {
			if err := setForeground(t.tty, pgid); err != nil {
				log.Debug("cannot give COMMAND the terminal", "err", err)
			}
		}
		log.Debug("nsrun continued; continuing COMMAND", "pgid", pgid, "foreground", fg)
		_ = unix.Kill(-pgid, unix.SIGCONT)
	}
}

// orphaned reports whether nsrun's process group looks orphaned: no
// ancestor outside the group but in the same session (a job-control shell)
// could continue it after a stop.
func orphaned() bool {
	pgrp := unix.Getpgrp()
	sid, err := unix.Getsid(0)
	if err != nil {
		return true
	}
	pid := unix.Getppid()
	for range 64 {
		if pid <= 1 {
			return true
		}
		g, err1 := unix.Getpgid(pid)
		s, err2 := unix.Getsid(pid)
		if err1 != nil || err2 != nil || s != sid {
			return true
		}
		if g != pgrp {
			return false
		}
		if pid, err = parentPid(pid); err != nil {
			return true
		}
	}
	return true
}

// parentPid returns the parent of process pid, from /proc/PID/stat.
func parentPid(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, errors.New("malformed /proc stat")
	}
	return strconv.Atoi(f[1])
}

// forwarder catches signals and passes them on to COMMAND.
type forwarder struct {
	log   *slog.Logger
	term  *terminal
	grace time.Duration
	sigc  chan os.Signal
	procc chan *os.Process
	done  chan struct{}
	wg    sync.WaitGroup
}

// caught is the channel of the forwarded signals, and whether catching
// them has taken effect.
type caught struct {
	c     chan os.Signal
	armed chan struct{}
}

// catchSignals starts catching the forwarded signals, in the background:
// it costs the Go runtime a round trip to a thread of its own per signal,
// about half a millisecond in all, which overlaps with nsrun's other work
// until startForwarding waits for it.
func catchSignals() *caught {
	c := &caught{c: make(chan os.Signal, 16), armed: make(chan struct{})}
	go func() {
		signal.Notify(c.c, forwarded...)
		close(c.armed)
	}()
	return c
}

// startForwarding passes the caught signals on once attach names COMMAND;
// those that arrive before attach are passed on then. It returns once the
// signals are caught, so that none sent from then on is lost.
func startForwarding(sigs *caught, term *terminal, grace time.Duration, log *slog.Logger) *forwarder {
	f := &forwarder{
		log:   log,
		term:  term,
		grace: grace,
		sigc:  sigs.c,
		procc: make(chan *os.Process, 1),
		done:  make(chan struct{}),
	}
	<-sigs.armed
	f.wg.Add(1)
	go f.loop()
	return f
}

func (f *forwarder) loop() {
	defer f.wg.Done()
	var (
		proc    *os.Process
		pending []os.Signal
		kill    <-chan time.Time
		armed   bool
	)
	send := func(s os.Signal) {
		switch {
		case f.term.ownGroup() && s == syscall.SIGCONT:
			// followStops continues COMMAND's group once it has the
			// terminal again.
			f.log.Debug("signal left to job control", "signal", s)
		case f.term.delivered(s):
			f.log.Debug("signal not forwarded: the terminal delivered it to COMMAND too", "signal", s)
		default:
			f.log.Debug("forwarding signal", "signal", s, "pid", proc.Pid)
			if err := proc.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
				f.log.Debug("forwarding failed", "signal", s, "err", err)
			}
		}
		if terminating(s) && !armed {
			armed = true
			kill = time.After(f.grace)
			f.log.Debug("SIGKILL armed", "after", f.grace)
		}
	}
	for {
		select {
		case <-f.done:
			return
		case proc = <-f.procc:
			for _, s := range pending {
				send(s)
			}
			pending = nil
		case s := <-f.sigc:
			if proc == nil {
				pending = append(pending, s)
				continue
			}
			send(s)
		case <-kill:
			kill = nil
			f.log.Debug("kill grace over; killing COMMAND", "pid", proc.Pid)
			_ = proc.Kill()
		}
	}
}

// attach starts forwarding to p.
func (f *forwarder) attach(p *os.Process) { f.procc <- p }

// stop ends forwarding. The signals stay caught, and are dropped, until
// nsrun exits, which it does next: releasing them would cost the runtime
// another round trip per signal.
func (f *forwarder) stop() {
	close(f.done)
	f.wg.Wait()
}
