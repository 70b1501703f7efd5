//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/linuxns/namespace"
)

// The filesystem view's flags (bubblewrap's vocabulary; docs/cli.md maps
// them), applied in command-line order: every flag appends to one list,
// config.fs, through fsValue.

// fsArg is one filesystem flag as given.
type fsArg struct {
	flag, value string
	content     []byte // --file: the descriptor's content, read at parse time
}

// fsValue is the value of a filesystem flag: Set appends to the list.
type fsValue struct {
	list *[]fsArg
	flag string
}

func (v *fsValue) String() string { return "" }

// fsSwitch is the value of a filesystem flag without a value (--dev): the
// flag package gives Set "true" when the flag is given alone.
type fsSwitch fsValue

func (v *fsSwitch) String() string     { return "" }
func (v *fsSwitch) Set(s string) error { return (*fsValue)(v).Set(s) }

// IsBoolFlag tells the flag package that the flag takes no value.
func (v *fsSwitch) IsBoolFlag() bool { return true }

// Set records the flag, in order, and checks its shape.
func (v *fsValue) Set(s string) error {
	a := fsArg{flag: v.flag, value: s}
	switch v.flag {
	case "ro", "empty-root", "dev":
		if s != "true" {
			return fmt.Errorf("--%s takes no value", v.flag)
		}
	case "symlink":
		if t, l, ok := strings.Cut(s, ":"); !ok || t == "" || l == "" {
			return fmt.Errorf("--symlink %q: give TARGET:LINK", s)
		}
	case "file":
		fd, dst, ok := strings.Cut(s, ":")
		n, err := strconv.Atoi(fd)
		if !ok || err != nil || n < 0 || dst == "" {
			return fmt.Errorf("--file %q: give FD:DEST, FD a descriptor number", s)
		}
		f := os.NewFile(uintptr(n), "fd "+fd)
		if f == nil {
			return fmt.Errorf("--file %q: descriptor %d is not open", s, n)
		}
		if a.content, err = io.ReadAll(f); err != nil {
			return fmt.Errorf("--file %q: read descriptor %d: %v", s, n, err)
		}
		_ = f.Close()
	}
	*v.list = append(*v.list, a)
	return nil
}

// fsFlags are the filesystem flags: name, whether it takes no value, and
// its one-line description.
var fsFlags = []struct {
	name, usage string
	noValue     bool
}{
	{"bind", "bind-mount SRC on DST (default SRC), read-write", false},
	{"ro-bind", "bind-mount SRC on DST, read-only on every submount", false},
	{"bind-try", "--bind, skipped if SRC does not exist", false},
	{"ro-bind-try", "--ro-bind, skipped if SRC does not exist", false},
	{"dev-bind", "--bind with device nodes allowed", false},
	{"file", "a file at DEST with the content of descriptor FD", false},
	{"remount-ro", "make the mount at DIR read-only", false},
	{"tmpfs", "mount a fresh tmpfs on DIR", false},
	{"ro", "make the whole tree read-only (mounts given later stay writable)", true},
	{"root", "make DIR the root (pivot_root; the old root is detached)", false},
	{"empty-root", "make a fresh tmpfs the root, to be filled by later flags", true},
	{"symlink", "make the symbolic link LINK to TARGET", false},
	{"dir", "make the directory DIR", false},
	{"dev", "mount a minimal /dev", true},
	{"tmp-overlay", "overlay DIR with a tmpfs: writes vanish", false},
}

// addFSFlags defines the filesystem flags on fs, and --chdir.
func addFSFlags(fs *cliFlags, c *config) {
	for _, f := range fsFlags {
		v := &fsValue{list: &c.fs, flag: f.name}
		if f.noValue {
			fs.Var((*fsSwitch)(v), f.name, f.usage)
			continue
		}
		fs.Var(v, f.name, f.usage)
	}
	fs.StringVar(&c.chdir, "chdir", "", "the working directory of COMMAND, inside (implies --fork)")
}

// fsUsage is the part of usageText for the filesystem flags.
const fsUsage = `
Filesystem view (applied in the order given; each implies --mount):
      --bind SRC[:DST]    bind-mount SRC on DST (default: SRC), read-write
      --ro-bind SRC[:DST] the same, read-only on every mount below it
      --bind-try SRC[:DST]
                          as --bind, but skipped if SRC does not exist
      --ro-bind-try SRC[:DST]
                          as --ro-bind, but skipped if SRC does not exist
      --dev-bind SRC[:DST]
                          as --bind, with device nodes working
      --file FD:DEST      a file at DEST with what descriptor FD holds
                          (read by nsrun; nothing is written on the host)
      --remount-ro DIR    make the mount at DIR (and below) read-only
      --tmpfs DIR         a fresh tmpfs on DIR
      --ro                make every mount so far read-only
      --root DIR          make DIR the root (pivot_root; the old root is
                          detached); later destinations are inside it
      --empty-root        make a fresh tmpfs the root, to be filled by the
                          flags that follow
      --symlink TARGET:LINK
                          make the symbolic link LINK with content TARGET
      --dir DIR           make the directory DIR (mode 0755)
      --dev               a minimal /dev: null, zero, full, random,
                          urandom, tty, shm, pts, ptmx, fd, std* (in a
                          new root: after --root or --empty-root)
      --tmp-overlay DIR   overlay DIR with a tmpfs: writes vanish
      --chdir DIR         COMMAND's working directory, inside (implies -f)
A destination that does not exist is made only inside a tmpfs or an empty
root made here; nothing is ever created on the host.
`

// fsOptions turns the filesystem flags into namespace options, in order.
func (c *config) fsOptions() []namespace.Option {
	var opts []namespace.Option
	for _, a := range c.fs {
		src, dst, ok := strings.Cut(a.value, ":")
		if !ok {
			dst = src
		}
		switch a.flag {
		case "bind":
			opts = append(opts, namespace.WithBind(src, dst))
		case "ro-bind":
			opts = append(opts, namespace.WithReadOnlyBind(src, dst))
		case "bind-try":
			opts = append(opts, namespace.WithBind(src, dst, namespace.BindOptional()))
		case "ro-bind-try":
			opts = append(opts, namespace.WithReadOnlyBind(src, dst, namespace.BindOptional()))
		case "dev-bind":
			opts = append(opts, namespace.WithBind(src, dst, namespace.BindDevices()))
		case "file":
			opts = append(opts, namespace.WithFile(dst, a.content, 0o644))
		case "remount-ro":
			opts = append(opts, namespace.WithRemountReadOnly(a.value))
		case "tmpfs":
			opts = append(opts, namespace.WithTmpfs(a.value))
		case "ro":
			opts = append(opts, namespace.WithReadOnlyRoot())
		case "root":
			opts = append(opts, namespace.WithRoot(a.value))
		case "empty-root":
			opts = append(opts, namespace.WithEmptyRoot())
		case "symlink":
			opts = append(opts, namespace.WithSymlink(src, dst))
		case "dir":
			opts = append(opts, namespace.WithDir(a.value, 0o755))
		case "dev":
			opts = append(opts, namespace.WithDev())
		case "tmp-overlay":
			opts = append(opts, namespace.WithTmpOverlay(a.value))
		}
	}
	return opts
}
