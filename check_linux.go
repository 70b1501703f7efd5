package namespace

// The doctor: Check, and the likely cause named in the errors of creating
// namespaces (diagnose), found by the same checks.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// sysctlInt reads the integer /proc/sys/<name> ("user/max_user_namespaces");
// ok is false if the knob does not exist on this kernel.
func sysctlInt(name string) (int, bool) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return v, err == nil
}

// statusField returns the value of a field of /proc/self/status.
func selfStatus(name string) string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// hasCapSysAdmin reports whether the calling thread has CAP_SYS_ADMIN in
// its effective set.
func hasCapSysAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil {
		return false
	}
	return data[unix.CAP_SYS_ADMIN/32].Effective&(1<<(unix.CAP_SYS_ADMIN%32)) != 0
}

// blocker is a cause found for a refused namespace, with its remedy.
type blocker struct{ cause, remedy string }

// userNSBlockers returns what keeps the caller from creating user
// namespaces, as far as the knobs and the process tell.
func userNSBlockers() []blocker {
	var bs []blocker
	if v, ok := sysctlInt("user/max_user_namespaces"); ok && v == 0 {
		bs = append(bs, blocker{"user namespaces are disabled: user.max_user_namespaces=0 in this user namespace",
			"raise it (sysctl -w user.max_user_namespaces=15000) in the user namespace that lowered it"})
	}
	if !hasCapSysAdmin() {
		if v, ok := sysctlInt("kernel/unprivileged_userns_clone"); ok && v == 0 {
			bs = append(bs, blocker{"unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone=0",
				"as root: sysctl -w kernel.unprivileged_userns_clone=1, or run as root"})
		}
		if v, ok := sysctlInt("kernel/apparmor_restrict_unprivileged_userns"); ok && v == 1 {
			bs = append(bs, blocker{"AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns=1",
				"give the program an AppArmor profile with the userns permission (/etc/apparmor.d), or as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"})
		}
	}
	if seccompFiltered() {
		bs = append(bs, blocker{"a seccomp filter is installed on this process (Seccomp: 2 in /proc/self/status), as container runtimes install, and may refuse the namespace system calls",
			"run with a seccomp profile that allows clone, clone3, unshare and setns with namespace flags (for example docker run --security-opt seccomp=unconfined)"})
	}
	return bs
}

// seccompFiltered reports whether a seccomp filter is on this process.
func seccompFiltered() bool { return selfStatus("Seccomp") == "2" }

// kindLimits returns, for each kind of flags, "user.max_KIND_namespaces=V"
// and whether V is 0.
func kindLimits(flags uintptr) (limits []string, zero []string) {
	for _, t := range syscalls.TypesOf(flags) {
		name := "user/max_" + t.ProcName() + "_namespaces"
		if v, ok := sysctlInt(name); ok {
			s := strings.ReplaceAll(name, "/", ".") + "=" + strconv.Itoa(v)
			limits = append(limits, s)
			if v == 0 {
				zero = append(zero, s)
			}
		}
	}
	return limits, zero
}

// certainUserNSBlock returns the errno with which the kernel refuses every
// new user namespace of this caller, where a knob makes that certain
// (user.max_user_namespaces=0: ENOSPC; kernel.unprivileged_userns_clone=0
// without CAP_SYS_ADMIN: EPERM), or 0. The causes that may or may not apply
// (AppArmor's profiles, a seccomp filter) are left to the kernel.
func certainUserNSBlock() syscall.Errno {
	if v, ok := sysctlInt("user/max_user_namespaces"); ok && v == 0 {
		return syscall.ENOSPC
	}
	if v, ok := sysctlInt("kernel/unprivileged_userns_clone"); ok && v == 0 && !hasCapSysAdmin() {
		return syscall.EPERM
	}
	return 0
}

