//go:build linux

package namespace_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"

	"github.com/linuxns/namespace"
)

// rootless adds a user namespace when the program does not run as root, so
// that the examples work for any user.
func rootless(opts ...namespace.Option) []namespace.Option {
	if os.Geteuid() != 0 {
		return append([]namespace.Option{namespace.WithPrivateUser()}, opts...)
	}
	return opts
}

// listTmp is registered at package level, so that the re-executed child
// knows it before Init runs.
var listTmp = namespace.Register("example-list-tmp", func(ctx context.Context, args []string) error {
	entries, err := os.ReadDir("/tmp")
	if err != nil {
		return err
	}
	fmt.Printf("pid %d, %d entries in /tmp, args %v\n", os.Getpid(), len(entries), args)
	return nil
})

func ExampleNamespace_Run() {
	// In main: namespace.Init() must be the first statement.
	ns := namespace.New(rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp())...)
	if err := ns.Run(context.Background(), listTmp, "a", "b"); err != nil {
		log.Fatal(err)
	}
	// Output: pid 1, 0 entries in /tmp, args [a b]
}

type hostInfo struct {
	Hostname string
	PID      int
}

var describe = namespace.NewTask("example-describe", func(ctx context.Context, prefix string) (hostInfo, error) {
	h, err := os.Hostname()
	return hostInfo{Hostname: prefix + h, PID: os.Getpid()}, err
})

func ExampleTask_Run() {
	ns := namespace.New(rootless(namespace.WithPrivatePID(), namespace.WithHostname("sandbox"))...)
	info, err := describe.Run(context.Background(), ns, "host: ")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Hostname, "pid", info.PID)
	// Output: host: sandbox pid 1
}

var failing = namespace.Register("example-fail", func(ctx context.Context, args []string) error {
	return fmt.Errorf("no config in %s", args[0])
})

func ExampleExitError() {
	ns := namespace.New(rootless(namespace.WithPrivateMount())...)
	err := ns.Run(context.Background(), failing, "/etc/app")
	if ee, ok := err.(*namespace.ExitError); ok {
		fmt.Println("status", ee.Code, "message:", ee.Msg)
	}
	// Output: status 1 message: no config in /etc/app
}

func ExampleNamespace_Command() {
	ns := namespace.New(rootless(namespace.WithPrivatePID(), namespace.WithPrivateNet(), namespace.WithHostname("box"))...)
	cmd := ns.Command(context.Background(), "sh", "-c", `echo "pid $$ on $(cat /proc/sys/kernel/hostname)"`)
	out, err := cmd.Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: pid 1 on box
}

func ExampleNamespace_StartProcess() {
	ns := namespace.New(rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithHostname("box"))...)
	sh, err := exec.LookPath("sh")
	if err != nil {
		log.Fatal(err)
	}
	p, err := ns.StartProcess(sh, []string{"sh", "-c", `echo "pid $$ on $(hostname), $(ls -A /tmp | wc -l) entries in /tmp"; exit 3`},
		&os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
	if err != nil {
		log.Fatal(err) // a *namespace.SetupError, or an *os.PathError of exec
	}
	state, err := p.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit status", state.ExitCode())
	// Output:
	// pid 1 on box, 0 entries in /tmp
	// exit status 3
}

// With WithMinimalInit, the process StartProcess returns is a minimal init, PID 1,
// and the program is PID 2: the init reaps the program's orphans, sends on
// the signals it gets, and exits with the program's status.
func ExampleWithMinimalInit() {
	ns := namespace.New(rootless(namespace.WithPrivatePID(), namespace.WithMinimalInit())...)
	sh, err := exec.LookPath("sh")
	if err != nil {
		log.Fatal(err)
	}
	p, err := ns.StartProcess(sh, []string{"sh", "-c", `echo "pid $$, parent $PPID"; exit 4`},
		&os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
	if err != nil {
		log.Fatal(err)
	}
	state, err := p.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit status", state.ExitCode())
	// Output:
	// pid 2, parent 1
	// exit status 4
}

func ExampleNamespace_Flags() {
	ns := namespace.New(namespace.WithPrivateTmp(), namespace.WithPrivatePID())
	fmt.Printf("%#x %v\n", ns.Flags(), ns)
	// Output: 0x20020000 namespace{mnt,pid}
}

func ExampleNamespace_Validate() {
	ns := namespace.New(namespace.WithHostname("bad_name"))
	err := ns.Validate()
	fmt.Println(strings.Contains(err.Error(), "hostname"), err != nil)
	// Output: true true
}

func ExampleNamespace_Prepare() {
	ns := namespace.New(rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp())...)
	p, err := ns.Prepare("/bin/sh", []string{"sh", "-c", `echo "pid $$: $(cat /tmp/config)"`},
		&os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
	if err != nil {
		log.Fatal(err)
	}
	// The namespaces exist, the program has not run: work on them from
	// outside, here through the process's root directory.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/root/tmp/config", p.Pid), []byte("from outside"), 0o644); err != nil {
		_ = p.Abort()
		log.Fatal(err)
	}
	proc, err := p.Start()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := proc.Wait(); err != nil {
		log.Fatal(err)
	}
	// Output: pid 1: from outside
}
