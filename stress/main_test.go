//go:build stress && linux

package stress

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/linuxns/namespace"
)

// envHelper switches the test binary into a helper role (see TestMain);
// envHelperOpts tells the helper which namespaces to use.
const (
	envHelper     = "STRESS_HELPER"
	envHelperOpts = "STRESS_HELPER_OPTS"
)

func TestMain(m *testing.M) {
	namespace.Init()
	switch os.Getenv(envHelper) {
	case "":
	case "parent":
		// The "parent" of TestParentKilledMidRun: a Run that blocks until
		// this process is killed from outside. Its last argument is the
		// marker, which the Run child inherits with the argv.
		marker := os.Args[len(os.Args)-1]
		opts := os.Getenv(envHelperOpts)
		args := []string{marker, "block"}
		if opts == "nopid" {
			args = append(args, "alone")
		}
		err := helperNamespace(opts).Run(context.Background(), blocker, args...)
		fmt.Println("Run returned:", err)
		os.Exit(1)
	case "spawner":
		// The "parent" of TestParentKilledMidStartProcess: it starts
		// shells with StartProcess, one after the other, and never waits
		// for them, until it is killed from outside.
		marker := os.Args[len(os.Args)-1]
		ns := helperNamespace(os.Getenv(envHelperOpts))
		for i := 0; i < 40; i++ {
			if _, err := ns.StartProcess("/bin/sh", []string{"sh", "-c", "while :; do sleep 1; done", marker}, nil); err != nil {
				fmt.Println("StartProcess:", err)
				os.Exit(1)
			}
			if i == 0 {
				fmt.Println("started")
			}
		}
		// Wait to be killed. Not select {}: with nothing else to run, the
		// runtime ends that as a deadlock, which the 40 starts reach
		// before the kill now that the clone no longer copies the
		// helper's memory.
		for {
			time.Sleep(time.Hour)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(envHelper))
		os.Exit(2)
	}
	code := m.Run()
	printFigures()
	os.Exit(code)
}

// rootless returns a Namespace with opts, plus a user namespace when the
// suite does not run as root.
func rootless(opts ...namespace.Option) *namespace.Namespace {
	if os.Geteuid() != 0 {
		opts = append([]namespace.Option{namespace.WithPrivateUser()}, opts...)
	}
	return namespace.New(opts...)
}
