//go:build linux

package namespace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/linuxns/namespace/internal/proctest"
)

// systemView returns the options that build a root from nothing that runs
// the host's programs: an empty root, /usr read-only, and the host's /bin,
// /lib … as it has them (links as links, directories as read-only binds).
func systemView() []Option {
	o := []Option{WithEmptyRoot(), WithReadOnlyBind("/usr", "/usr")}
	for _, e := range proctest.SystemLayout() {
		if e.Link != "" {
			o = append(o, WithSymlink(e.Link, e.Name))
		} else {
			o = append(o, WithReadOnlyBind(e.Name, e.Name))
		}
	}
	return o
}

// rootListing is what ls lists in / of systemView with extra entries.
func rootListing(extra ...string) string {
	return strings.Join(proctest.SystemNames(append(extra, "usr")...), " ")
}

// The filesystem view's tests: each option through every executor, the
// rules (nothing of the host created or changed, bad paths refused first,
// missing sources and destinations), and the new root's escapes.

// fsExecutor runs sh -c script in n's namespaces and returns its output.
type fsExecutor struct {
	name string
	// do: the executor is Do's thread (root only, no PID or user
	// namespace).
	do  bool
	run func(n *Namespace, script string) (string, error)
}

var fsShell = NewTask("test-fs-shell", func(ctx context.Context, script string) (string, error) {
	out, err := exec.CommandContext(ctx, "/bin/sh", "-c", script).CombinedOutput()
	return string(out), err
})

var fsExecutors = []fsExecutor{
	{"Command (Go executor)", false, func(n *Namespace, script string) (string, error) {
		out, err := n.Command(context.Background(), "/bin/sh", "-c", script).CombinedOutput()
		return string(out), err
	}},
	{"StartProcess (raw executor)", false, func(n *Namespace, script string) (string, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return "", err
		}
		defer r.Close()
		p, err := n.StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, w, w}})
		w.Close()
		if err != nil {
			return "", err
		}
		out, _ := io.ReadAll(r)
		ps, err := p.Wait()
		if err == nil && !ps.Success() {
			err = fmt.Errorf("sh: %v", ps)
		}
		return string(out), err
	}},
	{"Run (Go executor, function child)", false, func(n *Namespace, script string) (string, error) {
		return fsShell.Run(context.Background(), n, script)
	}},
	{"Pool (Go executor, prewarmed child)", false, func(n *Namespace, script string) (string, error) {
		p, err := n.Pool(1)
		if err != nil {
			return "", err
		}
		defer p.Close()
		return fsShell.Run(context.Background(), p, script)
	}},
	{"Do (Go executor, one thread)", true, func(n *Namespace, script string) (string, error) {
		var out []byte
		err := n.Do(func() error {
			var err error
			out, err = exec.Command("/bin/sh", "-c", script).CombinedOutput()
			return err
		})
		return string(out), err
	}},
}

// describeScript prints, for each path, what it is (a link and its
// content, a directory and its entries, a file and its content, or
// nothing), whether a write to it succeeds (for the paths in writes,
// which the test made for that), and the mount points and their ro/rw.
func describeScript(paths, writes []string) string {
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, `p=%q; if [ -L "$p" ]; then echo "$p link $(readlink "$p")"; elif [ -d "$p" ]; then echo "$p dir $(ls -A "$p" | tr '\n' ' ')"; elif [ -f "$p" ]; then echo "$p file $(cat "$p")"; elif [ -e "$p" ]; then echo "$p other"; else echo "$p missing"; fi`+"\n", p)
	}
	for _, p := range writes {
		fmt.Fprintf(&b, `if (echo written > %q) 2>/dev/null; then echo "write %s ok"; else echo "write %s refused"; fi`+"\n", p, p, p)
	}
	b.WriteString(`while read -r id parent dev root point opts rest; do echo "$point ${opts%%,*}"; done < /proc/self/mountinfo | grep -v '^/proc/\|^/sys' | sort` + "\n")
	return b.String()
}

