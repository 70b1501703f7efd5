//go:build linux

// Package benchkit holds what the benchmarks of the namespace package and
// the side-by-side comparison program (internal/benchcmp) share: the sets of
// namespaces and set-up that are measured, the equivalent command lines of
// unshare(1), bwrap and nsrun, latency statistics, and a minimal static
// program that exits 0.
//
// It does not import the namespace package, so that the package's own
// tests can use it.
package benchkit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace/internal/proctest"
)

// Set is a combination of namespaces and in-namespace set-up.
type Set struct {
	Name string
	// Namespaces and set-up: a mount namespace with / made rprivate; a
	// PID namespace with a fresh /proc; a tmpfs on /tmp; a network
	// namespace with lo up; IPC; UTS with a hostname; cgroup; time; user
	// (the caller mapped to root).
	Mount, PID, Tmp, Net, IPC, UTS, Cgroup, Time, User bool
}

// The sets, by name.
var (
	Mnt        = Set{Name: "mnt", Mount: true}
	MntPIDProc = Set{Name: "mnt+pid+proc", Mount: true, PID: true}
	MntTmpfs   = Set{Name: "mnt+tmpfs", Mount: true, Tmp: true}
	NetLo      = Set{Name: "net+lo", Net: true}
	MntPIDTmp  = Set{Name: "mnt+pid+tmpfs", Mount: true, PID: true, Tmp: true}
	All        = Set{Name: "all", Mount: true, PID: true, Tmp: true, Net: true, IPC: true, UTS: true, Cgroup: true, Time: true}
	UserAll    = Set{Name: "user+all", Mount: true, PID: true, Tmp: true, Net: true, IPC: true, UTS: true, Cgroup: true, Time: true, User: true}
)

// RunSets are the sets the Run benchmarks measure.
func RunSets() []Set { return []Set{Mnt, MntPIDProc, MntTmpfs, NetLo, All, UserAll} }

// ComparedSets are the sets measured side by side with unshare(1), bwrap
// and nsrun.
func ComparedSets() []Set { return []Set{MntPIDProc, MntTmpfs, NetLo, MntPIDTmp} }

// Hostname is the hostname that sets with a UTS namespace set.
const Hostname = "bench"

// UnshareArgv returns the unshare(1) command line (util-linux) that creates
// the namespaces of s and performs its set-up, then runs prog. unshare has
// no option for a tmpfs or for lo, so for those the program it runs is the
// set-up command itself (mount(8) or ip(8)) instead of prog when there is
// one step: the cheapest equivalent, which favours unshare; several steps
// go through sh -c, which then executes prog. The second result says
// whether prog is run.
func (s Set) UnshareArgv(prog ...string) ([]string, bool) {
	argv := []string{"unshare"}
	if s.User {
		argv = append(argv, "--user", "--map-root-user")
	}
	if s.Mount || s.Tmp || s.PID {
		argv = append(argv, "--mount") // --propagation private is its default
	}
	if s.PID {
		argv = append(argv, "--pid", "--fork", "--mount-proc")
	}
	if s.Net {
		argv = append(argv, "--net")
	}
	if s.IPC {
		argv = append(argv, "--ipc")
	}
	if s.UTS {
		argv = append(argv, "--uts")
	}
	if s.Cgroup {
		argv = append(argv, "--cgroup")
	}
	if s.Time {
		argv = append(argv, "--time")
	}
	var setup []string
	if s.Tmp {
		setup = append(setup, "mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp")
	}
	if s.Net {
		setup = append(setup, "ip link set lo up")
	}
	if s.UTS {
		setup = append(setup, "hostname "+Hostname)
	}
	switch len(setup) {
	case 0:
		return append(argv, prog...), true
	case 1:
		return append(argv, strings.Fields(setup[0])...), false
	}
	argv = append(argv, "sh", "-c", strings.Join(setup, " && ")+` && exec "$@"`, "sh")
	return append(argv, prog...), true
}

