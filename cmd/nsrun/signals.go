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
// Job control: when standard input is a terminal and nsrun is in its
// foreground process group, the terminal's SIGINT and SIGQUIT (Ctrl-C,
// Ctrl-\) reach COMMAND directly, as it is in the same process group; nsrun
// then neither forwards them nor escalates, so an interactive shell survives
// Ctrl-C. SIGTSTP, SIGTTIN and SIGTTOU are not caught: they stop nsrun as
// they stop COMMAND, and the shell's SIGCONT resumes both.
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
func startForwarding(grace time.Duration, stdin *os.File) *forwarder {
	f := &forwarder{sigc: make(chan os.Signal, 16), procc: make(chan *os.Process, 1), done: make(chan struct{})}
	signal.Notify(f.sigc, forwarded...)
	fromTTY := foregroundTTY(stdin)
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
				if fromTTY && (s == syscall.SIGINT || s == syscall.SIGQUIT) {
					continue
				}
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
