//go:build linux

package rawproc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/proctest"
)

// parentOnly are the functions of the child's files that only the parent
// runs: a bounds check there panics in the parent, as any Go code may.
var parentOnly = map[string]bool{"NewStack": true}

// TestNoBoundsChecksInChild builds this package with the compiler's
// bounds-check report and fails on any check left in code the raw children
// run: its panic would be runtime code in a child that shares the caller's
// memory (CLONE_VM) or has no Go runtime of its own.
func TestNoBoundsChecksInChild(t *testing.T) {
	goBin, env := proctest.GoTool(t, t.TempDir())
	cmd := exec.Command(goBin, "build", "-gcflags=-d=ssa/check_bce/debug=1", ".")
	cmd.Env = env // a cached compile replays its report
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Found Is") {
		t.Skipf("go build cannot run here: %v\n%s", err, out)
	}
	funcs := map[string]*ast.File{}
	fset := token.NewFileSet()
	re := regexp.MustCompile(`(?m)^(?:\./)?(\w+\.go):(\d+):\d+: Found (\w+)`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		file, line := m[1], m[2]
		f, ok := funcs[file]
		if !ok {
			if f, err = parser.ParseFile(fset, file, nil, 0); err != nil {
				t.Fatal(err)
			}
			funcs[file] = f
		}
		n, _ := strconv.Atoi(line)
		name := "(outside a function)"
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fset.Position(fd.Pos()).Line <= n && n <= fset.Position(fd.End()).Line {
				name = fd.Name.Name
			}
		}
		if !parentOnly[name] {
			t.Errorf("%s:%s: %s in %s, which a raw child runs: index through parent-checked lengths instead", file, line, m[3], name)
		}
	}
}
