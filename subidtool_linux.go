package namespace

import (
	"errors"
	"os"
	"os/exec"
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
