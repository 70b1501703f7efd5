//go:build linux

package rawproc

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/proctest"
)

// childEntries are functions that the raw children run (on every
// architecture), which must have no stack check: the test fails if the
// disassembly shows one, or does not show them at all (a test that found
// nothing to check would pass whatever the code).
var childEntries = []string{"RunSteps", "InitLoop", "spawnSetup", "spawnAfterSteps", "spawnExec", "spawnFail", "vmChildPre", "vmChildPost"}

// forkers are the functions of this package that fork and go on in the
// child: their own stack check ran before the fork, but every function they
// call (after the fork, in the child) must have none. That they have one
// also shows that the test recognises a stack check on the architecture.
var forkers = []string{"Spawn", "ForkInit"}

// TestChildReachesNoStackCheck builds nsrun for every architecture of the
// Makefile's CROSS_TARGETS, as it is built and as a debugger builds it
// (every package unoptimised but those README.md's "Debug builds" keeps
// optimised), disassembles each, and fails if code a raw child runs can
// reach a function with a stack check, a write barrier or a call through a
// register: the functions of this package without a stack check (the
// nosplit functions the children run), and whatever the forking functions
// call, must call only functions without one, all the way down. A stack
// check in a child that shares the caller's memory compares its stack with
// the caller's goroutine, a stack's growth or a write barrier there is
// runtime code the child cannot run, and a call through a register goes
// where the disassembly cannot follow. The linker's own check (chains of
// nosplit calls within its limit) stops at a call of a function with a
// check, so a call of an ordinary helper, or of one that is inlined only
// when its package is optimised, would pass it; and the debug build that
// README.md gives must link on every architecture.
//
// It runs as root only: the disassembly is the same whoever builds it, and
// root's run, after make cross, finds the modules and most packages
// compiled, where an unprivileged run (scripts/as-nobody gives it a fresh
// home) would fetch the modules and compile the standard library for every
// architecture again.
func TestChildReachesNoStackCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("what it checks is the build, the same for every user: it runs as root, whose build and module caches make cross has filled")
	}
	if testing.Short() {
		t.Skip("-short: builds and disassembles nsrun for every architecture")
	}
	dir := t.TempDir()
	goBin, env := proctest.GoTool(t, dir)
	for _, arch := range crossArches(t) {
		for _, debug := range []bool{false, true} {
			name, flags := arch, []string(nil)
			if debug {
				name, flags = arch+" debug build", proctest.DebugBuildFlags
			}
			t.Run(name, func(t *testing.T) {
				bin := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
				args := append(append([]string{"build", "-buildvcs=false", "-o", bin}, flags...), "github.com/linuxns/namespace/cmd/nsrun")
				cmd := exec.Command(goBin, args...)
				cmd.Env = append(slices.Clip(env), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("GOARCH=%s go %s: %v\n%s", arch, strings.Join(args, " "), err, out)
				}
				dump := exec.Command(goBin, "tool", "objdump", bin)
				dump.Env = env
				out, err := dump.Output()
				if err != nil {
					t.Fatalf("go tool objdump: %v", err)
				}
				checkStackChecks(t, parseObjdump(t, out))
			})
		}
	}
}

