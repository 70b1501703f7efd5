package namespace

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/rawproc"
)

// Landlock: the parent compiles the rules into a step (the rights the
// kernel's ABI can handle, and the rules); each executor then creates the
// ruleset, opens each path as the child sees it after its mounts (O_PATH),
// adds a rule for it (the directory rights for a directory, the file
// rights for anything else), sets no_new_privs and restricts itself.

// The Landlock rights (<linux/landlock.h>) by the ABI that added them.
const (
	llFSv1 = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	llFSv2 = llFSv1 | unix.LANDLOCK_ACCESS_FS_REFER
	llFSv3 = llFSv2 | unix.LANDLOCK_ACCESS_FS_TRUNCATE
	llFSv5 = llFSv3 | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	// The rights that apply to a file (not a directory).
	llFileRights = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE |
		unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	llRead    = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	llNet     = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
	llNeedFS  = 3 // strict: the ABI the file system rules need
	llNeedNet = 4 // strict: the ABI the network rules need
)

// landlockABI returns the kernel's Landlock ABI version, 0 without
// Landlock.
var landlockABI = sync.OnceValue(func() int {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(v)
})

// landlockStep compiles c into a step for a kernel of Landlock ABI abi.
// It returns ok false when nothing is to be enforced (best effort without
// Landlock), and an error wrapping ErrUnsupported when a strict ruleset
// needs more than abi.
func landlockStep(c *landlockConfig, abi int, log *slog.Logger) (s step, ok bool, err error) {
	fs := uint64(0)
	switch {
	case abi >= 5:
		fs = llFSv5
	case abi >= 3:
		fs = llFSv3
	case abi == 2:
		fs = llFSv2
	case abi == 1:
		fs = llFSv1
	}
	var net uint64
	var data []byte
	hasNet := false
	for _, r := range c.rules {
		hasNet = hasNet || r.kind == landlockBind || r.kind == landlockConnect
	}
	unsupported := func(what string, need int) error {
		return fmt.Errorf("%w: Landlock %s needs ABI %d (this kernel has %d; 0: no Landlock, or disabled by the lsm= boot parameter); use LandlockBestEffort() to run without it", ErrUnsupported, what, need, abi)
	}
	if !c.bestEffort {
		if abi < llNeedFS {
			return s, false, unsupported("file system rules", llNeedFS)
		}
		if hasNet && abi < llNeedNet {
			return s, false, unsupported("network rules", llNeedNet)
		}
	}
	if abi == 0 {
		log.Warn("Landlock: the kernel has no Landlock; nothing of WithLandlock is enforced (LandlockBestEffort)")
		return s, false, nil
	}
	if abi < 5 {
		log.Warn("Landlock: the kernel's ABI cannot restrict every right (LandlockBestEffort)", "abi", abi,
			"not restricted", map[int]string{1: "refer, truncate, device ioctls", 2: "truncate, device ioctls", 3: "device ioctls", 4: "device ioctls"}[abi])
	}
	if hasNet {
		if abi >= 4 {
			net = llNet
		} else {
			log.Warn("Landlock: the kernel's ABI has no network rules; TCP is not restricted (LandlockBestEffort)", "abi", abi)
		}
	}
	for _, r := range c.rules {
		var dir uint64
		switch r.kind {
		case landlockRO:
			dir = llRead
		case landlockRW:
			dir = fs
		case landlockExec:
			dir = unix.LANDLOCK_ACCESS_FS_EXECUTE
		case landlockBind, landlockConnect:
			if net == 0 {
				continue
			}
			access := uint64(unix.LANDLOCK_ACCESS_NET_BIND_TCP)
			if r.kind == landlockConnect {
				access = unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
			}
			for _, p := range r.ports {
				data = append(data, 'n')
				data = binary.NativeEndian.AppendUint64(data, access)
				data = binary.NativeEndian.AppendUint64(data, uint64(p))
			}
			continue
		}
		dir &= fs
		for _, p := range r.paths {
			data = append(data, 'p')
			data = binary.NativeEndian.AppendUint64(data, dir)
			data = binary.NativeEndian.AppendUint64(data, dir&llFileRights)
			data = binary.NativeEndian.AppendUint32(data, uint32(len(p)))
			data = append(data, p...)
		}
	}
	return step{Kind: stepLandlock, Flags: fs | net<<32, Data: string(data)}, true, nil
}

// llRule is a decoded rule of a Landlock step: a path rule (path, dir and
// file rights) or a network rule (net rights, port).
type llRule struct {
	path      string
	dir, file uint64
	net, port uint64
}

