//go:build linux

package benchkit

import (
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/linuxns/namespace/internal/proctest"
)

func TestStaticTrueExitsZero(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("no static true for " + runtime.GOARCH)
	}
	path, err := StaticTrue(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(path, "ignored", "args").Run(); err != nil {
		t.Errorf("static true: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	if got := l.Percentile(50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := l.Percentile(99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := l.Percentile(100); got != 100*time.Millisecond {
		t.Errorf("p100 = %v", got)
	}
	if got := (Latencies{}).Percentile(50); got != 0 {
		t.Errorf("empty p50 = %v", got)
	}
	if l[0] != 100*time.Millisecond {
		t.Error("Percentile sorted its receiver")
	}
}

func TestArgv(t *testing.T) {
	got, runs := MntPIDProc.UnshareArgv("true")
	if want := []string{"unshare", "--mount", "--pid", "--fork", "--mount-proc", "true"}; !slices.Equal(got, want) || !runs {
		t.Errorf("unshare mnt+pid+proc = %q, %v", got, runs)
	}
	got, runs = MntTmpfs.UnshareArgv("true")
	if want := []string{"unshare", "--mount", "mount", "-t", "tmpfs", "-o", "nosuid,nodev,mode=1777", "tmpfs", "/tmp"}; !slices.Equal(got, want) || runs {
		t.Errorf("unshare mnt+tmpfs = %q, %v", got, runs)
	}
	got, runs = All.UnshareArgv("true")
	if got[len(got)-1] != "true" || !runs || !slices.Contains(got, "sh") {
		t.Errorf("unshare all = %q, %v", got, runs)
	}
	got, ok := NetLo.BwrapArgv("true")
	if want := []string{"bwrap", "--dev-bind", "/", "/", "--unshare-net", "true"}; !slices.Equal(got, want) || !ok {
		t.Errorf("bwrap net+lo = %q", got)
	}
	if _, ok := All.BwrapArgv("true"); ok {
		t.Error("bwrap claims a time namespace")
	}
	got = MntPIDProc.NsrunArgv("nsrun", "true")
	if want := []string{"nsrun", "--mount", "--pid", "--", "true"}; !slices.Equal(got, want) {
		t.Errorf("nsrun mnt+pid+proc = %q", got)
	}
}

// An orphan of a command run by the caller is adopted and reaped, not left
// to init.
func TestSubreaperReapsOrphans(t *testing.T) {
	reap, restore, err := Subreaper()
	if err != nil {
		t.Skip(err)
	}
	defer restore()
	if err := exec.Command("sh", "-c", "sleep 0.2 & exit 0").Run(); err != nil {
		t.Fatal(err)
	}
	if len(proctest.Children()) != 1 {
		t.Fatalf("children after the shell exited: %v; want the orphaned sleep", proctest.Children())
	}
	if n := reap(); n != 1 {
		t.Errorf("reaped %d orphans, want 1", n)
	}
	if c := proctest.Children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}
