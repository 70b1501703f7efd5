package namespace

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/syscalls"
)

// The trust boundary of a re-executed child.
//
// A program that imports this package may be installed setuid or with file
// capabilities, and anyone may start it with the child marker in its
// environment and a socket of their own at the descriptor the marker
// names. So the child role is taken only when the job provably comes from
// this process's parent, running the same program with the same
// credentials:
//
//   - the socket is a Unix stream socket whose peer (SO_PEERCRED: the
//     process that made the socket pair) is this process's parent;
//   - the parent's executable is the same file as this process's (device
//     and inode of /proc/PID/exe);
//   - the parent's user and group ids (real, effective, saved, file system)
//     and capability sets equal this process's. Two cases differ, because
//     the kernel changed the child's credentials on purpose: in a new user
//     namespace the capabilities are the namespace's own (only the ids are
//     compared, as this namespace sees them), and a parent that set other
//     ids for the child (exec.Cmd's SysProcAttr.Credential) must hold
//     CAP_SETUID / CAP_SETGID and every capability the child has.
//
// A process that gained privilege at its execution (AT_SECURE: setuid,
// setgid, file capabilities; or real ids other than its effective ones)
// accepts nothing less than all of these checks made and passed. If it
// cannot read its parent's executable (a parent that is not dumpable, as a
// program with file capabilities is, and a child without CAP_SYS_PTRACE),
// the credentials must be equal, capabilities included: only a program
// holding those privileges can have made the socket. A process that gained
// nothing at its execution can do nothing its parent could not; where it
// cannot read its parent (from a new user namespace) the ids as it sees
// them decide.
//
// Then, before it reports its set-up done, the child checks that every
// namespace it was asked to create differs from its parent's.

// parentProc is the parent process of a child, as seen through /proc.
type parentProc struct {
	pid       int // in the pid namespace of the /proc mount
	dir       int // O_PATH descriptor of /proc/PID, bound to the process
	ids       procIDs
	exeOK     bool // the executable could be compared, and is ours
	senderPid int  // the socket's maker, as this process's pid namespace sees it
	// childFDs is the size of this process's descriptor table when it was
	// checked (FDSize), 0 if unknown: every descriptor it inherited is
	// below it. fds are the descriptors open then, listed where the table
	// is larger than scanFDsBelow; nil if not listed (closeInheritedFds).
	childFDs int
	fds      []int
}

// procIDs is what the trust check compares of a process's credentials:
// the Uid, Gid and Cap* lines of /proc/PID/status; and, from the same read,
// its PPid (0 if absent) and FDSize.
type procIDs struct {
	uid, gid                string
	capInh, capPrm, capEff  uint64
	capBnd, capAmb          uint64
	effUID                  string
	haveUID, haveGID, haveC bool
	ppid, fdSize            int
}

// parseMarker splits the marker's value "FD:TOKEN", or
// "FD:TOKEN:ERRFD" (markerStderrFD).
func parseMarker(v string) (fd int, token string, ok bool) {
	f, token, found := strings.Cut(v, ":")
	token, _, _ = strings.Cut(token, ":")
	if !found || len(token) != 32 {
		return 0, "", false
	}
	fd, err := strconv.Atoi(f)
	if err != nil || fd < 3 || fd > 1<<20 {
		return 0, "", false
	}
	return fd, token, true
}

// markerStderrFD returns the marker's third field, the descriptor of the
// caller's standard error in a child whose own is a tee's pipe
// (stderrtee_linux.go), or -1.
func markerStderrFD(v string) int {
	_, rest, _ := strings.Cut(v, ":")
	_, f, found := strings.Cut(rest, ":")
	if !found {
		return -1
	}
	fd, err := strconv.Atoi(f)
	if err != nil || fd < 3 || fd > 1<<20 {
		return -1
	}
	return fd
}