// landlockRules decodes the rules of a Landlock step.
func landlockRules(data string) ([]llRule, error) {
	b := []byte(data)
	var rules []llRule
	bad := fmt.Errorf("%w: a malformed Landlock step", ErrProtocol)
	for len(b) > 0 {
		switch {
		case b[0] == 'n' && len(b) >= 17:
			rules = append(rules, llRule{net: binary.NativeEndian.Uint64(b[1:]), port: binary.NativeEndian.Uint64(b[9:])})
			b = b[17:]
		case b[0] == 'p' && len(b) >= 21:
			n := int(binary.NativeEndian.Uint32(b[17:]))
			if n > len(b)-21 {
				return nil, bad
			}
			rules = append(rules, llRule{dir: binary.NativeEndian.Uint64(b[1:]), file: binary.NativeEndian.Uint64(b[9:]), path: string(b[21 : 21+n])})
			b = b[21+n:]
		default:
			return nil, bad
		}
	}
	return rules, nil
}

// landlockAttr returns the struct landlock_ruleset_attr of a step and the
// size to pass: without network rights, the ABI 1 size, which every
// kernel with Landlock takes.
func landlockAttr(flags uint64) ([3]uint64, uintptr) {
	attr := [3]uint64{flags & 0xffffffff, flags >> 32, 0}
	if attr[1] == 0 {
		return attr, 8
	}
	return attr, 16
}

// attr0 returns the file system rights that a Landlock step handles.
func attr0(flags uint64) uint64 { return flags & 0xffffffff }

// runLandlock is the Go executor's Landlock step.
func runLandlock(s *step) error {
	rules, err := landlockRules(s.Data)
	if err != nil {
		return err
	}
	attr, size := landlockAttr(s.Flags)
	rs, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return os.NewSyscallError("landlock_create_ruleset", e)
	}
	defer unix.Close(int(rs))
	for _, r := range rules {
		if r.path == "" {
			attr := [2]uint64{r.net, r.port}
			if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rs, 2, uintptr(unsafe.Pointer(&attr)), 0, 0, 0); e != 0 {
				return fmt.Errorf("TCP port %d: %w", r.port, os.NewSyscallError("landlock_add_rule", e))
			}
			continue
		}
		if err := landlockAddPath(int(rs), r); err != nil {
			return err
		}
	}
	for _, fd := range landlockExecFDs {
		// The privilege stage's files (privstage_linux.go).
		var attr [12]byte
		binary.NativeEndian.PutUint64(attr[:], (unix.LANDLOCK_ACCESS_FS_EXECUTE|unix.LANDLOCK_ACCESS_FS_READ_FILE)&attr0(s.Flags))
		binary.NativeEndian.PutUint32(attr[8:], uint32(int32(fd)))
		if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rs, 1, uintptr(unsafe.Pointer(&attr)), 0, 0, 0); e != 0 {
			return fmt.Errorf("the program's own files: %w", os.NewSyscallError("landlock_add_rule", e))
		}
	}
	if err := threadSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_NO_NEW_PRIVS", err)
	}
	if err := threadSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rs, 0, 0); err != nil {
		return os.NewSyscallError("landlock_restrict_self", err)
	}
	return nil
}

// landlockAddPath adds the path rule r to the ruleset rs.
func landlockAddPath(rs int, r llRule) error {
	fd, err := unix.Open(r.path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: r.path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: r.path, Err: err}
	}
	access := r.file
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		access = r.dir
	}
	var attr [12]byte // struct landlock_path_beneath_attr, packed
	binary.NativeEndian.PutUint64(attr[:], access)
	binary.NativeEndian.PutUint32(attr[8:], uint32(int32(fd)))
	if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(rs), 1, uintptr(unsafe.Pointer(&attr)), 0, 0, 0); e != 0 {
		return &os.PathError{Op: "landlock_add_rule", Path: r.path, Err: e}
	}
	return nil
}

// rawLandlock prepares a Landlock step for the raw executor.
func rawLandlock(s *step) (*rawproc.Landlock, error) {
	rules, err := landlockRules(s.Data)
	if err != nil {
		return nil, err
	}
	l := &rawproc.Landlock{Empty: &[]byte{0}[0]}
	attr, size := landlockAttr(s.Flags)
	l.Handled, l.AttrSize = attr, size
	l.Rules = make([]rawproc.LandlockRule, len(rules))
	for i, r := range rules {
		rr := &l.Rules[i]
		if r.path == "" {
			rr.NetAccess, rr.Port = r.net, r.port
			continue
		}
		if rr.Path, err = cString(r.path); err != nil {
			return nil, err
		}
		rr.DirAccess, rr.FileAccess = r.dir, r.file
	}
	return l, nil
}
