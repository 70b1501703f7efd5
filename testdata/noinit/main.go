// Command noinit is a test fixture: a program that uses the namespace
// package but forgets to call namespace.Init first in main. Run must report
// ErrNoInit in the parent and nothing may recurse; Command must still work.
//
//	noinit run       Run a registered function (expects ErrNoInit)
//	noinit command   Command "echo command-ok" in a new mount namespace
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/linuxns/namespace"
)

var hello = namespace.Register("noinit-hello", func(ctx context.Context, args []string) error {
	fmt.Println("function ran")
	return nil
})

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: noinit run|command")
		os.Exit(2)
	}
	var opts []namespace.Option
	if os.Geteuid() != 0 {
		opts = append(opts, namespace.WithPrivateUser())
	}
	ns := namespace.New(append(opts, namespace.WithPrivateMount())...)
	switch os.Args[1] {
	case "run":
		fmt.Println("main started")
		err := ns.Run(context.Background(), hello)
		fmt.Println("run error:", err)
		if errors.Is(err, namespace.ErrNoInit) {
			os.Exit(3)
		}
		os.Exit(1)
	case "command":
		cmd := ns.Command(context.Background(), "sh", "-c", "echo command-ok")
		cmd.Stdout = os.Stdout
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Println("command error:", err)
			os.Exit(1)
		}
	}
}