// BwrapArgv returns the bubblewrap command line for s, running prog, and
// false if bwrap cannot express s (it has no time namespace). bwrap always
// creates a mount namespace; --dev-bind / / keeps the host's tree visible.
func (s Set) BwrapArgv(prog ...string) ([]string, bool) {
	if s.Time {
		return nil, false
	}
	argv := []string{"bwrap", "--dev-bind", "/", "/"}
	if s.User {
		argv = append(argv, "--unshare-user", "--uid", "0", "--gid", "0")
	}
	if s.PID {
		argv = append(argv, "--unshare-pid", "--proc", "/proc")
	}
	if s.Tmp {
		argv = append(argv, "--tmpfs", "/tmp")
	}
	if s.Net {
		argv = append(argv, "--unshare-net") // bwrap brings lo up
	}
	if s.IPC {
		argv = append(argv, "--unshare-ipc")
	}
	if s.UTS {
		argv = append(argv, "--unshare-uts", "--hostname", Hostname)
	}
	if s.Cgroup {
		argv = append(argv, "--unshare-cgroup")
	}
	return append(argv, prog...), true
}

// NsrunArgv returns the nsrun command line for s, running prog.
func (s Set) NsrunArgv(nsrun string, prog ...string) []string {
	argv := []string{nsrun}
	if s.User {
		argv = append(argv, "--map-root-user")
	}
	if s.Mount {
		argv = append(argv, "--mount")
	}
	if s.PID {
		argv = append(argv, "--pid")
	}
	if s.Tmp {
		argv = append(argv, "--tmp")
	}
	if s.Net {
		argv = append(argv, "--net")
	}
	if s.IPC {
		argv = append(argv, "--ipc")
	}
	if s.UTS {
		argv = append(argv, "--hostname", Hostname)
	}
	if s.Cgroup {
		argv = append(argv, "--cgroup")
	}
	if s.Time {
		argv = append(argv, "--time")
	}
	return append(append(argv, "--"), prog...)
}

// Latencies are the durations of the iterations of one benchmark.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0 < p ≤ 100), nearest rank.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Ms returns d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// StaticTrue writes a minimal statically linked ELF program that calls
// exit_group(0), in dir, and returns its path: a `true` without a dynamic
// loader or libc, so that what is measured is the namespaces, not the
// program. Only amd64 and arm64 are known.
func StaticTrue(dir string) (string, error) {
	var machine uint16
	var code []byte
	switch runtime.GOARCH {
	case "amd64":
		machine = 62 // EM_X86_64
		// xor edi,edi; mov eax,231 (exit_group); syscall
		code = []byte{0x31, 0xff, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05}
	case "arm64":
		machine = 183 // EM_AARCH64
		// mov x0,#0; mov x8,#94 (exit_group); svc #0
		code = binary.LittleEndian.AppendUint32(nil, 0xd2800000)
		code = binary.LittleEndian.AppendUint32(code, 0xd2800bc8)
		code = binary.LittleEndian.AppendUint32(code, 0xd4000001)
	default:
		return "", errors.New("benchkit: no static true for " + runtime.GOARCH)
	}
	const base, ehsize, phsize = 0x400000, 64, 56
	size := uint64(ehsize + phsize + len(code))
	le := binary.LittleEndian
	b := []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1)                  // EV_CURRENT
	b = le.AppendUint64(b, base+ehsize+phsize) // entry
	b = le.AppendUint64(b, ehsize)             // program headers
	b = le.AppendUint64(b, 0)                  // no section headers
	b = le.AppendUint32(b, 0)                  // flags
	b = le.AppendUint16(b, ehsize)             // header size
	b = le.AppendUint16(b, phsize)             // program header size
	b = le.AppendUint16(b, 1)                  // one program header
	b = le.AppendUint16(b, 64)                 // section header size
	b = le.AppendUint16(b, 0)                  // no sections
	b = le.AppendUint16(b, 0)                  // no section names
	b = le.AppendUint32(b, 1)                  // PT_LOAD
	b = le.AppendUint32(b, 5)                  // PF_R|PF_X
	b = le.AppendUint64(b, 0)                  // offset
	b = le.AppendUint64(b, base)               // vaddr
	b = le.AppendUint64(b, base)               // paddr
	b = le.AppendUint64(b, size)               // filesz
	b = le.AppendUint64(b, size)               // memsz
	b = le.AppendUint64(b, 0x1000)             // align
	b = append(b, code...)
	path := filepath.Join(dir, "static-true")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		return "", err
	}
	if err := exec.Command(path).Run(); err != nil {
		return "", fmt.Errorf("benchkit: the static true does not run here: %w", err)
	}
	return path, nil
}

