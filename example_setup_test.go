//go:build linux

package namespace_test

import (
	"fmt"
	"log"
	"os"

	"github.com/linuxns/namespace"
)

// Setup is called first in main. The original process waits for the
// re-executed program and exits with its status; main continues only
// inside the namespaces. (Not run here: it would re-execute the test.)
func ExampleNamespace_Setup() {
	ns := namespace.New(
		namespace.WithPrivateUser(), // works without root
		namespace.WithPrivatePID(),
		namespace.WithPrivateTmp(),
	)
	if err := ns.Setup(); err != nil {
		log.Fatalf("cannot create the namespaces: %v", err) // nothing changed
	}
	fmt.Println("running as PID", os.Getpid()) // 1
}

// Do isolates one function on one thread, without a new process. It needs
// CAP_SYS_ADMIN; not run here because the examples also run unprivileged.
func ExampleNamespace_Do() {
	ns := namespace.New(namespace.WithPrivateTmp(), namespace.WithHostname("scratch"))
	err := ns.Do(func() error {
		h, _ := os.Hostname()
		fmt.Println("hostname:", h) // scratch, on this thread only
		return os.WriteFile("/tmp/scratch-file", []byte("gone with the thread"), 0o600)
	})
	if err != nil {
		log.Fatal(err)
	}
}

// A command takes the program's place in new namespaces, as with unshare(1)
// without --fork. Exec returns only if that fails. (Not run here: it would
// replace the test.)
func ExampleNamespace_Exec() {
	ns := namespace.New(namespace.WithPrivateTmp(), namespace.WithPrivateNet())
	err := ns.Exec("/bin/sh", []string{"sh", "-c", "ls -A /tmp; ip -o link"}, nil)
	log.Fatalf("cannot run sh: %v", err)
}
