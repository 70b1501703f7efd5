//go:build linux

package namespace

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
