//go:build linux

package namespace_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/linuxns/namespace"
)

// hostSystem returns the options that bring the host's programs into a
// root built from nothing: /usr read-only, and /bin, /sbin, /lib and /lib64
// as the host has them (links, as "usr/bin" on a merged-/usr system, or
// directories, bound read-only).
func hostSystem() []namespace.Option {
	o := []namespace.Option{namespace.WithReadOnlyBind("/usr", "/usr")}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib64"} {
		if target, err := os.Readlink(d); err == nil {
			o = append(o, namespace.WithSymlink(target, d))
		} else if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			o = append(o, namespace.WithReadOnlyBind(d, d))
		}
	}
	return o
}

// A root built from nothing, as bubblewrap builds one: an empty tmpfs, the
// host's programs read-only, a generated /etc/passwd, a fresh /tmp, /proc
// and /dev. The host's /home, /root and /var are not there, and no path
// leads to the old root.
func ExampleWithEmptyRoot() {
	opts := []namespace.Option{namespace.WithEmptyRoot()}
	opts = append(opts, hostSystem()...)
	opts = append(opts,
		namespace.WithFile("/etc/passwd", []byte("root:x:0:0:root:/:/bin/sh\n"), 0o444),
		namespace.WithTmpfs("/tmp"),
		namespace.WithDev(),
		namespace.WithPrivatePID())
	ns := namespace.New(rootless(opts...)...)
	out, err := ns.Command(context.Background(), "/bin/sh", "-c",
		`echo $(for d in /usr /etc /tmp /dev /proc /home; do [ -d $d ] && echo $d; done)
ls /home /root /var 2>/dev/null || echo "no /home, /root or /var"
readlink /proc/1/root
id -un`).Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output:
	// /usr /etc /tmp /dev /proc
	// no /home, /root or /var
	// /
	// root
}
