// Command setupdemo is a test fixture for namespace.Setup: it moves itself
// into a private /tmp and PID namespace (and a user namespace when not root)
// and reports what it sees.
//
//	setupdemo [exit N | sleep | wait-term | twice | nouser]
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/linuxns/namespace"
)

func main() {
	fmt.Printf("before setup, pid %d\n", os.Getpid())
	mode, arg := "", 0
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if len(os.Args) > 2 {
		arg, _ = strconv.Atoi(os.Args[2])
	}
	opts := []namespace.Option{namespace.WithPrivateTmp(), namespace.WithPrivatePID()}
	if os.Geteuid() != 0 && mode != "nouser" {
		opts = append(opts, namespace.WithPrivateUser())
	}
	if mode == "wait-term" {
		// Catch SIGTERM from the start: the original process forwards it.
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGTERM)
		defer func() {
			select {
			case <-sigc:
				fmt.Println("got SIGTERM")
				os.Exit(42)
			case <-time.After(time.Minute):
				os.Exit(1)
			}
		}()
	}
	ns := namespace.New(opts...)
	if err := ns.Setup(); err != nil {
		fmt.Printf("setup failed: %v\n", err)
		os.Exit(3)
	}
	entries, _ := os.ReadDir("/tmp")
	fmt.Printf("inside, pid %d, uid %d, %d entries in /tmp\n", os.Getpid(), os.Getuid(), len(entries))
	switch mode {
	case "exit":
		os.Exit(arg)
	case "sleep":
		// Killed from outside (PID 1 cannot kill itself).
		fmt.Println("ready")
		time.Sleep(time.Minute)
	case "twice":
		if err := ns.Setup(); err != nil {
			fmt.Printf("second setup: %v\n", err)
			os.Exit(4)
		}
		fmt.Printf("second setup: nil, pid %d\n", os.Getpid())
	case "wait-term":
		fmt.Println("ready")
		return // the deferred wait
	}
}