// markerValue returns the marker's value for a job socket at fd.
func markerValue(fd int, token string) string {
	return strconv.Itoa(fd) + ":" + token
}

// isUnixStream reports whether fd is an open Unix stream socket.
func isUnixStream(fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return false
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || dom != unix.AF_UNIX {
		return false
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	return err == nil && typ == unix.SOCK_STREAM
}

// errUntrusted marks a job socket that does not come from a parent the
// child may trust.
var errUntrusted = errors.New("the job does not come from this program's parent running the same program with the same credentials")

// verifyParent checks that the socket at fd was made by this process's
// parent (or, with hops 3, by the parent's grandparent: a child re-executed
// under WithKillDescendants' subreaper) and that each of them runs the same
// program with the same credentials (see above). It returns the socket's
// maker; the caller closes its dir.
func verifyParent(fd, hops int) (*parentProc, error) {
	// A socket without a peer gives SO_PEERCRED pid 0, as a maker outside
	// this process's PID namespace does, and could be connected later by
	// anyone who holds it: only a connected one (a socket pair) is taken.
	if _, err := unix.Getpeername(fd); err != nil {
		return nil, fmt.Errorf("%w: the socket has no peer: %w", errUntrusted, err)
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return nil, fmt.Errorf("%w: SO_PEERCRED: %w", errUntrusted, err)
	}
	// This process's parent as its own pid namespace sees it, before
	// anything is read: while getppid gives the same non-zero pid, the
	// parent has not changed (one that dies hands this process to a
	// reaper, another process; one outside the namespace reads as 0).
	firstPpid := unix.Getppid()
	childDir, err := procOpenDir("self")
	if err != nil {
		return nil, fmt.Errorf("%w: open /proc/self: %w", errUntrusted, err)
	}
	// One read of this process's status gives its credentials, its
	// parent's pid (to open) and its table size.
	self, err := readProcIDs(childDir, "status")
	if err != nil {
		unix.Close(childDir)
		return nil, fmt.Errorf("%w: read /proc/self/status: %w", errUntrusted, err)
	}
	// The descriptors it inherited, listed while procfs is there for
	// certain (inheritedfds_linux.go). Not listed, they are found later.
	var fds []int
	if self.fdSize > scanFDsBelow {
		fds, _ = listFDs(childDir)
	}
	elevated := elevatedPrivilege()
	var mine unix.Stat_t
	if err := procStat("self/exe", &mine); err != nil {
		unix.Close(childDir)
		return nil, fmt.Errorf("%w: stat /proc/self/exe: %w", errUntrusted, err)
	}
	var p *parentProc
	ppid := self.ppid
	for hop := 1; hop <= hops; hop++ {
		p, err = checkAncestor(childDir, ppid, &self, &mine, elevated)
		if err == nil && hops > 1 {
			// Still the same process, alive: the checks were made on it.
			if err = stillParentOf(childDir, ppid); err != nil {
				unix.Close(p.dir)
			}
		}
		if err != nil {
			unix.Close(childDir)
			return nil, err
		}
		if hop < hops {
			unix.Close(childDir)
			childDir, ppid = p.dir, p.ids.ppid
		}
	}
	if hops > 1 {
		unix.Close(childDir) // the last ancestor's child
	}
	if verifyParentHook != nil {
		verifyParentHook(ppid)
	}
	// The maker by pidfd, which names it even outside this process's PID
	// namespace, where SO_PEERCRED gives 0 (peerpidfd_linux.go).
	maker, makerLive, makerKnown := peerPidfdPid(fd)
	if hops == 1 {
		// The parent checked is still this process's parent. Its
		// directory was opened, and its files read, between this
		// process's status read and now: if the parent was the same
		// process at both ends, they were the parent's. Any one of three
		// says so, the cheapest first: getppid unchanged (not in a new
		// PID namespace: a parent is older than its child, so no later
		// parent can have had the number); the maker's pidfd showing the
		// parent's pid and not yet readable (the socket had its peer
		// before this process started, so the maker held that pid when
		// the status was read and was the parent; a process that has not
		// exited is still the parent of its children, whereas a zombie
		// keeps its pid but has handed them on); the parent's pid read
		// again.
		switch {
		case firstPpid != 0 && unix.Getppid() == firstPpid:
		case makerKnown && makerLive && maker == ppid:
		default:
			err = stillParentOf(childDir, ppid)
		}
		unix.Close(childDir)
		if err != nil {
			unix.Close(p.dir)
			return nil, err
		}
	}
	p.childFDs, p.fds = self.fdSize, fds
	// The maker's pid is as this process's pid namespace sees it: 0 when
	// the maker is outside it (a new pid namespace), as getppid's is.
	want := unix.Getppid()
	if hops > 1 {
		// p.pid is as the /proc mount sees it; SO_PEERCRED gives the pid
		// in this process's pid namespace, 0 for a maker outside it (a
		// child in a new PID namespace behind a raw subreaper or relay).
		want = pidInOwnNS(p.dir, p.pid)
	}
	if int(cred.Pid) != want {
		unix.Close(p.dir)
		return nil, fmt.Errorf("%w: the socket was made by process %d, not by process %d", errUntrusted, cred.Pid, want)
	}
	if makerKnown && maker != p.pid {
		unix.Close(p.dir)
		return nil, fmt.Errorf("%w: the socket was made by process %d (its pidfd), not by process %d", errUntrusted, maker, p.pid)
	}
	// SO_PEERCRED's ids are the maker's when it made the socket: a
	// process that gained privilege accepts only a socket made with the
	// maker's effective ids of now, not one made before the maker executed
	// a setuid program (its pid is the same; the ids are not).
	if elevated && !peerIDsCurrent(cred, &p.ids) {
		unix.Close(p.dir)
		return nil, fmt.Errorf("%w: the socket was made with uid %d gid %d, not with its maker's effective ids of now (Uid %s, Gid %s): it was made before the maker executed a program with privilege", errUntrusted, cred.Uid, cred.Gid, p.ids.uid, p.ids.gid)
	}
	p.senderPid = want
	return p, nil
}

// verifyParentHook, if set (by tests), runs in verifyParent after the
// ancestors' checks, before it makes sure the parent is still there; it
// gets the parent's pid.
var verifyParentHook func(ppid int)

// stillParentOf returns nil if the process whose /proc directory is
// childDir still has ppid as its parent (as the /proc mount sees it).
func stillParentOf(childDir, ppid int) error {
	if again, err := ppidOf(childDir); err != nil || again != ppid {
		return fmt.Errorf("%w: the parent exited", errUntrusted)
	}
	return nil
}

// peerIDsCurrent reports whether SO_PEERCRED's ids, taken when the socket
// was made, are the maker's effective ids (ids, from its status) of now.
func peerIDsCurrent(cred *unix.Ucred, ids *procIDs) bool {
	u, g := strings.Fields(ids.uid), strings.Fields(ids.gid)
	return len(u) > 1 && len(g) > 1 && u[1] == strconv.FormatUint(uint64(cred.Uid), 10) && g[1] == strconv.FormatUint(uint64(cred.Gid), 10)
}

// checkAncestor checks the parent of the process whose /proc directory is
// childDir: it must run the program whose executable is exe, with
// credentials that agree with self's. ppid is the PPid that process's
// status gave. The caller then makes sure that this process was still the
// parent after the checks (verifyParent): the parent's /proc directory
// names it only if it did not die (and its pid was not reused) before the
// directory was opened, and a parent that was the same process before and
// after lived throughout.
func checkAncestor(childDir, ppid int, self *procIDs, exe *unix.Stat_t, elevated bool) (*parentProc, error) {
	if ppid <= 0 {
		return nil, fmt.Errorf("%w: the parent is not visible in /proc (PPid %d)", errUntrusted, ppid)
	}
	dir, err := procOpenDir(strconv.Itoa(ppid))
	if err != nil {
		return nil, fmt.Errorf("%w: open /proc/%d: %w", errUntrusted, ppid, err)
	}
	p := &parentProc{pid: ppid, dir: dir}
	fail := func(err error) (*parentProc, error) {
		unix.Close(dir)
		return nil, err
	}
	if p.ids, err = readProcIDs(dir, "status"); err != nil {
		return fail(fmt.Errorf("%w: read the parent's status: %w", errUntrusted, err))
	}
	var its unix.Stat_t
	switch err := unix.Fstatat(dir, "exe", &its, 0); {
	case err == nil:
		if exe.Dev != its.Dev || exe.Ino != its.Ino {
			return fail(fmt.Errorf("%w: the parent (%d) runs another program", errUntrusted, ppid))
		}
		// Through a passed /proc (procRoot), a file mounted on exe could
		// pass for the program: it counts as not compared.
		p.exeOK = procRoot.fd < 0
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		// Not visible to this process: a parent in an outer user
		// namespace, or one that is not dumpable; see above.
	default:
		return fail(fmt.Errorf("%w: stat /proc/%d/exe: %w", errUntrusted, ppid, err))
	}
	if err := compareCreds(self, &p.ids, p.exeOK, userNSRelation(dir), elevated); err != nil {
		return fail(err)
	}
	return p, nil
}

// elevatedPrivilege reports whether this process gained privilege when it
// was executed (setuid, setgid, file capabilities: AT_SECURE), or runs
// with real ids other than its effective ones.
func elevatedPrivilege() bool {
	if os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid() {
		return true
	}
	auxv, err := unix.Auxv()
	if err != nil {
		return true // cannot tell: the strict rules apply
	}
	for _, kv := range auxv {
		if kv[0] == atSecure {
			return kv[1] != 0
		}
	}
	return true
}

// atSecure is the auxiliary vector's AT_SECURE key (elf.h).
const atSecure = 23

// nsRelation is how a child's user namespace relates to its parent's.
type nsRelation int

const (
	nsUnknown nsRelation = iota // the parent's cannot be read
	nsSame
	nsNew
)

// userNSRelation compares this process's user namespace with its parent's.
func userNSRelation(parentDir int) nsRelation {
	var mine, its unix.Stat_t
	if procStat("self/ns/user", &mine) != nil || unix.Fstatat(parentDir, "ns/user", &its, 0) != nil {
		return nsUnknown
	}
	if mine.Dev != its.Dev || mine.Ino != its.Ino {
		return nsNew
	}
	return nsSame
}

// compareCreds applies the credential rules to the child's and the
// parent's ids. exeOK says the parent's executable was compared;
// elevated, that this process gained privilege at its execution.
func compareCreds(self, parent *procIDs, exeOK bool, userNS nsRelation, elevated bool) error {
	if !self.haveUID || !self.haveGID || !parent.haveUID || !parent.haveGID || !self.haveC || !parent.haveC {
		return fmt.Errorf("%w: incomplete credentials in /proc", errUntrusted)
	}
	sameIDs := self.uid == parent.uid && self.gid == parent.gid
	sameCaps := self.capInh == parent.capInh && self.capPrm == parent.capPrm && self.capEff == parent.capEff &&
		self.capBnd == parent.capBnd && self.capAmb == parent.capAmb
	if sameIDs && sameCaps {
		return nil
	}
	if elevated && (!exeOK || userNS != nsSame) {
		// Anything less than the same credentials is refused to a
		// process that gained privilege, unless the parent's program
		// was seen to be this one.
		return fmt.Errorf("%w: this process gained privilege at its execution, and its parent's credentials differ from its own", errUntrusted)
	}
	if userNS != nsSame {
		// In a new user namespace the kernel gave this process the
		// namespace's capabilities, and the ids are as the namespace
		// sees them; the same holds when the parent's namespace cannot
		// be read (a process without gained privilege).
		if sameIDs || parent.effUID == "0" {
			return nil
		}
		return fmt.Errorf("%w: the parent's ids (Uid %s, Gid %s) differ from this process's (Uid %s, Gid %s)", errUntrusted, parent.uid, parent.gid, self.uid, self.gid)
	}
	if !exeOK && elevated {
		return fmt.Errorf("%w: the parent's executable cannot be compared, and its credentials differ", errUntrusted)
	}
	// The parent gave the child other ids or fewer capabilities: it must
	// have been able to.
	const setuid, setgid = 1 << unix.CAP_SETUID, 1 << unix.CAP_SETGID
	if self.uid != parent.uid && parent.capEff&setuid == 0 {
		return fmt.Errorf("%w: the parent's uids (%s) differ from this process's (%s) and it lacks CAP_SETUID", errUntrusted, parent.uid, self.uid)
	}
	if self.gid != parent.gid && parent.capEff&setgid == 0 {
		return fmt.Errorf("%w: the parent's gids (%s) differ from this process's (%s) and it lacks CAP_SETGID", errUntrusted, parent.gid, self.gid)
	}
	if self.capPrm&^parent.capPrm != 0 || self.capAmb&^parent.capPrm != 0 || self.capBnd&^parent.capBnd != 0 {
		return fmt.Errorf("%w: this process has capabilities its parent lacks", errUntrusted)
	}
	return nil
}

// ppidOf returns the PPid of the process whose /proc directory is dir, as
// the /proc mount sees it.
func ppidOf(dir int) (int, error) {
	b, err := readSmallFile(dir, "status")
	if err != nil {
		return 0, err
	}
	v, ok := statusField(b, "PPid:")
	if !ok {
		return 0, errors.New("no PPid in status")
	}
	return strconv.Atoi(v)
}

func readProcIDs(dir int, name string) (procIDs, error) {
	var ids procIDs
	b, err := readSmallFile(dir, name)
	if err != nil {
		return ids, err
	}
	if v, ok := statusField(b, "PPid:"); ok {
		ids.ppid, _ = strconv.Atoi(v)
	}
	if v, ok := statusField(b, "FDSize:"); ok {
		ids.fdSize, _ = strconv.Atoi(v)
	}
	ids.uid, ids.haveUID = statusField(b, "Uid:")
	ids.gid, ids.haveGID = statusField(b, "Gid:")
	if f := strings.Fields(ids.uid); len(f) > 1 {
		ids.effUID = f[1]
	}
	ids.haveC = true
	for _, c := range []struct {
		key string
		v   *uint64
	}{{"CapInh:", &ids.capInh}, {"CapPrm:", &ids.capPrm}, {"CapEff:", &ids.capEff}, {"CapBnd:", &ids.capBnd}, {"CapAmb:", &ids.capAmb}} {
		s, ok := statusField(b, c.key)
		if !ok {
			ids.haveC = false
			continue
		}
		if *c.v, err = strconv.ParseUint(s, 16, 64); err != nil {
			ids.haveC = false
		}
	}
	return ids, nil
}

// statusField returns the value of the line "key\tvalue" of a status file,
// with its white space normalised.
func statusField(b []byte, key string) (string, bool) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			return strings.Join(strings.Fields(string(v)), " "), true
		}
	}
	return "", false
}

