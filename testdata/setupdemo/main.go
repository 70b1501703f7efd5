//go:build linux

// Command setupdemo is a test fixture for namespace.Setup: it moves itself
// into a private /tmp and PID namespace (and a user namespace when not root)
// and reports what it sees.
//
//	setupdemo [exit N | kill N | sleep | wait-term | wait-int | twice | again | env | stdin | tty | nouser | workdir MARKER FILE | time]
//
// "kill N" leaves out the PID namespace (PID 1 cannot die of its own
// signal) and kills the program inside with signal N.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxns/namespace"
)

func main() {
	// This line is printed twice: by the original process and inside.
	fmt.Printf("before setup, pid %d\n", os.Getpid())
	mode, arg := "", 0
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if len(os.Args) > 2 {
		arg, _ = strconv.Atoi(os.Args[2])
	}
	opts := []namespace.Option{namespace.WithPrivateTmp()}
	if mode != "kill" {
		opts = append(opts, namespace.WithPrivatePID())
	}
	if mode == "time" {
		// A boot time a million seconds later: /proc/uptime shows it.
		opts = append(opts, namespace.WithPrivateTime(0, 1_000_000*time.Second))
	}
	if os.Geteuid() != 0 && mode != "nouser" {
		opts = append(opts, namespace.WithPrivateUser())
	}
	if mode == "wait-term" || mode == "wait-int" {
		// Catch the signal from the start: the original process forwards
		// it.
		sig := syscall.SIGTERM
		if mode == "wait-int" {
			sig = syscall.SIGINT
		}
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, sig)
		defer func() {
			select {
			case s := <-sigc:
				fmt.Printf("got %v\n", s)
				os.Exit(42)
			case <-time.After(time.Minute):
				os.Exit(1)
			}
		}()
	}
	if v := os.Getenv("SETUPDEMO_MEMORY"); v != "" {
		// The cgroup tests: a memory limit on the program inside.
		n, _ := strconv.ParseInt(v, 10, 64)
		opts = append(opts, namespace.WithMemoryLimit(n))
	}
	ns := namespace.New(opts...)
	if err := ns.Setup(); err != nil {
		fmt.Printf("setup failed (ErrPermission %v): %v\n", errors.Is(err, namespace.ErrPermission), err)
		os.Exit(3)
	}
	entries, _ := os.ReadDir("/tmp")
	fmt.Printf("inside, pid %d, uid %d, %d entries in /tmp\n", os.Getpid(), os.Getuid(), len(entries))
	switch mode {
	case "exit":
		os.Exit(arg)
	case "hog":
		// Allocates until the memory limit kills it.
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "kill":
		if err := syscall.Kill(os.Getpid(), syscall.Signal(arg)); err != nil {
			fmt.Printf("kill: %v\n", err)
			os.Exit(4)
		}
		time.Sleep(time.Minute) // the signal arrives meanwhile
		os.Exit(5)
	case "sleep":
		// Killed from outside (PID 1 cannot kill itself).
		fmt.Println("ready")
		time.Sleep(time.Minute)
	case "twice":
		if err := ns.Setup(); err != nil {
			fmt.Printf("second setup: %v\n", err)
			os.Exit(4)
		}
		fmt.Printf("second setup: nil, pid %d\n", os.Getpid())
	case "again":
		// Another Namespace's Setup, once inside, is a no-op too.
		other := namespace.New(namespace.WithPrivateUser(), namespace.WithHostname("other"))
		if err := other.Setup(); err != nil {
			fmt.Printf("other setup: %v\n", err)
			os.Exit(4)
		}
		h, _ := os.Hostname()
		fmt.Printf("other setup: nil, pid %d, hostname changed %v\n", os.Getpid(), h == "other")
	case "env":
		wd, _ := os.Getwd()
		fmt.Printf("cwd %s\n", wd)
		fmt.Printf("args %q\n", os.Args[1:])
		fmt.Printf("probe %q\n", os.Getenv("SETUPDEMO_PROBE"))
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "_LINUXNS") {
				fmt.Printf("marker %s\n", kv)
			}
		}
	case "workdir":
		workdir(os.Args[2], os.Args[3])
	case "time":
		up, _ := os.ReadFile("/proc/uptime")
		fmt.Printf("uptime %s\n", strings.Fields(string(up) + " ?")[0])
	case "stdin":
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		fmt.Printf("stdin %q\n", strings.TrimSpace(line))
	case "tty":
		interactive()
	case "wait-term", "wait-int":
		fmt.Println("ready")
		return // the deferred wait
	}
}

// workdir reports, as key=value lines, the working directory inside:
// its path (getcwd), whether it is /tmp or /, and whether the file marker
// is seen in it; and writes the file write there ("-": neither).
func workdir(marker, write string) {
	wd, _ := unix.Getwd()
	fmt.Printf("cwd=%s\n", wd)
	var dot, tmp, root unix.Stat_t
	if unix.Stat(".", &dot) == nil && unix.Stat("/tmp", &tmp) == nil && unix.Stat("/", &root) == nil {
		if dot.Dev == tmp.Dev && dot.Ino == tmp.Ino {
			fmt.Println("in_tmp=true")
		}
		if dot.Dev == root.Dev && dot.Ino == root.Ino {
			fmt.Println("at_root=true")
		}
	}
	if _, err := os.Lstat(marker); marker != "-" && err == nil {
		fmt.Println("marker=true")
	}
	if write != "-" {
		if err := os.WriteFile(write, []byte("written inside"), 0o600); err != nil {
			fmt.Printf("write_err=%v\n", err)
		}
	}
}

// interactive runs on a terminal: it reports whether its process group is
// the terminal's foreground group, counts the SIGINTs it receives, reports
// the count on SIGUSR1 (a forwarded SIGINT arrives before a SIGUSR1 that was
// sent to the original process after it), and answers "count" and "quit"
// typed on the terminal.
func interactive() {
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGUSR1)
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	fmt.Printf("foreground %v\n", err == nil && fg == unix.Getpgrp())
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	fmt.Println("ready")
	ints := 0
	for {
		select {
		case s := <-sigc:
			if s == syscall.SIGUSR1 {
				fmt.Printf("usr1 ints=%d\n", ints)
				continue
			}
			ints++
			fmt.Printf("int %d\n", ints)
		case line, ok := <-lines:
			switch {
			case !ok:
				os.Exit(5)
			case line == "count":
				fmt.Printf("count %d\n", ints)
			case line == "quit":
				os.Exit(0)
			}
		}
	}
}