// diagnose names the likely cause of errno from creating the namespaces
// of n (step "create namespaces …"), found by the checks of Check, with
// its remedy; "" if it has nothing better than the generic hint.
func diagnose(step string, errno syscall.Errno, n *Namespace) string {
	if n == nil || !strings.HasPrefix(step, "create namespaces") {
		return ""
	}
	flags := n.Flags() &^ syscalls.CLONE_SYSVSEM
	switch errno {
	case syscall.EPERM, syscall.EACCES:
		if n.user {
			if bs := userNSBlockers(); len(bs) > 0 {
				return bs[0].cause + "; " + bs[0].remedy
			}
			return ""
		}
		if seccompFiltered() && hasCapSysAdmin() {
			bs := userNSBlockers()
			return bs[len(bs)-1].cause + "; " + bs[len(bs)-1].remedy
		}
	case syscall.ENOSPC:
		limits, zero := kindLimits(flags)
		if len(zero) > 0 {
			return "namespaces of this kind are disabled: " + strings.Join(zero, ", ") + " in this user namespace; raise it (sysctl -w, /proc/sys/user/max_*_namespaces) in the user namespace that lowered it"
		}
		if len(limits) > 0 {
			return "a limit on the number of namespaces was reached (" + strings.Join(limits, ", ") + ", counted per user and user namespace); end unused namespaces or raise the limit in /proc/sys/user/max_*_namespaces"
		}
	case syscall.EUSERS:
		return "user namespaces nest at most 32 deep, and this process is that deep; create the namespace from an outer one"
	case syscall.EINVAL:
		if flags&syscalls.CLONE_NEWTIME != 0 {
			if _, err := os.Stat("/proc/self/ns/time"); err != nil {
				return "this kernel has no time namespaces (Linux 5.6 and later with CONFIG_TIME_NS); leave out WithPrivateTime"
			}
		}
	}
	return ""
}

// Check finds out, for the current user and process, which namespaces can
// be created, what blocks unprivileged user namespaces
// (user.max_user_namespaces, kernel.unprivileged_userns_clone, AppArmor's
// kernel.apparmor_restrict_unprivileged_userns, a seccomp filter), and
// whether the kernel has time namespaces, pidfds, clone3, mount_setattr,
// Landlock (its ABI) and seccomp, whether the cgroup v2 hierarchy is
// delegated to the user, and whether newuidmap, newgidmap and subordinate
// id ranges are there (SubIDs). Each Finding that is not OK says what to
// do. The kinds are checked by creating them, in a child that is ended at
// once; nothing else is created or changed. Check does not wait longer
// than it takes; ctx only stops it between checks.
func Check(ctx context.Context) Report {
	var r Report
	add := func(name string, ok bool, detail, remedy string) {
		r.Findings = append(r.Findings, Finding{Name: name, OK: ok, Detail: detail, Remedy: remedy})
	}
	root := hasCapSysAdmin()
	for _, t := range syscalls.Types() {
		if ctx.Err() != nil {
			return r
		}
		opts := []Option{kindOption(t)}
		how := "as a privileged user"
		if !root && t != syscalls.User {
			opts = append(opts, WithPrivateUser())
			how = "inside a new user namespace"
		}
		if root && t == syscalls.User {
			how = "as a privileged user"
		}
		err := probeCreate(New(opts...))
		detail := "created " + how
		remedy := ""
		if err != nil {
			detail = err.Error()
			var se *SetupError
			if errors.As(err, &se) && se.Hint != "" {
				remedy = se.Hint
			}
		}
		add("create "+t.String()+" namespace", err == nil, detail, remedy)
	}
	bs := userNSBlockers()
	if len(bs) == 0 {
		add("unprivileged user namespaces", true, "nothing found that blocks them", "")
	}
	for _, b := range bs {
		add("unprivileged user namespaces", false, b.cause, b.remedy)
	}
	_, err := os.Stat("/proc/self/ns/time")
	add("time namespaces", err == nil, errDetail(err, "/proc/self/ns/time is there"), "Linux 5.6 and later with CONFIG_TIME_NS")
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err == nil {
		unix.Close(fd)
	}
	add("pidfd", err == nil, errDetail(err, "pidfd_open works"), "Linux 5.3 and later; setns on a pidfd needs 5.8")
	_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	add("clone3", e != unix.ENOSYS, errnoDetail(e, "clone3 exists"), "Linux 5.3 and later (or a seccomp profile that lets it through)")
	_, _, e = unix.Syscall6(unix.SYS_MOUNT_SETATTR, ^uintptr(0), 0, 0, 0, 0, 0)
	add("mount_setattr", e != unix.ENOSYS, errnoDetail(e, "mount_setattr exists"), "Linux 5.12 and later")
	abi, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1) // LANDLOCK_CREATE_RULESET_VERSION
	add("Landlock", e == 0, errnoDetail(e, "ABI version "+strconv.Itoa(int(abi))), "Linux 5.13 and later with landlock in the lsm= boot parameter")
	_, err = unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	add("seccomp", err == nil, errDetail(err, "available; this process's mode: "+selfStatus("Seccomp")), "a kernel with CONFIG_SECCOMP_FILTER")
	add(cgroupFinding())
	add(subIDFinding())
	return r
}

