//go:build linux

package namespace_test

import (
	"context"
	"fmt"
	"log"

	"github.com/linuxns/namespace"
)

// A root built from nothing, as bubblewrap builds one: an empty tmpfs, the
// host's /usr read-only, the links of a merged-/usr system, a generated
// /etc/passwd, a fresh /tmp, /proc and /dev. The host's /home, /root and
// /var are not there, and no path leads to the old root.
func ExampleWithEmptyRoot() {
	ns := namespace.New(rootless(
		namespace.WithEmptyRoot(),
		namespace.WithReadOnlyBind("/usr", "/usr"),
		namespace.WithSymlink("usr/bin", "/bin"),
		namespace.WithSymlink("usr/lib", "/lib"),
		namespace.WithSymlink("usr/lib64", "/lib64"),
		namespace.WithFile("/etc/passwd", []byte("root:x:0:0:root:/:/bin/sh\n"), 0o444),
		namespace.WithTmpfs("/tmp"),
		namespace.WithDev(),
		namespace.WithPrivatePID(),
	)...)
	out, err := ns.Command(context.Background(), "/bin/sh", "-c",
		`echo $(ls -A /); ls /home /root /var 2>/dev/null || echo "no /home, /root or /var"; readlink /proc/1/root; id -un`).Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output:
	// bin dev etc lib lib64 proc tmp usr
	// no /home, /root or /var
	// /
	// root
}