// Tool returns the path of a program in PATH, or "" if it is not installed.
func Tool(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

// A Contender is one way of doing the same work, measured side by side with
// others.
type Contender struct {
	Name string
	Op   func() error
	// Usage, if not nil, collects the CPU time and page faults of the
	// processes Op waits for (ExecOpUsage).
	Usage *Usage
}

// Alternate runs every contender once per round, for rounds rounds, in an
// order that rotates from round to round (A B C, B C A, C A B, …), so that
// machine noise and warm caches fall on all of them alike, and calls
// between (if not nil), untimed, after each round. It returns the
// latencies of each contender, in the order given, and stops at the first
// error.
func Alternate(rounds int, cs []Contender, between func()) ([]Latencies, error) {
	lat := make([]Latencies, len(cs))
	for i := range lat {
		lat[i] = make(Latencies, 0, rounds)
	}
	for r := 0; r < rounds; r++ {
		for k := range cs {
			i := (r + k) % len(cs)
			t0 := time.Now()
			if err := cs[i].Op(); err != nil {
				return lat, fmt.Errorf("%s: %w", cs[i].Name, err)
			}
			lat[i] = append(lat[i], time.Since(t0))
		}
		if between != nil {
			between()
		}
	}
	return lat, nil
}

// ExecOp returns an operation that runs argv and waits for it; its output
// is kept only for the error.
func ExecOp(argv []string) func() error {
	return func() error {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%q: %w: %s", argv, err, bytes.TrimSpace(out))
		}
		return nil
	}
}

// Throughput runs op from workers goroutines for about d and returns the
// completed operations per second.
func Throughput(workers int, d time.Duration, op func() error) (float64, error) {
	var (
		mu    sync.Mutex
		count int
		first error
	)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				err := op()
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					count++
				}
				stop := first != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(count) / time.Since(start).Seconds(), first
}

// Subreaper makes the calling process a child subreaper
// (PR_SET_CHILD_SUBREAPER) until restore is called, so that the processes
// the measured tools orphan become its children instead of init's: bwrap
// with --unshare-pid leaves its PID 1 to exit after bwrap itself, and on a
// machine whose init reaps late those would stay zombies. reap waits (up to
// OrphanWait each) for the orphans to exit, reaps them, and returns how
// many it reaped. Call reap only while none of the process's own children
// started by os/exec runs (between measurements): it takes every child for
// an orphan, except the pids in keep (children that live through the
// measurements on purpose).
func Subreaper() (reap func(keep ...int) int, restore func(), err error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, nil, fmt.Errorf("benchkit: become a subreaper: %w", err)
	}
	reap = func(keep ...int) int {
		n := 0
		for _, pid := range proctest.Children() {
			if slices.Contains(keep, pid) {
				continue
			}
			if fd, err := unix.PidfdOpen(pid, 0); err == nil {
				fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				_, _ = unix.Poll(fds, int(OrphanWait.Milliseconds()))
				unix.Close(fd)
			}
			var ws unix.WaitStatus
			if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && got == pid {
				n++
			}
		}
		return n
	}
	restore = func() {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		reap()
	}
	return reap, restore, nil
}

// OrphanWait bounds how long Subreaper's reap waits for one orphan to exit.
const OrphanWait = 2 * time.Second
