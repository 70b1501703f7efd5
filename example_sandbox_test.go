//go:build linux

package namespace_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/linuxns/namespace"
)

// A command in a sandbox: its own user, mount, PID, IPC, UTS, network and
// cgroup namespaces, a private /tmp and /proc, no capabilities,
// no_new_privs, a seccomp filter, a new session and no nested user
// namespaces. It works for any user: the sandbox has a user namespace of
// its own.
func ExampleWithSandbox() {
	ns := namespace.New(namespace.WithSandbox())
	out, err := ns.Command(context.Background(), "/bin/sh", "-c", `
id -u
grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status | tr -d '\t'
echo note > /tmp/note && echo "write /tmp: ok"
unshare -U true 2>/dev/null && echo "new user namespace: yes" || echo "new user namespace: refused"
mount -t tmpfs none /mnt 2>/dev/null && echo "mount: yes" || echo "mount: refused"`).Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output:
	// 0
	// CapEff:0000000000000000
	// NoNewPrivs:1
	// Seccomp:2
	// write /tmp: ok
	// new user namespace: refused
	// mount: refused
}

// Landlock without any namespace or privilege: the child may read the
// system's directories and write only in one directory of its own.
// LandlockBestEffort lets it run on kernels whose Landlock ABI is older than
// 3 (Linux 6.1 has 2: file truncation is not restricted there), logging what
// is not enforced; without it such a kernel is an error.
func ExampleWithLandlock() {
	dir, err := os.MkdirTemp("", "landlock-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var ro []string
	for _, p := range []string{"/usr", "/bin", "/lib", "/lib64", "/etc", "/dev/null"} {
		if _, err := os.Stat(p); err == nil {
			ro = append(ro, p)
		}
	}
	ns := namespace.New(namespace.WithLandlock(namespace.LandlockReadOnly(ro...), namespace.LandlockReadWrite(dir), namespace.LandlockBestEffort()))
	out, err := ns.Command(context.Background(), "/bin/sh", "-c",
		`touch "$1/mine" && echo "write in my directory: ok"; touch /tmp/landlock-example 2>/dev/null || echo "write in /tmp: denied"`, "sh", dir).Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output:
	// write in my directory: ok
	// write in /tmp: denied
}