// hostState returns the listings of dirs, recursively (names, modes,
// sizes, files' contents, directories' times), to compare before and after
// a run.
func hostState(t *testing.T, dirs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(&b, "%s: %v\n", p, err)
				return nil
			}
			info, err := e.Info()
			if err != nil {
				return nil
			}
			data, mtime := "", int64(0)
			if info.Mode().IsRegular() {
				c, _ := os.ReadFile(p)
				data = string(c)
			} else {
				// A directory's time changes when an entry is made or
				// removed (a file's with its content, compared instead).
				mtime = info.ModTime().UnixNano()
			}
			fmt.Fprintf(&b, "%s %v %d %d %q\n", p, info.Mode(), info.Size(), mtime, data)
			return nil
		})
	}
	return b.String()
}

// fsDirs makes the test's host directories: src (a file "f" and a
// directory "sub", the mount point of a tmpfs the view adds below the
// bound tree), dst (where binds go), other (with a marker), and over (a
// file "o" for the overlay).
type fsDirs struct{ src, dst, other, over, root, rw string }

func makeFSDirs(t *testing.T) fsDirs {
	t.Helper()
	d := fsDirsAt(t.TempDir())
	for _, p := range []string{d.src + "/sub", d.dst, d.other, d.over, d.root + "/usr", d.root + "/proc", d.root + "/tmp", d.root + "/etc", d.root + "/dev", d.rw} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range map[string]string{d.src + "/f": "host", d.other + "/marker": "m", d.over + "/o": "lower", d.root + "/etc/hostname": "rootdir"} {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range proctest.SystemLayout() {
		var err error
		if e.Link != "" {
			err = os.Symlink(e.Link, d.root+e.Name)
		} else {
			err = os.Mkdir(d.root+e.Name, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// fsDirsAt returns the directories of makeFSDirs under base.
func fsDirsAt(base string) fsDirs {
	return fsDirs{src: base + "/src", dst: base + "/dst", other: base + "/other", over: base + "/over", root: base + "/root", rw: base + "/rw"}
}

// FSSetupEnv makes the test binary the helper of TestFSViewExecutorsAgree
// for Setup: "CASE\x00BASE\x00SCRIPT" names the view of fsCases with the
// directories under BASE; the program calls Setup with it, then runs the
// script.
const FSSetupEnv = "LINUXNS_TEST_FS_SETUP"

// fsSetupHelper is the helper of FSSetupEnv.
func fsSetupHelper(v string) {
	f := strings.SplitN(v, "|", 3)
	if len(f) != 3 {
		fmt.Fprintln(os.Stderr, "bad", FSSetupEnv)
		os.Exit(2)
	}
	for _, c := range fsCases(fsDirsAt(f[1])) {
		if c.name == f[0] {
			if err := testNS(c.opts...).Setup(); err != nil {
				fmt.Fprintln(os.Stderr, "Setup:", err)
				os.Exit(125)
			}
			out, err := exec.Command("/bin/sh", "-c", f[2]).CombinedOutput()
			fmt.Print(string(out))
			if err != nil {
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	os.Exit(2)
}

// fsSetup runs the script after Setup with the view c, in a copy of the
// test binary (a helper of FSSetupEnv).
func fsSetup(t *testing.T, c fsCase, d fsDirs, script string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), FSSetupEnv+"="+c.name+"|"+filepath.Dir(d.src)+"|"+script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fsCase is a view and what to look at in it.
type fsCase struct {
	name         string
	opts         []Option
	paths        []string
	writes       []string
	want         []string // lines the description must have
	pid, newRoot bool
}

func fsCases(d fsDirs) []fsCase {
	root := systemView()
	dirRoot := []Option{WithRoot(d.root), WithReadOnlyBind("/usr", "/usr")}
	for _, e := range proctest.SystemLayout() {
		if e.Link == "" {
			dirRoot = append(dirRoot, WithReadOnlyBind(e.Name, e.Name))
		}
	}
	return []fsCase{
		{name: "binds", opts: []Option{
			WithTmpfs(d.src + "/sub"), WithReadOnlyBind(d.src, d.dst), WithBind(d.other, d.rw, BindOptional()),
			WithBind("/nonexistent-namespace-test", d.root+"/tmp", BindOptional())},
			paths:  []string{d.dst, d.dst + "/f", d.dst + "/sub", d.rw, d.root + "/tmp"},
			writes: []string{d.dst + "/f", d.dst + "/sub/x", d.rw + "/marker"},
			want: []string{d.dst + "/f file host", "write " + d.dst + "/f refused", "write " + d.dst + "/sub/x refused",
				"write " + d.rw + "/marker ok", d.dst + " ro", d.dst + "/sub ro", d.rw + " rw", d.root + "/tmp dir"}},
		{name: "tmpfs, file, dir, symlink, remount", opts: []Option{
			WithTmpfs(d.dst, TmpfsMode(0o700)), WithFile(d.dst+"/a/f", []byte("content\n"), 0o444), WithFile(d.dst+"/w", []byte("rw"), 0o644),
			WithDir(d.dst+"/d/e", 0o750), WithSymlink("../f", d.dst+"/d/l"), WithDir(d.dst+"/ro", 0o755), WithTmpfs(d.dst + "/ro"),
			WithRemountReadOnly(d.dst + "/ro")},
			paths:  []string{d.dst, d.dst + "/a/f", d.dst + "/d", d.dst + "/d/l"},
			writes: []string{d.dst + "/a/f", d.dst + "/w", d.dst + "/ro/x", d.dst + "/new"},
			want: []string{d.dst + "/a/f file content", d.dst + "/d/l link ../f", "write " + d.dst + "/a/f refused",
				"write " + d.dst + "/w ok", "write " + d.dst + "/ro/x refused", "write " + d.dst + "/new ok"}},
		{name: "overlay", opts: []Option{WithTmpOverlay(d.over)},
			paths: []string{d.over}, writes: []string{d.over + "/o", d.over + "/n"},
			want: []string{"write " + d.over + "/o ok", "write " + d.over + "/n ok", d.over + " rw"}},
		{name: "read-only root, then a tmpfs", opts: []Option{WithReadOnlyRoot(), WithTmpfs(d.dst)},
			writes: []string{d.src + "/f", d.dst + "/x"},
			want:   []string{"write " + d.src + "/f refused", "write " + d.dst + "/x ok", "/ ro"}},
		{name: "empty root", newRoot: true, pid: true, opts: append(root[:len(root):len(root)], WithDir("/etc", 0o755),
			WithFile("/etc/passwd", []byte("root:x:0:0::/:/bin/sh\n"), 0o444), WithDev(), WithPrivateTmp(), WithPrivatePID()),
			paths:  []string{"/", "/etc/passwd", "/dev", "/dev/fd", "/tmp"},
			writes: []string{"/tmp/x", "/dev/null", "/usr/x", "/x"},
			want: []string{"/ dir " + rootListing("dev", "etc", "proc", "tmp"), "/etc/passwd file root:x:0:0::/:/bin/sh",
				"/dev dir core fd full null ptmx pts random shm stderr stdin stdout tty urandom zero",
				"write /tmp/x ok", "write /dev/null ok", "write /usr/x refused", "write /x ok", "/usr ro"}},
		{name: "root from a directory", newRoot: true, pid: true, opts: append(dirRoot, WithTmpfs("/etc"),
			WithFile("/etc/hostname", []byte("rootdir"), 0o444), WithDev(), WithPrivatePID(), WithPrivateTmp()),
			paths: []string{"/", "/etc/hostname"}, writes: []string{"/tmp/x"},
			want: []string{"/ dir " + rootListing("dev", "etc", "proc", "tmp"), "/etc/hostname file rootdir", "write /tmp/x ok"}},
	}
}

// TestFSViewExecutorsAgree runs each view through every executor (Command,
// StartProcess, Run, Setup; Do as root where it applies), checks that the child
// sees what the options ask for, that all executors agree, and that the
// host's mount table and directories are unchanged, as root and as uid
// 65534 (through a user namespace).
func TestFSViewExecutorsAgree(t *testing.T) {
	d := makeFSDirs(t)
	for _, c := range fsCases(d) {
		t.Run(c.name, func(t *testing.T) {
			var first, firstName string
			setup := fsExecutor{name: "Setup (Go executor, the program continues)", run: func(_ *Namespace, script string) (string, error) {
				return fsSetup(t, c, d, script)
			}}
			for _, ex := range append(fsExecutors[:len(fsExecutors):len(fsExecutors)], setup) {
				if ex.do && (!asRoot() || c.pid) {
					continue
				}
				before, mounts := hostState(t, filepath.Dir(d.src)), hostMounts(t)
				n := testNS(c.opts...)
				out, err := ex.run(n, describeScript(c.paths, c.writes))
				if err != nil {
					t.Errorf("%s: %v\n%s", ex.name, err, out)
					continue
				}
				checkMountsUnchanged(t, mounts)
				after := hostState(t, filepath.Dir(d.src))
				if c.name == "binds" {
					// The write through the read-write bind reached the
					// host; the file is put back as it was.
					if b, _ := os.ReadFile(d.other + "/marker"); string(b) != "written\n" {
						t.Errorf("%s: the write through the read-write bind is not on the host: %q", ex.name, b)
					}
					if err := os.WriteFile(d.other+"/marker", []byte("m"), 0o644); err != nil {
						t.Fatal(err)
					}
					after = hostState(t, filepath.Dir(d.src))
				}
				if before != after {
					t.Errorf("%s: the host's directories changed:\nbefore:\n%s\nafter:\n%s", ex.name, before, after)
				}
				for _, w := range c.want {
					if !containsLine(out, w) {
						t.Errorf("%s: no line %q in:\n%s", ex.name, w, out)
					}
				}
				if first == "" {
					first, firstName = out, ex.name
				} else if out != first {
					t.Errorf("%s and %s disagree:\n%s\n---\n%s", firstName, ex.name, first, out)
				}
			}
		})
	}
}

// containsLine reports whether out has the line, or a line that starts
// with it followed by a space.
func containsLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == line || strings.HasPrefix(l, line+" ") {
			return true
		}
	}
	return false
}

// TestFSNewRootEscapes: in a new root, neither .., nor /proc/self/root,
// nor /proc/1/root, nor a descriptor's path reach the old root (a marker
// file of the host's), and the mount table shows no old root.
func TestFSNewRootEscapes(t *testing.T) {
	d := makeFSDirs(t)
	marker := d.other + "/marker"
	script := fmt.Sprintf(`
for p in %[1]s /..%[1]s /../../..%[1]s /proc/self/root%[1]s /proc/1/root%[1]s /proc/self/root/..%[1]s /proc/self/cwd/../..%[1]s /proc/1/cwd/..%[1]s; do
	if [ -e "$p" ]; then echo "reached $p"; fi
done
cd -P /proc/self/root/.. && ls -A | tr '\n' ' '; echo
cd -P /proc/1/cwd/../.. && ls -A | tr '\n' ' '; echo
readlink /proc/self/root; readlink /proc/1/root
grep -c ' / / ' /proc/self/mountinfo
`, marker)
	for _, ex := range fsExecutors {
		if ex.do {
			continue
		}
		n := testNS(append(systemView(), WithDev(), WithPrivatePID())...)
		out, err := ex.run(n, script)
		if err != nil {
			t.Errorf("%s: %v\n%s", ex.name, err, out)
			continue
		}
		ls := rootListing("dev", "proc") + " "
		if want := strings.Join([]string{ls, ls, "/", "/", "1"}, "\n"); strings.TrimSpace(out) != strings.TrimSpace(want) {
			t.Errorf("%s: an escape, or not the new root:\n%s\nwant:\n%s", ex.name, out, want)
		}
	}
}

// TestFSBadPathsRefusedFirst: every bad path is ErrInvalid from Validate,
// and every verb refuses it before anything is created.
func TestFSBadPathsRefusedFirst(t *testing.T) {
	d := makeFSDirs(t)
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"relative destination", []Option{WithBind("/usr", "usr")}},
		{"empty destination", []Option{WithTmpfs("")}},
		{"relative source", []Option{WithBind("usr", "/usr")}},
		{"empty source", []Option{WithReadOnlyBind("", "/usr")}},
		{"relative root", []Option{WithRoot("root")}},
		{"dot-dot", []Option{WithTmpfs(d.dst + "/../x")}},
		{"NUL", []Option{WithDir(d.dst+"/a\x00b", 0o755)}},
		{"relative link", []Option{WithSymlink("x", "l")}},
		{"empty link content", []Option{WithSymlink("", d.dst+"/l")}},
		{"file mode", []Option{WithFile(d.dst+"/f", nil, os.ModeDir|0o644)}},
		{"under a later bind", []Option{WithTmpfs(d.dst + "/a"), WithBind(d.src, d.dst)}},
		{"at a later tmpfs", []Option{WithBind(d.src, d.dst), WithTmpfs(d.dst)}},
		{"before a new root", []Option{WithTmpfs(d.dst), WithEmptyRoot()}},
		{"two roots", []Option{WithEmptyRoot(), WithRoot(d.root)}},
		{"under a later /dev", []Option{WithEmptyRoot(), WithDir("/dev/x", 0o755), WithDev()}},
		{"under WithPrivateTmp", []Option{WithEmptyRoot(), WithDir("/tmp/x", 0o755), WithPrivateTmp()}},
		{"under a fresh /proc", []Option{WithTmpfs("/proc/sys"), WithPrivatePID()}},
		{"overlay separator", []Option{WithTmpOverlay(d.dst + "/a:b")}},
	} {
		n := testNS(c.opts...)
		if err := n.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate: %v, want ErrInvalid", c.name, err)
		}
		before, mounts := hostState(t, filepath.Dir(d.src)), hostMounts(t)
		for _, ex := range fsExecutors {
			if ex.do && !asRoot() {
				continue
			}
			if _, err := ex.run(n, "echo ran"); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %s: %v, want ErrInvalid", c.name, ex.name, err)
			}
		}
		checkMountsUnchanged(t, mounts)
		if after := hostState(t, filepath.Dir(d.src)); after != before {
			t.Errorf("%s: the host's directories changed:\n%s\n---\n%s", c.name, before, after)
		}
	}
}

// TestFSSetupErrors: a missing source wraps fs.ErrNotExist; a missing
// destination outside a tmpfs the namespace made, and one reached through
// a symbolic link out of it, are *SetupErrors naming the path, and nothing
// is created on the host.
func TestFSSetupErrors(t *testing.T) {
	d := makeFSDirs(t)
	for _, c := range []struct {
		name, path string
		opts       []Option
		notExist   bool
	}{
		{"missing source", "/nonexistent-namespace-test", []Option{WithBind("/nonexistent-namespace-test", d.dst)}, true},
		{"missing destination on the host", d.dst + "/new", []Option{WithBind(d.src, d.dst+"/new")}, true},
		{"missing directory on the host", d.dst + "/new", []Option{WithDir(d.dst+"/new", 0o755)}, true},
		{"link on the host", d.dst + "/l", []Option{WithSymlink("x", d.dst+"/l")}, true},
		{"a link out of the tmpfs", d.dst + "/l/new", []Option{WithTmpfs(d.dst), WithSymlink(d.other, d.dst+"/l"), WithDir(d.dst+"/l/new", 0o755)}, false},
		{"missing root", d.dst + "/none", []Option{WithRoot(d.dst + "/none")}, true},
	} {
		before, mounts := hostState(t, filepath.Dir(d.src)), hostMounts(t)
		for _, ex := range fsExecutors {
			if ex.do && !asRoot() {
				continue
			}
			out, err := ex.run(testNS(c.opts...), "echo ran")
			var se *SetupError
			if ex.name == "Command (Go executor)" {
				// Command's child reports on standard error.
				if err == nil || !strings.Contains(out, c.path) {
					t.Errorf("%s: %s: %v %q, want a failure naming %s", c.name, ex.name, err, out, c.path)
				}
				continue
			}
			if !errors.As(err, &se) || !strings.Contains(err.Error(), c.path) || (c.notExist && !errors.Is(err, fs.ErrNotExist)) {
				t.Errorf("%s: %s: %v, want a *SetupError naming %s (fs.ErrNotExist: %v)", c.name, ex.name, err, c.path, c.notExist)
			}
		}
		checkMountsUnchanged(t, mounts)
		if after := hostState(t, filepath.Dir(d.src)); after != before {
			t.Errorf("%s: the host's directories changed:\n%s\n---\n%s", c.name, before, after)
		}
	}
}

// TestFSPlanAnchors: a destination is created only below a fresh file
// system that the plan made, the nearest mount above it.
func TestFSPlanAnchors(t *testing.T) {
	n := New(WithEmptyRoot(), WithTmpfs("/a"), WithBind("/usr", "/a/b"), WithDir("/a/b/c", 0o755), WithDir("/a/d/e", 0o755), WithDir("/x", 0o755))
	got := map[string]int{}
	for _, s := range n.steps() {
		if s.Kind == stepDir || s.Kind == stepAttach {
			got[s.Target] = anchorOf(s)
		}
	}
	want := map[string]int{"/a": 1, "/a/b": 2, "/a/b/c": -1, "/a/d/e": 2, "/x": 1}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("anchor of %s: %d, want %d", k, got[k], want[k])
		}
	}
}

