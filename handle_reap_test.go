//go:build linux

package namespace

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// heldZombies returns how many zombies the process pid has for children
// (pid as the caller's /proc sees it).
func heldZombies(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range strings.Fields(string(b)) {
		st, err := os.ReadFile("/proc/" + c + "/stat")
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(st), ')'); i > 0 && strings.HasPrefix(string(st[i:]), ") Z") {
			n++
		}
	}
	return n
}

// TestHandleReapsOrphans: 1,000 jobs in one Handle with a PID namespace,
// each leaving an orphan (re-parented to the holder, PID 1 there), leave
// no zombie, and no growth of descriptors, threads or mounts; the jobs'
// own statuses are not taken by the holder.
func TestHandleReapsOrphans(t *testing.T) {
	needUserNS(t)
	h, err := testNS(WithPrivatePID(), WithPrivateTmp()).Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	job := func(i int) {
		// The subshell's sleep is orphaned at once; the job's status is 3.
		p, err := h.StartProcess("/bin/sh", []string{"sh", "-c", "(sleep 0 &); exit 3"}, &os.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := p.Wait()
		if err != nil || st.ExitCode() != 3 {
			t.Fatalf("job %d: %v %v, want status 3", i, st, err)
		}
	}
	for i := range 10 {
		job(i)
	}
	before := takeHandleUsage(t, h)
	for i := range 1000 {
		if i%100 == 0 {
			if err := h.Command(context.Background(), "/bin/sh", "-c", "(sleep 0 &)").Run(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		job(i)
	}
	z := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if z = heldZombies(t, h.Pid()); z == 0 || time.Now().After(deadline) {
			break
		}
	}
	if z != 0 {
		t.Errorf("%d zombies under the holder", z)
	}
	before.checkNoGrowth(t, h)
}
