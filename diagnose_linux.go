package namespace

import (
	"fmt"
	"os"
	"syscall"
)

// startFailure explains a function or pool child that exited after it took
// its job but before it ran it, when the cause is not that the program does
// not call Init (for which the caller reports ErrNoInit): it returns nil
// then.
//
// A child whose plan makes it execute itself again (a time namespace, or
// WithKillDescendants' subreaper) asks for its job a second time from the
// new program; if it never asked, that program died starting, before any
// of its code ran (a Go runtime that cannot start, a kernel that refuses
// it, a signal), and Init has nothing to do with it. A Go program that
// panics or hits a fatal runtime error exits with status 2. The child's
// standard error is the caller's, where the runtime printed why.
func startFailure(j *job, ps *os.ProcessState, rep report) error {
	code := ps.ExitCode()
	timeNS := hasStep(j.Plan.Steps, stepTimeNS)
	if (timeNS || j.Plan.KillDescendants) && rep.acked && rep.hellos < 2 {
		how := "to enter its time namespace"
		if !timeNS {
			how = "under its subreaper (WithKillDescendants)"
		}
		msg := fmt.Sprintf("the child took its job, executed the program again %s, and the program exited before it asked for the job again: it failed to start there, before any of its code ran", how)
		if sig := code - 128; sig > 0 && sig < 65 {
			// The raw process in front of it reports a signal as 128+N.
			msg += fmt.Sprintf(" (status 128+%d: %v killed it)", sig, syscall.Signal(sig))
		}
		return &ExitError{Code: code, Msg: msg + "; its standard error, which is this program's, says why"}
	}
	if code == 2 {
		return &ExitError{Code: code, Msg: fmt.Sprintf("the child exited with status 2 before it ran %q: the status of a Go program after a panic or a fatal runtime error (or a flag error), printed on its standard error, which is this program's", j.Func)}
	}
	return nil
}