func anchorOf(s step) int {
	return int(s.Flags>>32&0xffff) - 1
}

// TestFSNewRootWithMinimalInit: with WithMinimalInit, PID 1 mounts the
// fresh /proc in the new root and then detaches the old root, for
// Command's Go child and StartProcess's raw one.
func TestFSNewRootWithMinimalInit(t *testing.T) {
	d := makeFSDirs(t)
	script := fmt.Sprintf(`echo $$; ls -A / | tr '\n' ' '; echo; readlink /proc/1/root; [ -e /proc/1/root%[1]s ] && echo reached; grep -c ' / / ' /proc/self/mountinfo`, d.other+"/marker")
	for _, ex := range fsExecutors[:2] {
		n := testNS(append(systemView(), WithDev(), WithPrivatePID(), WithMinimalInit())...)
		out, err := ex.run(n, script)
		if want := "2\n" + rootListing("dev", "proc") + " \n/\n1\n"; err != nil || out != want {
			t.Errorf("%s: %q, %v; want %q", ex.name, out, err, want)
		}
	}
}

// TestFSDoNewRoot: Do's thread gets the new root; the rest of the program
// keeps the host's.
func TestFSDoNewRoot(t *testing.T) {
	if !asRoot() {
		t.Skip("Do cannot create a user namespace; unprivileged it cannot mount")
	}
	d := makeFSDirs(t)
	marker := d.other + "/marker"
	var inside, other error
	err := New(append(systemView(), WithDir("/tmp", os.ModeSticky|0o777))...).Do(func() error {
		_, inside = os.Stat(marker)
		done := make(chan error)
		go func() { _, err := os.Stat(marker); done <- err }() // another thread
		other = <-done
		if _, err := os.Stat("/bin/sh"); err != nil {
			return err
		}
		return nil
	})
	if err != nil || !errors.Is(inside, fs.ErrNotExist) || other != nil {
		t.Errorf("Do: %v; the marker on Do's thread: %v (want not there), on another: %v (want there)", err, inside, other)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("after Do: %v", err)
	}
}
