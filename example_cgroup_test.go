//go:build linux

package namespace_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/linuxns/namespace"
)

// A command under cgroup v2 limits. Where the host has no cgroup v2 with
// the memory, pids and cpu controllers (a cgroup v1 host), the command is
// refused before it starts, with an error wrapping ErrUnsupported that
// says what is missing.
func ExampleWithMemoryLimit() {
	ns := namespace.New(rootless(
		namespace.WithMemoryLimit(256<<20), // 256 MiB, no swap
		namespace.WithPidsLimit(64),
		namespace.WithCPULimit(0.5), // half a CPU
	)...)
	ctx := context.Background()
	cmd := ns.Command(ctx, "sh", "-c", "echo within limits")
	out, err := cmd.Output()
	ok := false
	switch {
	case errors.Is(err, namespace.ErrUnsupported):
		ok = len(out) == 0 // nothing ran
	case err == nil:
		// The cgroup is removed once the command has exited.
		_, err = namespace.CommandCgroup(ctx, cmd)
		ok = err == nil && string(out) == "within limits\n"
	}
	fmt.Println("ran under the limits, or refused before it started:", ok)
	// Output: ran under the limits, or refused before it started: true
}

// Learning that a command was killed by its memory limit.
func ExampleCommandCgroup() {
	ns := namespace.New(namespace.WithMemoryLimit(64 << 20))
	ctx := context.Background()
	cmd := ns.Command(ctx, "my-batch-job")
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	waitErr := cmd.Wait()
	usage, err := namespace.CommandCgroup(ctx, cmd)
	if errors.Is(err, namespace.ErrMemoryLimit) {
		log.Fatalf("my-batch-job needs more than 64 MiB (peak %d bytes): %v", usage.MemoryPeak, waitErr)
	}
	fmt.Println("CPU time:", usage.CPUTime, "wait:", waitErr)
}