// crossArches returns the architectures of the Makefile's CROSS_TARGETS
// for Linux.
func crossArches(t *testing.T) []string {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatalf("read the Makefile for CROSS_TARGETS: %v", err)
	}
	m := regexp.MustCompile(`(?m)^CROSS_TARGETS \?=((?:[^\n]*\\\n)*[^\n]*)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no CROSS_TARGETS in the Makefile")
	}
	var arches []string
	for _, f := range strings.Fields(strings.ReplaceAll(string(m[1]), "\\", " ")) {
		if a, ok := strings.CutPrefix(f, "linux/"); ok {
			arches = append(arches, a)
		}
	}
	if len(arches) < 2 {
		t.Fatalf("CROSS_TARGETS names %v: fewer architectures than expected", arches)
	}
	return arches
}

// function is one function of a disassembly: whether it has a stack check
// (it calls runtime.morestack*), the functions it calls or jumps to, and
// its calls through a register.
type function struct {
	checked    bool
	calls      []string
	indirect   []string
	start, end uint64 // the addresses of its first and last instruction
}

// calls are the mnemonics of a call: CALL, arm's and ppc64's BL, arm's
// BLX, ppc64's BCLRL and BCTRL (through LR or CTR), riscv64's JAL (with
// which it grows its stack), s390x's BASR. jumps
// are those of a jump (a tail call when its target is a symbol): JMP, arm's
// B, ppc64's and s390x's BR. arm's conditions (BL.LS) are cut off first.
var (
	calls = map[string]bool{"CALL": true, "BL": true, "BLX": true, "JAL": true, "JALR": true, "BLR": true, "BCLRL": true, "BCTRL": true, "BASR": true}
	jumps = map[string]bool{"JMP": true, "B": true, "BR": true}
)

// parseObjdump reads go tool objdump's output: "TEXT name(SB) file" starts
// a function, and each instruction is a line of tab-separated fields (the
// source line, the address, the encoding, the instruction).
func parseObjdump(t *testing.T, out []byte) map[string]*function {
	funcs := map[string]*function{}
	var cur *function
	type hexCall struct {
		from *function
		addr uint64
	}
	var hexCalls []hexCall
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "TEXT "); ok {
			name, _, _ = strings.Cut(name, "(SB)")
			cur = &function{}
			funcs[name] = cur
			continue
		}
		var fields []string
		for _, f := range strings.Split(line, "\t") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
		if cur == nil || len(fields) < 4 {
			continue
		}
		if addr, err := strconv.ParseUint(strings.TrimPrefix(fields[1], "0x"), 16, 64); err == nil {
			if cur.start == 0 {
				cur.start = addr
			}
			cur.end = addr
		}
		insn := strings.Fields(fields[len(fields)-1])
		if len(insn) < 2 {
			continue
		}
		insn[0], _, _ = strings.Cut(insn[0], ".")
		if !calls[insn[0]] && !jumps[insn[0]] {
			continue
		}
		target := insn[len(insn)-1]
		switch {
		case strings.HasSuffix(target, "(SB)"):
			target = strings.TrimSuffix(target, "(SB)")
			if strings.HasPrefix(target, "runtime.morestack") {
				cur.checked = true
			} else {
				cur.calls = append(cur.calls, target)
			}
		case strings.HasPrefix(target, "0x"):
			// A call into a function's middle (runtime.duffzero's), or a
			// jump within this one: resolved below.
			if addr, err := strconv.ParseUint(target[2:], 16, 64); err == nil {
				hexCalls = append(hexCalls, hexCall{cur, addr})
			}
		case strings.HasSuffix(target, "(PC)"):
			// A jump within the function.
		case calls[insn[0]]:
			cur.indirect = append(cur.indirect, fields[len(fields)-1])
		}
		// A jump through a register is a switch's jump table.
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range hexCalls {
		for name, f := range funcs {
			if f != c.from && f.start <= c.addr && c.addr <= f.end {
				c.from.calls = append(c.from.calls, name)
				break
			}
		}
	}
	return funcs
}

// checkStackChecks walks from the roots (this package's functions without
// a stack check, and the callees of the forkers) through functions without
// one, and reports every call of a function with one, every write barrier
// and every call through a register (but cloneVM's of the child's
// entries), and every call it cannot follow.
func checkStackChecks(t *testing.T, funcs map[string]*function) {
	const pkg = "github.com/linuxns/namespace/internal/rawproc."
	var roots []string
	for name, f := range funcs {
		if strings.HasPrefix(name, pkg) && !f.checked {
			roots = append(roots, name)
		}
	}
	for _, name := range childEntries {
		f, ok := funcs[pkg+name]
		switch {
		case !ok:
			t.Errorf("%s is not in the disassembly: the check cannot see the children's code", name)
		case f.checked:
			t.Errorf("%s, which a raw child runs, has a stack check: mark it //go:nosplit", name)
		}
	}
	for _, name := range forkers {
		f, ok := funcs[pkg+name]
		if !ok || !f.checked {
			t.Fatalf("%s is not in the disassembly with its stack check: the disassembly was not read as this test expects", name)
		}
		for _, c := range f.calls {
			if c == pkg+name { // its prologue's jump back after growing
				continue
			}
			if g, ok := funcs[c]; ok && g.checked {
				t.Errorf("%s calls %s, which has a stack check: a forked child runs it", name, c)
			}
			roots = append(roots, c)
		}
	}
	seen := map[string]bool{}
	var bad []string
	for len(roots) > 0 {
		name := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		f, ok := funcs[name]
		if seen[name] || ok && f.checked {
			continue
		}
		seen[name] = true
		if !ok {
			bad = append(bad, name+" is called but not in the disassembly")
			continue
		}
		for _, c := range f.calls {
			switch g, ok := funcs[c]; {
			case strings.HasPrefix(c, "runtime.gcWriteBarrier") || strings.HasPrefix(c, "runtime.wbBufFlush"):
				bad = append(bad, name+" has a write barrier ("+c+"): the child must write no pointer")
			case ok && g.checked:
				bad = append(bad, name+" calls "+c+", which has a stack check")
			}
			roots = append(roots, c)
		}
		if len(f.indirect) > 0 && !strings.HasPrefix(name, pkg+"cloneVM") {
			bad = append(bad, name+" calls through a register ("+strings.Join(f.indirect, "; ")+")")
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s: code a raw child runs must reach only functions without a stack check (//go:nosplit, or assembly), directly", b)
	}
	if !seen["syscall.RawSyscall6"] {
		t.Errorf("the walk from the children's functions did not reach syscall.RawSyscall6 (%d functions walked): the calls were not read as this test expects", len(seen))
	}
	t.Logf("%d functions without a stack check walked", len(seen))
}
