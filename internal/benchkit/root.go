package benchkit

import "github.com/linuxns/namespace/internal/proctest"

// The set "bwrap-style root": the root of make demo, built from nothing
// (an empty tmpfs, /usr read-only, the host's /bin, /lib … as it has
// them: the links of a merged-/usr system, or read-only binds; a
// tmpfs on /tmp, a fresh /proc in a PID namespace, a minimal /dev), with
// the same arguments for nsrun and bwrap (bwrap's root is always an empty
// tmpfs).

// RootSetName names the set.
const RootSetName = "bwrap-style root"

// BwrapRootArgv returns bwrap's command line for the set, running prog;
// with user, in a user namespace in which the caller is root.
func BwrapRootArgv(user bool, prog ...string) []string {
	argv := []string{"bwrap"}
	if user {
		argv = append(argv, "--unshare-user", "--uid", "0", "--gid", "0")
	}
	argv = append(argv, "--unshare-pid", "--ro-bind", "/usr", "/usr")
	for _, e := range proctest.SystemLayout() {
		if e.Link != "" {
			argv = append(argv, "--symlink", e.Link, e.Name)
		} else {
			argv = append(argv, "--ro-bind", e.Name, e.Name)
		}
	}
	argv = append(argv, "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev")
	return append(argv, prog...)
}

// NsrunRootArgv returns nsrun's command line for the set, running prog.
func NsrunRootArgv(nsrun string, user bool, prog ...string) []string {
	argv := []string{nsrun}
	if user {
		argv = append(argv, "--map-root-user")
	}
	argv = append(argv, "--pid", "--empty-root", "--ro-bind", "/usr")
	for _, e := range proctest.SystemLayout() {
		if e.Link != "" {
			argv = append(argv, "--symlink", e.Link+":"+e.Name)
		} else {
			argv = append(argv, "--ro-bind", e.Name)
		}
	}
	argv = append(argv, "--tmpfs", "/tmp", "--dev", "--")
	return append(argv, prog...)
}
