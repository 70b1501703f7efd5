//go:build linux

package rawproc

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/proctest"
)

// childEntries are functions that the raw children run (on every
// architecture), which must have no stack check: the test fails if the
// disassembly shows one, or does not show them at all (a test that found
// nothing to check would pass whatever the code).
var childEntries = []string{"RunSteps", "InitLoop", "spawnSetup", "spawnAfterSteps", "spawnExec", "spawnFail"}

// forkers are the functions of this package that fork and go on in the
// child: their own stack check ran before the fork, but every function they
// call (after the fork, in the child) must have none.
var forkers = []string{"Spawn", "ForkInit"}

// TestChildReachesNoStackCheck builds nsrun as it is built, for every
// architecture of the Makefile's CROSS_TARGETS, and as a debugger builds it
// for this one (every package unoptimised, but this one: README.md, "Debug
// builds"), disassembles each, and fails if code a raw child runs can reach
// a function with a stack check: the functions of this package without one
// (the nosplit functions the children run), and whatever the forking
// functions call, must call only functions without one, all the way down.
// A stack check in a child that shares the caller's memory compares its
// stack with the caller's goroutine, and a stack's growth there is runtime
// code the child cannot run. The linker's own check (nosplit chains within
// 792 bytes) stops at a call of a function with a check, so a call of an
// ordinary helper, or of one that is inlined only when its package is
// optimised, would pass it.
//
// Unprivileged (whose go commands get a fresh build cache from
// scripts/as-nobody), only this architecture is built: the disassembly is
// the same whoever builds it, and root's run, after make cross, finds the
// other architectures' packages compiled.
func TestChildReachesNoStackCheck(t *testing.T) {
	dir := t.TempDir()
	goBin, env := proctest.GoTool(t, dir)
	type build struct {
		name, arch string
		flags      []string
	}
	builds := []build{{"debug build " + runtime.GOARCH, runtime.GOARCH, proctest.DebugBuildFlags}}
	arches := []string{runtime.GOARCH}
	if os.Geteuid() == 0 {
		arches = crossArches(t)
	}
	for _, a := range arches {
		builds = append(builds, build{a, a, nil})
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			bin := filepath.Join(dir, strings.ReplaceAll(b.name, " ", "-"))
			args := append(append([]string{"build", "-buildvcs=false", "-o", bin}, b.flags...), "github.com/linuxns/namespace/cmd/nsrun")
			cmd := exec.Command(goBin, args...)
			cmd.Env = append(slices.Clip(env), "GOOS=linux", "GOARCH="+b.arch, "CGO_ENABLED=0", "GOFLAGS=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOARCH=%s go %s: %v\n%s", b.arch, strings.Join(args, " "), err, out)
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
// (it calls runtime.morestack*) and the functions it calls or jumps to.
type function struct {
	checked bool
	calls   []string
}

// branches are the mnemonics of a call or jump to a symbol: CALL and JMP,
// arm's BL and B, riscv64's JAL (with which it grows its stack).
var branches = map[string]bool{"CALL": true, "JMP": true, "BL": true, "B": true, "JAL": true}

// parseObjdump reads go tool objdump's output: "TEXT name(SB) file" starts
// a function, and each instruction is a line of tab-separated fields, the
// instruction itself the last one that is not empty.
func parseObjdump(t *testing.T, out []byte) map[string]*function {
	funcs := map[string]*function{}
	var cur *function
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
		if cur == nil || !strings.HasSuffix(strings.TrimRight(line, "\t "), "(SB)") {
			continue
		}
		fields := strings.Split(strings.TrimRight(line, "\t "), "\t")
		insn := strings.Fields(fields[len(fields)-1])
		if len(insn) < 2 || !branches[insn[0]] {
			continue
		}
		target := strings.TrimSuffix(insn[len(insn)-1], "(SB)")
		if strings.HasPrefix(target, "runtime.morestack") {
			cur.checked = true
		} else {
			cur.calls = append(cur.calls, target)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return funcs
}

// checkStackChecks walks from the roots (this package's functions without
// a stack check, and the callees of the forkers) through functions without
// one, and reports every call of a function with one.
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
		if !ok {
			t.Errorf("%s is not in the disassembly", name)
			continue
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
		if !ok || seen[name] || f.checked {
			continue
		}
		seen[name] = true
		for _, c := range f.calls {
			if g, ok := funcs[c]; ok && g.checked {
				bad = append(bad, name+" calls "+c)
			}
			roots = append(roots, c)
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s, which has a stack check; code a raw child runs must reach only functions without one (//go:nosplit, or assembly)", b)
	}
	if len(seen) < len(childEntries) {
		t.Fatalf("only %d functions were walked: the disassembly was not read", len(seen))
	}
	t.Logf("%d functions without a stack check walked", len(seen))
}
