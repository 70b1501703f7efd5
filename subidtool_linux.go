package namespace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// subIDToolDirs are the only directories where a program running with
// elevated privilege (setuid, setgid or file capabilities: see
// elevatedPrivilege) looks for newuidmap and newgidmap: its $PATH is the
// invoking user's, who could otherwise have it run a program of theirs.
var subIDToolDirs = []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"}

// subIDTool returns the path of the helper name (newuidmap, newgidmap):
// found in $PATH, or only in subIDToolDirs when the program runs with
// elevated privilege.
func subIDTool(name string) (string, error) {
	if !elevatedPrivilege() {
		return exec.LookPath(name)
	}
	for _, dir := range subIDToolDirs {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: errors.New("not found in " + "/usr/bin, /usr/sbin, /bin or /sbin (a program with elevated privilege does not search $PATH)")}
}

// subIDToolTimeout bounds each run of newuidmap and newgidmap, which take
// milliseconds: a helper that hangs (a wrapper waiting for input, a stuck
// lookup) fails the start instead of holding it, and the child waiting
// for its maps, for good.
var subIDToolTimeout = 10 * time.Second

// runSubIDTool runs the helper at path with args, within subIDToolTimeout
// (then it and what it started, its process group, are killed).
func runSubIDTool(path string, args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), subIDToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A descendant of the helper holding its output does not hold this
	// up either; the helper's own status is what counts.
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	if err == nil {
		return nil
	}
	what := filepath.Base(path) + " " + strings.Join(args, " ")
	text := strings.TrimSpace(string(out))
	if ctx.Err() != nil && (cmd.ProcessState == nil || !cmd.ProcessState.Exited()) {
		return fmt.Errorf("namespace: %s did not finish within %v (killed): %w: %s", what, subIDToolTimeout, os.ErrDeadlineExceeded, text)
	}
	return fmt.Errorf("namespace: %w: %s: %w: %s", ErrPermission, what, err, text)
}
