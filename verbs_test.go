//go:build linux

package namespace

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linuxns/namespace/syscalls"
)

// optionSamples holds one value of every option of the package, by name.
var optionSamples = map[string]Option{
	"WithPrivateMount":    WithPrivateMount(),
	"WithPrivateTmp":      WithPrivateTmp(),
	"WithPrivatePID":      WithPrivatePID(),
	"WithKillDescendants": WithKillDescendants(),
	"WithoutProc":         WithoutProc(),
	"WithPrivateNet":      WithPrivateNet(),
	"WithPrivateIPC":      WithPrivateIPC(),
	"WithPrivateUTS":      WithPrivateUTS(),
	"WithHostname":        WithHostname("inside"),
	"WithPrivateUser":     WithPrivateUser(),
	"WithPrivateSysVSem":  WithPrivateSysVSem(),
	"WithPrivateCgroup":   WithPrivateCgroup(),
	"WithPrivateTime":     WithPrivateTime(time.Hour, 0),
	"WithTermChild":       WithTermChild(false),
	"WithKillGrace":       WithKillGrace(time.Second),
	"WithLogger":          WithLogger(slog.New(slog.DiscardHandler)),
	"WithMinimalInit":     WithMinimalInit(),

	// The filesystem view.
	"WithBind":            WithBind("/usr", "/usr"),
	"WithReadOnlyBind":    WithReadOnlyBind("/usr", "/usr"),
	"WithTmpfs":           WithTmpfs("/mnt"),
	"WithReadOnlyRoot":    WithReadOnlyRoot(),
	"WithRoot":            WithRoot("/"),
	"WithEmptyRoot":       WithEmptyRoot(),
	"WithSymlink":         WithSymlink("usr/bin", "/bin"),
	"WithDir":             WithDir("/usr", 0o755),
	"WithFile":            WithFile("/etc/hostname", []byte("inside\n"), 0o444),
	"WithRemountReadOnly": WithRemountReadOnly("/usr"),
	"WithDev":             WithDev(),
	"WithTmpOverlay":      WithTmpOverlay("/usr"),
	// Privileges and limits.
	"WithNoNewPrivs":              WithNoNewPrivs(),
	"WithCapabilities":            WithCapabilities(CapNetBindService),
	"WithSeccomp":                 WithSeccomp(),
	"WithLandlock":                WithLandlock(LandlockReadOnly("/"), LandlockBestEffort()),
	"WithoutNestedUserNamespaces": WithoutNestedUserNamespaces(),
	"WithRlimit":                  WithRlimit(7, 100, 100),
	"WithNewSession":              WithNewSession(),
	"WithSandbox":                 WithSandbox(),
	"WithoutNewSession":           WithoutNewSession(),
	"WithJoin":                    WithJoin(syscalls.UTS, "/proc/self/ns/uts"),
	"WithJoinProcess":             WithJoinProcess(1, syscalls.UTS),

	// cgroup v2 (cgroup.go)
	"WithMemoryLimit":  WithMemoryLimit(64 << 20),
	"WithPidsLimit":    WithPidsLimit(64),
	"WithCPULimit":     WithCPULimit(1),
	"WithCgroupParent": WithCgroupParent("/sys/fs/cgroup"),
	"WithCgroup":       WithCgroup("/sys/fs/cgroup"),
}

// TestOptionTableComplete: every function of the package that returns an
// Option has a row in optionVerbs (and a sample here), so that no option
// escapes the verbs' checks.
func TestOptionTableComplete(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() || fd.Type.Results == nil || len(fd.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fd.Type.Results.List[0].Type.(*ast.Ident); !ok || id.Name != "Option" {
				continue
			}
			found++
			if _, ok := optionHonour(fd.Name.Name); !ok {
				t.Errorf("option %s has no row in optionVerbs", fd.Name.Name)
			}
			if o, ok := optionSamples[fd.Name.Name]; !ok {
				t.Errorf("option %s has no sample in optionSamples", fd.Name.Name)
			} else if got := New(o).given; len(got) != 1 || got[0] != fd.Name.Name {
				t.Errorf("option %s records itself as %q", fd.Name.Name, got)
			}
		}
	}
	seen := make(map[string]bool)
	for _, r := range optionVerbs {
		if seen[r.name] {
			t.Errorf("option %s has two rows in optionVerbs", r.name)
		}
		seen[r.name] = true
	}
	if found != len(optionVerbs) || found != len(optionSamples) {
		t.Errorf("%d options in the source, %d rows in optionVerbs, %d samples", found, len(optionVerbs), len(optionSamples))
	}
}

