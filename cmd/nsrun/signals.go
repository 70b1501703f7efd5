package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Signal forwarding.
//
// Every signal in forwarded that nsrun receives is sent on to COMMAND
// (through its pidfd, so a reused pid is never hit). After a terminating
// signal, COMMAND gets SIGKILL if it is still alive after the kill grace.
//
// Job control: when standard input is a terminal in whose foreground nsrun
// runs, COMMAND gets its own process group, in the foreground, so the
// terminal's SIGINT, SIGQUIT and SIGTSTP (Ctrl-C, Ctrl-\, Ctrl-Z) reach it
// alone; whatever nsrun receives was sent to nsrun on purpose and is
// forwarded. When COMMAND stops (Ctrl-Z), nsrun takes the terminal back and
// stops itself, so the calling shell sees the job stopped; when the shell
// continues nsrun (fg, bg), nsrun continues COMMAND's process group, giving
// it the terminal again in the foreground case. SIGTSTP, SIGTTIN and SIGTTOU
// sent to nsrun itself are not caught: they stop nsrun.
var forwarded = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT,
	syscall.SIGALRM, syscall.SIGPIPE,
}

func terminating(s os.Signal) bool {
	switch s {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM:
		return true
	}
	return false
}

type forwarder struct {
	sigc  chan os.Signal
	procc chan *os.Process
	done  chan struct{}
	wg    sync.WaitGroup
}

// startForwarding catches the forwarded signals from now on (before COMMAND
// starts, so that none is lost).
func startForwarding(grace time.Duration) *forwarder {
	f := &forwarder{sigc: make(chan os.Signal, 16), procc: make(chan *os.Process, 1), done: make(chan struct{})}
	signal.Notify(f.sigc, forwarded...)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		var proc *os.Process
		var pending []os.Signal
		var kill <-chan time.Time
		for {
			select {
			case <-f.done:
				return
			case proc = <-f.procc:
				for _, s := range pending {
					_ = proc.Signal(s)
				}
				if len(pending) > 0 {
					kill = time.After(grace)
				}
				pending = nil
			case s := <-f.sigc:
				if proc == nil {
					pending = append(pending, s)
					continue
				}
				_ = proc.Signal(s)
				if terminating(s) && kill == nil {
					kill = time.After(grace)
				}
			case <-kill:
				if proc != nil {
					_ = proc.Kill()
				}
			}
		}
	}()
	return f
}

func (f *forwarder) attach(p *os.Process) { f.procc <- p }

func (f *forwarder) stop() {
	close(f.done)
	f.wg.Wait()
	signal.Stop(f.sigc)
}

// foregroundTTY reports whether f is a terminal whose foreground process
// group is this process's group.
func foregroundTTY(f *os.File) bool {
	if f == nil {
		return false
	}
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	return pgrp == unix.Getpgrp()
}

// reclaimTerminal makes nsrun's process group the terminal's foreground
// group again (SIGTTOU, which a background group gets for that, is ignored
// meanwhile).
func reclaimTerminal(tty *os.File) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	_ = unix.IoctlSetPointerInt(int(tty.Fd()), unix.TIOCSPGRP, unix.Getpgrp())
}

// followStops mirrors COMMAND's job-control stops on nsrun: when COMMAND
// (process group pgid) stops, nsrun takes the terminal back and stops
// itself; when continued, it hands the terminal back and continues COMMAND.
// It returns when COMMAND has exited.
func followStops(tty *os.File, pgid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pgid, &info, unix.WSTOPPED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || info.Code != 5 /* CLD_STOPPED */ {
			return
		}
		// Consume this stop report, then stop like COMMAND.
		_ = unix.Waitid(unix.P_PID, pgid, &info, unix.WSTOPPED, nil)
		reclaimTerminal(tty)
		_ = unix.Kill(0, syscall.SIGSTOP) // nsrun's own group: the caller's job
		// Continued by the calling shell.
		signal.Ignore(syscall.SIGTTOU)
		if foregroundTTY(tty) {
			_ = unix.IoctlSetPointerInt(int(tty.Fd()), unix.TIOCSPGRP, pgid)
		}
		signal.Reset(syscall.SIGTTOU)
		_ = unix.Kill(-pgid, syscall.SIGCONT)
	}
}
