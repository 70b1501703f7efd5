//go:build linux

package namespace_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/linuxns/namespace"
	"github.com/linuxns/namespace/syscalls"
)

// Create holds namespaces without a job: commands run in them one after
// the other (or concurrently) and share their set-up, here a private /tmp.
func ExampleNamespace_Create() {
	ctx := context.Background()
	h, err := namespace.New(rootless(namespace.WithPrivateTmp(), namespace.WithPrivateNet())...).Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.Command(ctx, "/bin/sh", "-c", "echo kept > /tmp/note").Run(); err != nil {
		log.Fatal(err)
	}
	out, err := h.Command(ctx, "/bin/cat", "/tmp/note").Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: kept
}

// WithJoinProcess enters the namespaces of a running process (its UTS
// namespace, and its user namespace when unprivileged) from this
// multi-threaded Go program.
func ExampleWithJoinProcess() {
	ctx := context.Background()
	h, err := namespace.New(rootless(namespace.WithHostname("joined"))...).Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	kinds := []syscalls.Type{syscalls.UTS}
	if os.Geteuid() != 0 {
		kinds = append(kinds, syscalls.User)
	}
	out, err := namespace.New(namespace.WithJoinProcess(h.Pid(), kinds...)).Command(ctx, "hostname").Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: joined
}

// Check says what this kernel and system allow the current user, each
// missing feature with a remedy (nsrun --check prints the same).
func ExampleCheck() {
	r := namespace.Check(context.Background())
	fmt.Println(r.OK("create net namespace") || strings.Contains(r.String(), "NO  create net namespace"))
	// Output: true
}
