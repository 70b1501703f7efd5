//go:build linux

package namespace

import (
	"fmt"
	"os"
	"testing"
)

// ExecInPlaceEnv makes the test binary the helper of TestExec: it executes
// sh with the script in this variable in its own place (Exec), in new mount
// (private /tmp), network and UTS namespaces.
const ExecInPlaceEnv = "LINUXNS_TEST_EXEC_IN_PLACE"

// LoStateEnv makes the test binary print the state of the loopback
// interface of its own network namespace ("up" or "down", SIOCGIFFLAGS) and
// exit: /sys/class/net shows the network namespace of whoever mounted
// sysfs, not the reader's.
const LoStateEnv = "LINUXNS_TEST_LO_STATE"

func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(parentRaceEnv); ok {
		parentRaceHelper(v) // TestVerifyParentGone; it exits
	}
	if v, ok := os.LookupEnv(earlyDeathEnv); ok {
		// A child that dies before Init runs its function
		// (TestChildStderrDiagnosis): as a package's init would.
		fmt.Fprintln(os.Stderr, "about to fail:", v)
		panic(v)
	}
	Init()
	if v, ok := os.LookupEnv(benchCallerEnv); ok {
		benchCallerHelper(v) // BenchmarkStartProcessCallerHeap; it exits
	}
	if _, ok := os.LookupEnv(ProbeEnv); ok {
		fmt.Print(describeSetUp())
		os.Exit(0)
	}
	if _, ok := os.LookupEnv(LoStateEnv); ok {
		fmt.Print(loopbackState())
		os.Exit(0)
	}
	if v, ok := os.LookupEnv(FSSetupEnv); ok {
		fsSetupHelper(v) // (again in the program Setup re-executes)
	}
	if dir, ok := os.LookupEnv(PrivSetupEnv); ok {
		if err := New(privEveryVerbOptions()...).Setup(); err != nil {
			fmt.Fprintf(os.Stderr, "Setup: %v\n", err)
			os.Exit(3)
		}
		fmt.Print(privDescribe(dir))
		os.Exit(0)
	}
	if dir, ok := os.LookupEnv(PrivStageSetupEnv); ok {
		privStageSetupHelper(dir)
	}
	if name, ok := os.LookupEnv(PrivSetupFailEnv); ok {
		privSetupFailHelper(name)
	}
	if dir, ok := os.LookupEnv(PrivProbeEnv); ok {
		fmt.Print(privDescribe(dir))
		os.Exit(0)
	}
	if script, ok := os.LookupEnv(ExecInPlaceEnv); ok {
		os.Unsetenv(ExecInPlaceEnv)
		err := New(WithPrivateTmp(), WithPrivateNet(), WithHostname("in-place")).Exec("/bin/sh", []string{"sh", "-c", script}, nil)
		fmt.Fprintf(os.Stderr, "exec in place: %v\n", err)
		os.Exit(3)
	}
	if _, ok := os.LookupEnv(SubIDsEnv); ok {
		subIDsHelper()
	}
	if v, ok := os.LookupEnv(JoinSetupEnv); ok {
		joinSetupHelper(v)
	}
	if v, ok := os.LookupEnv(JoinPIDSetupEnv); ok {
		joinPIDSetupHelper(v)
	}
	os.Exit(m.Run())
}
