//go:build stress

package stress

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/linuxns/namespace"
)

// envHelper switches the test binary into a helper role (see TestMain).
const envHelper = "STRESS_HELPER"

func TestMain(m *testing.M) {
	namespace.Init()
	switch os.Getenv(envHelper) {
	case "":
	case "parent":
		// The "parent" of TestParentKilledMidRun: a Run that blocks until
		// this process is killed from outside.
		marker := os.Getenv("STRESS_MARKER")
		err := rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp()).Run(context.Background(), blocker, marker, "block")
		fmt.Println("Run returned:", err)
		os.Exit(1)
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
