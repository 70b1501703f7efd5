//go:build linux

package namespace

import (
	"os"
	"time"
)

// reaperWarmupEnv and reaperTickEnv, in a test's environment, set
// reaperWarmup and reaperTick in the children it starts (this test binary
// executed again), as durations. They are read as a package-level variable
// is initialised, before the init function in which a child starts.
const (
	reaperWarmupEnv = "LINUXNS_TEST_REAPER_WARMUP"
	reaperTickEnv   = "LINUXNS_TEST_REAPER_TICK"
)

var _ = func() bool {
	if d, err := time.ParseDuration(os.Getenv(reaperWarmupEnv)); err == nil {
		reaperWarmup = d
	}
	if d, err := time.ParseDuration(os.Getenv(reaperTickEnv)); err == nil {
		reaperTick = d
	}
	return true
}()

// DoExplicitDir is Do with the working directory taken as asked for
// explicitly (wire.StepDirExplicit), as a command's Dir is: the Go executor's
// handling of an explicit directory, tested through Do's thread.
func (n *Namespace) DoExplicitDir(fn func() error) error {
	if err := n.check(verbDo); err != nil {
		return err
	}
	p := n.plan()
	p.Steps = withDirExplicit(p.Steps)
	return n.do(p, fn)
}

// StepWorkDir names the step that enters the working directory again.
var StepWorkDir = stepWorkDirName

// ThreadLockMargin is how many unbalanced runtime.UnlockOSThread calls Do's
// fn may make.
const ThreadLockMargin = threadLockMargin