// readSmallFile reads a /proc file relative to dir with raw system calls.
func readSmallFile(dir int, name string) ([]byte, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := procSameMount(fd); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= 1<<16 {
				return nil, errors.New("file too large")
			}
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// nsKinds are the namespace kinds a child's clone creates, with their
// names under /proc/PID/ns.
var nsKinds = []struct {
	flag uintptr
	name string
}{
	{syscalls.CLONE_NEWUSER, "user"},
	{syscalls.CLONE_NEWNS, "mnt"},
	{syscalls.CLONE_NEWPID, "pid"},
	{syscalls.CLONE_NEWNET, "net"},
	{syscalls.CLONE_NEWIPC, "ipc"},
	{syscalls.CLONE_NEWUTS, "uts"},
	{syscalls.CLONE_NEWCGROUP, "cgroup"},
	{syscalls.CLONE_NEWTIME, "time"},
}

// parentNamespaces returns the identities ("name:dev:ino") of this
// process's namespaces of the kinds among flags, for a child to compare
// with its own where it cannot read its parent's (from a new user
// namespace).
func parentNamespaces(flags uintptr) []string {
	var ids []string
	for _, k := range nsKinds {
		var st unix.Stat_t
		if flags&k.flag == 0 || unix.Stat("/proc/self/ns/"+k.name, &st) != nil {
			continue
		}
		ids = append(ids, nsIdentity(k.name, &st))
	}
	return ids
}

func nsIdentity(name string, st *unix.Stat_t) string {
	return name + ":" + strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(st.Ino, 10)
}

// checkNamespacesDiffer returns an error naming each namespace among flags
// that this process shares with its parent: read from the parent's /proc
// directory (dir, from verifyParent), or, where this process may not read
// it, as the parent gave them in the job (parentNS). For a time namespace,
// which applies to children, the one for children is compared.
func checkNamespacesDiffer(parentDir int, flags uintptr, parentNS []string) error {
	var same []string
	for _, k := range nsKinds {
		if flags&k.flag == 0 {
			continue
		}
		var mine, its unix.Stat_t
		if err := procStat("self/ns/"+k.name, &mine); err != nil {
			return fmt.Errorf("stat /proc/self/ns/%s: %w", k.name, err)
		}
		if k.flag == syscalls.CLONE_NEWTIME {
			var kids unix.Stat_t
			if procStat("self/ns/time_for_children", &kids) == nil {
				mine = kids
			}
		}
		switch err := unix.Fstatat(parentDir, "ns/"+k.name, &its, 0); {
		case err == nil:
			if mine.Dev == its.Dev && mine.Ino == its.Ino {
				same = append(same, k.name)
			}
		case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
			if !slices.Contains(parentNS, nsIdentity(k.name, &mine)) {
				if !slices.ContainsFunc(parentNS, func(id string) bool { return strings.HasPrefix(id, k.name+":") }) {
					return fmt.Errorf("the parent's %s namespace can be neither read nor found in the job", k.name)
				}
				continue
			}
			same = append(same, k.name)
		default:
			return fmt.Errorf("stat the parent's %s namespace: %w", k.name, err)
		}
	}
	if len(same) > 0 {
		return fmt.Errorf("the %s namespace(s) were not created: this process shares them with its parent", strings.Join(same, ", "))
	}
	return nil
}

// pidInOwnNS returns the pid of the process whose /proc directory is dir (an
// ancestor of this process) as this process's pid namespace sees it: 0 if
// that process is outside it. The NSpid lines of /proc/PID/status list a
// process's pids from the /proc mount's pid namespace down to its own; an
// ancestor's namespace is this process's or one of its ancestors. Without
// NSpid (before Linux 4.1), it returns fallback.
func pidInOwnNS(dir, fallback int) int {
	self, err1 := readSmallFile(procAt("self/status"))
	its, err2 := readSmallFile(dir, "status")
	if err1 != nil || err2 != nil {
		return fallback
	}
	s, ok1 := statusField(self, "NSpid:")
	t, ok2 := statusField(its, "NSpid:")
	if !ok1 || !ok2 {
		return fallback
	}
	mine, theirs := strings.Fields(s), strings.Fields(t)
	if len(theirs) < len(mine) {
		return 0
	}
	pid, err := strconv.Atoi(theirs[len(mine)-1])
	if err != nil {
		return fallback
	}
	return pid
}
