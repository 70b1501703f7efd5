//go:build linux

// Command floorstart takes apart the floor of nsrun as COMMAND's parent in
// a PID namespace (make bench, section "floor"): it starts COMMAND with
// StartProcess in new mount and PID namespaces with a fresh /proc, as
// `nsrun -m -p` does, and waits for it, with one piece more or less per
// mode:
//
//	floorstart MODE -- COMMAND [ARG...]
//
//	init     return at once: the Go runtime and the package initialisation
//	         of a program that links the namespace package
//	start    StartProcess, then os.Process.Wait (waitid on the pidfd)
//	wait4    StartProcess, then wait4 on the pid (no pidfd wait)
//	prepare  start, through Prepare and Start (the child is held before it
//	         executes COMMAND)
//	signals  start, with nsrun's nine forwarded signals caught through
//	         os/signal before and let go after, as nsrun does
//	sandbox  start, with WithSandbox() in place of the two namespaces: the
//	         floor of `nsrun --sandbox` (section "sandbox")
//	sandbox-signals
//	         sandbox, with the signals caught as in signals
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/linuxns/namespace"
)

func main() {
	namespace.Init()
	if len(os.Args) < 4 || os.Args[2] != "--" {
		fmt.Fprintln(os.Stderr, "usage: floorstart init|start|prepare|wait4|signals|sandbox|sandbox-signals -- COMMAND [ARG...]")
		os.Exit(2)
	}
	mode, argv := os.Args[1], os.Args[3:]
	if mode == "init" {
		return
	}
	if mode == "signals" || mode == "sandbox-signals" {
		c := make(chan os.Signal, 16)
		signal.Notify(c, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
			syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGCONT, syscall.SIGALRM)
		defer signal.Stop(c)
	}
	ns := namespace.New(namespace.WithPrivateMount(), namespace.WithPrivatePID())
	if mode == "sandbox" || mode == "sandbox-signals" {
		ns = namespace.New(namespace.WithSandbox())
	}
	attr := &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	var p *os.Process
	var err error
	if mode == "prepare" {
		var prep *namespace.Prepared
		if prep, err = ns.Prepare(argv[0], argv, attr); err == nil {
			p, err = prep.Start()
		}
	} else {
		p, err = ns.StartProcess(argv[0], argv, attr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorstart:", err)
		os.Exit(125)
	}
	if mode == "wait4" {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(p.Pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			os.Exit(1)
		}
		return
	}
	st, err := p.Wait()
	if err != nil || !st.Success() {
		os.Exit(1)
	}
}
