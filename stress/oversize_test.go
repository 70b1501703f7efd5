//go:build stress && linux

package stress

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/linuxns/namespace"
)

// TestOversizedJob: a Task input beyond the protocol's frame limit (64 MiB)
// is refused with ErrProtocol and leaves no child. (In a file of its own
// that sorts after the load tests, whose memory figures its 64 MiB would
// blur.)
func TestOversizedJob(t *testing.T) {
	big := strings.Repeat("x", 64<<20+1)
	var err error
	noHang(t, "oversized job", func() { _, err = echoTask.Run(context.Background(), rootless(namespace.WithPrivateMount()), big) })
	if !errors.Is(err, namespace.ErrProtocol) {
		t.Errorf("Task.Run with a 64 MiB input = %v, want ErrProtocol", err)
	}
	if kids := children(); len(kids) > 0 {
		t.Errorf("children left: %v", kids)
	}
}
