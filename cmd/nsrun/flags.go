package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/linuxns/namespace"
)

// config is what the command line asks for.
type config struct {
	mount, tmp, pid, noProc, init       bool
	net, ipc, uts, user, mapRoot        bool
	mapCurrent, cgroup, timeNS, sysvsem bool
	verbose, help, version              bool
	tmpSize                             string
	hostname                            string
	monotonic, boottime                 string
	killGrace                           time.Duration
	argv                                []string
}

// errUsage marks a command-line error: nsrun prints the usage hint and
// exits 125.
var errUsage = errors.New("usage")

func newFlagSet(c *config, out io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("nsrun", pflag.ContinueOnError)
	fs.SetOutput(out)
	fs.SetInterspersed(false) // everything after COMMAND belongs to it
	fs.SortFlags = false
	fs.BoolVarP(&c.mount, "mount", "m", false, "private mount namespace (/ made rprivate)")
	fs.BoolVar(&c.tmp, "tmp", false, "private tmpfs on /tmp (implies --mount)")
	fs.StringVar(&c.tmpSize, "tmp-size", "", "size of the private /tmp, e.g. 64M (implies --tmp)")
	fs.BoolVarP(&c.pid, "pid", "p", false, "private PID namespace; COMMAND is PID 1; fresh /proc (implies --mount)")
	fs.BoolVar(&c.noProc, "no-proc", false, "keep the host /proc")
	fs.BoolVar(&c.init, "init", false, "a minimal init is PID 1 (reaps, forwards signals); COMMAND is PID 2 (implies --pid)")
	fs.BoolVarP(&c.net, "net", "n", false, "private network namespace, lo up")
	fs.BoolVarP(&c.ipc, "ipc", "i", false, "private IPC namespace")
	fs.BoolVarP(&c.uts, "uts", "u", false, "private UTS namespace")
	fs.StringVar(&c.hostname, "hostname", "", "set the hostname (implies --uts)")
	fs.BoolVarP(&c.user, "user", "U", false, "private user namespace (default map: caller -> root)")
	fs.BoolVarP(&c.mapRoot, "map-root-user", "r", false, "map the caller to root (implies --user)")
	fs.BoolVarP(&c.mapCurrent, "map-current-user", "c", false, "map the caller to itself (implies --user)")
	fs.BoolVarP(&c.cgroup, "cgroup", "C", false, "private cgroup namespace")
	fs.BoolVarP(&c.timeNS, "time", "T", false, "private time namespace")
	fs.StringVar(&c.monotonic, "monotonic", "", "CLOCK_MONOTONIC offset in seconds (implies --time)")
	fs.StringVar(&c.boottime, "boottime", "", "CLOCK_BOOTTIME offset in seconds (implies --time)")
	fs.BoolVar(&c.sysvsem, "sysvsem", false, "unshare System V semaphore undo lists")
	fs.DurationVar(&c.killGrace, "kill-grace", 2*time.Second, "TERM->KILL delay after a terminating signal")
	fs.BoolVarP(&c.verbose, "verbose", "v", false, "debug log of each step to stderr")
	fs.BoolVarP(&c.help, "help", "h", false, "show this help")
	fs.BoolVarP(&c.version, "version", "V", false, "show the version")
	return fs
}

const usageHead = `Usage: nsrun [options] [--] COMMAND [ARG...]

Run COMMAND (default: $SHELL, else /bin/sh) in new Linux namespaces.

Options:
`

const usageTail = `
Exit status: COMMAND's own; 128+N if signal N killed it; 125 if nsrun
failed; 126 if COMMAND is not executable; 127 if it was not found.
Without root, add -r (a user namespace in which you are root).
`

func usage(fs *pflag.FlagSet) string {
	return usageHead + fs.FlagUsages() + usageTail
}

// parseArgs parses the command line.
func parseArgs(args []string, stderr io.Writer) (*config, *pflag.FlagSet, error) {
	c := &config{}
	fs := newFlagSet(c, io.Discard)
	if err := fs.Parse(args); err != nil {
		return nil, fs, fmt.Errorf("%w: %v", errUsage, err)
	}
	c.argv = fs.Args()
	if c.killGrace < 0 {
		return nil, fs, fmt.Errorf("%w: --kill-grace must not be negative", errUsage)
	}
	if c.mapRoot && c.mapCurrent {
		return nil, fs, fmt.Errorf("%w: -r and -c exclude each other", errUsage)
	}
	return c, fs, nil
}

// options turns the configuration into namespace options.
func (c *config) options() ([]namespace.Option, error) {
	var opts []namespace.Option
	if c.user || c.mapRoot || c.mapCurrent {
		if c.mapCurrent {
			uid, gid := os.Geteuid(), os.Getegid()
			opts = append(opts, namespace.WithPrivateUser(
				namespace.IDMap{Kind: namespace.UIDs, Inside: uid, Outside: uid, Size: 1},
				namespace.IDMap{Kind: namespace.GIDs, Inside: gid, Outside: gid, Size: 1}))
		} else {
			opts = append(opts, namespace.WithPrivateUser())
		}
	}
	if c.mount {
		opts = append(opts, namespace.WithPrivateMount())
	}
	if c.tmp || c.tmpSize != "" {
		var tmpfs []namespace.TmpfsOption
		if c.tmpSize != "" {
			n, err := parseSize(c.tmpSize)
			if err != nil {
				return nil, fmt.Errorf("%w: --tmp-size: %v", errUsage, err)
			}
			tmpfs = append(tmpfs, namespace.TmpfsSize(n))
		}
		opts = append(opts, namespace.WithPrivateTmp(tmpfs...))
	}
	if c.pid || c.init {
		opts = append(opts, namespace.WithPrivatePID())
	}
	if c.init {
		opts = append(opts, namespace.WithInit())
	}
	if c.noProc {
		opts = append(opts, namespace.WithoutProc())
	}
	if c.net {
		opts = append(opts, namespace.WithPrivateNet())
	}
	if c.ipc {
		opts = append(opts, namespace.WithPrivateIPC())
	}
	if c.uts {
		opts = append(opts, namespace.WithPrivateUTS())
	}
	if c.hostname != "" {
		opts = append(opts, namespace.WithHostname(c.hostname))
	}
	if c.cgroup {
		opts = append(opts, namespace.WithPrivateCgroup())
	}
	if c.timeNS || c.monotonic != "" || c.boottime != "" {
		mono, err := parseSeconds(c.monotonic)
		if err != nil {
			return nil, fmt.Errorf("%w: --monotonic: %v", errUsage, err)
		}
		boot, err := parseSeconds(c.boottime)
		if err != nil {
			return nil, fmt.Errorf("%w: --boottime: %v", errUsage, err)
		}
		opts = append(opts, namespace.WithPrivateTime(mono, boot))
	}
	if c.sysvsem {
		opts = append(opts, namespace.WithPrivateSysVSem())
	}
	return opts, nil
}

// parseSize parses a byte count with an optional binary suffix: 512, 64K,
// 64M, 1G (also KiB, MiB, GiB, and lower case).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, suf := range []struct {
		s string
		m int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}} {
		if strings.HasSuffix(lower, suf.s) {
			mult = suf.m
			t = t[:len(t)-len(suf.s)]
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size such as 512, 64K, 64M or 1G", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// parseSeconds parses a clock offset in seconds (integer or decimal, may be
// negative). Empty means zero.
func parseSeconds(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	if math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("%q seconds is out of range", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}
