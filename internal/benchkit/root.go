package benchkit

// The set "bwrap-style root": the root of make demo, built from nothing
// (an empty tmpfs, /usr read-only, the links of a merged-/usr system, a
// tmpfs on /tmp, a fresh /proc in a PID namespace, a minimal /dev), with
// the same arguments for nsrun and bwrap (bwrap's root is always an empty
// tmpfs).

// RootSetName names the set.
const RootSetName = "bwrap-style root"

// rootLinks are the links of the root, as TARGET, LINK.
var rootLinks = [][2]string{{"usr/bin", "/bin"}, {"usr/sbin", "/sbin"}, {"usr/lib", "/lib"}, {"usr/lib64", "/lib64"}}

// BwrapRootArgv returns bwrap's command line for the set, running prog;
// with user, in a user namespace in which the caller is root.
func BwrapRootArgv(user bool, prog ...string) []string {
	argv := []string{"bwrap"}
	if user {
		argv = append(argv, "--unshare-user", "--uid", "0", "--gid", "0")
	}
	argv = append(argv, "--unshare-pid", "--ro-bind", "/usr", "/usr")
	for _, l := range rootLinks {
		argv = append(argv, "--symlink", l[0], l[1])
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
	for _, l := range rootLinks {
		argv = append(argv, "--symlink", l[0]+":"+l[1])
	}
	argv = append(argv, "--tmpfs", "/tmp", "--dev", "--")
	return append(argv, prog...)
}