// TestOptionVerbs walks every option × verb: a verb given an option that
// its row in optionVerbs leaves out refuses it before it creates anything,
// with an error that wraps ErrUnsupported and names both; the verbs in the
// row find nothing to refuse.
func TestOptionVerbs(t *testing.T) {
	ctx := context.Background()
	const missing = "/nonexistent/namespace-test-program"
	call := map[verb]func(n *Namespace) error{
		verbRun: func(n *Namespace) error { return n.Run(ctx, failing, "ok") },
		verbTask: func(n *Namespace) error {
			_, err := sumTask.Run(ctx, n, sumIn{Numbers: []int{1}})
			return err
		},
		verbPool: func(n *Namespace) error {
			p, err := n.Pool(1)
			if err == nil {
				p.Close()
			}
			return err
		},
		verbCommand: func(n *Namespace) error { return n.Command(ctx, missing).Err },
		verbStartProcess: func(n *Namespace) error {
			p, err := n.StartProcess(missing, nil, nil)
			if err == nil {
				_ = p.Kill()
				_, _ = p.Wait()
			}
			return err
		},
		verbPrepare: func(n *Namespace) error {
			p, err := n.Prepare(missing, nil, nil)
			if err == nil {
				_ = p.Abort()
			}
			return err
		},
		verbSetup: func(n *Namespace) error {
			if n.check(verbSetup) == nil {
				return errors.New("Setup would run: not called")
			}
			return n.Setup()
		},
		verbExec: func(n *Namespace) error { return n.Exec(missing, nil, nil) },
		verbDo: func(n *Namespace) error {
			return n.Do(func() error { return errors.New("fn ran") })
		},
	}
	for name, opt := range optionSamples {
		row, _ := optionHonour(name)
		for v := verb(1); v < verbEnd; v <<= 1 {
			n := New(opt)
			if row.verbs&v != 0 {
				if errs := n.unhonoured(v); len(errs) > 0 {
					t.Errorf("%s with %s: %v", v, name, errs)
				}
				continue
			}
			err := call[v](n)
			var oe *optionError
			if !errors.Is(err, ErrUnsupported) || !errors.As(err, &oe) || oe.option != name || oe.verb != v {
				t.Errorf("%s with %s: %v; want ErrUnsupported naming both", v, name, err)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, v.String()+" ") {
				t.Errorf("%s with %s: the error %q does not name both", v, name, msg)
			}
		}
	}
}

// TestMinimalInitRefusedByRun: Run, Task.Run, Pool and Setup used to drop
// the PID namespace silently with WithMinimalInit (their child, cloned
// without CLONE_NEWPID for the init to make it, never made it). They
// refuse the option now, and Command honours it.
func TestMinimalInitRefusedByRun(t *testing.T) {
	n := testNS(WithPrivatePID(), WithMinimalInit())
	if err := n.Run(context.Background(), failing, "ok"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "WithMinimalInit") {
		t.Errorf("Run with WithMinimalInit: %v, want ErrUnsupported naming WithMinimalInit", err)
	}
	if _, err := n.Pool(1); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Pool with WithMinimalInit: %v, want ErrUnsupported", err)
	}
	out, err := n.Command(context.Background(), "sh", "-c", "echo $$").Output()
	if err != nil || strings.TrimSpace(string(out)) != "2" {
		t.Errorf("Command with WithMinimalInit: pid %q, %v; want 2", out, err)
	}
}