// kindOption returns the option that creates a namespace of kind t.
func kindOption(t syscalls.Type) Option {
	switch t {
	case syscalls.User:
		return WithPrivateUser()
	case syscalls.Mount:
		return WithPrivateMount()
	case syscalls.UTS:
		return WithPrivateUTS()
	case syscalls.IPC:
		return WithPrivateIPC()
	case syscalls.Net:
		return WithPrivateNet()
	case syscalls.PID:
		return WithoutProc() // with WithPrivatePID, added below
	case syscalls.Cgroup:
		return WithPrivateCgroup()
	}
	return WithPrivateTime(0, 0)
}

// probeCreate creates the namespaces of n in a held child (Prepare) and
// ends it.
func probeCreate(n *Namespace) error {
	if n.noProc {
		n.pid = true
		n.given = append(n.given, "WithPrivatePID")
	}
	p, err := n.Prepare(selfExe, []string{"namespace-check"}, &os.ProcAttr{})
	if err != nil {
		return err
	}
	return p.Abort()
}

func errDetail(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

func errnoDetail(e syscall.Errno, ok string) string {
	if e == 0 || e != unix.ENOSYS && e != unix.EOPNOTSUPP {
		return ok
	}
	return e.Error()
}

// cgroupFinding checks what the cgroup options need: a cgroup v2
// hierarchy, wherever it is mounted, and a default parent (the caller's
// cgroup if it is the root, else the one above it) in which the caller
// may make a child's cgroup and move a process (a delegated subtree).
func cgroupFinding() (string, bool, string, string) {
	const name = "cgroup v2 delegation"
	if _, err := cgroup2Mount(); err != nil {
		return name, false, "no cgroup v2 hierarchy is mounted", "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2)"
	}
	parent, err := defaultCgroupParent()
	if err != nil {
		return name, false, err.Error(), "give the cgroup options a directory delegated to this user with WithCgroupParent (--cgroup-parent)"
	}
	if unix.Access(parent, unix.W_OK) != nil || unix.Access(parent+"/cgroup.procs", unix.W_OK) != nil {
		return name, false, "the default parent of a child's cgroup, " + parent + ", is not delegated to this user (not writable)",
			"run in a delegated cgroup (systemd-run --user --scope -p Delegate=yes …), or give WithCgroupParent a directory delegated to this user"
	}
	ctl, _ := os.ReadFile(parent + "/cgroup.subtree_control")
	return name, true, "a child's cgroup is made in " + parent + " (writable); controllers enabled for it: " + strings.TrimSpace(string(ctl)), ""
}

// subIDFinding checks newuidmap, newgidmap and the caller's subordinate
// id ranges (SubIDs).
func subIDFinding() (string, bool, string, string) {
	const name = "newuidmap and subordinate ids"
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := subIDTool(tool); err != nil {
			return name, false, tool + " is not installed", "install the uidmap package (Debian, Ubuntu) or shadow-utils"
		}
	}
	u, err := user.Current()
	if err != nil {
		return name, false, err.Error(), "the user must have a name in /etc/passwd"
	}
	uids, err1 := subIDRanges("/etc/subuid", u)
	gids, err2 := subIDRanges("/etc/subgid", u)
	if err1 != nil || err2 != nil {
		// One line: the files, not each file's whole error (which repeats
		// the remedy).
		var files []string
		for _, f := range []struct {
			name string
			err  error
		}{{"/etc/subuid", err1}, {"/etc/subgid", err2}} {
			if f.err != nil {
				files = append(files, f.name)
			}
		}
		return name, false, fmt.Sprintf("no subordinate range for user %s (uid %s) in %s", u.Username, u.Uid, strings.Join(files, " and ")),
			fmt.Sprintf("as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", u.Username)
	}
	return name, true, fmt.Sprintf("%d uid and %d gid ranges for %s", len(uids), len(gids), u.Username), ""
}
