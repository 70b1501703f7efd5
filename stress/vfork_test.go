//go:build stress && linux

package stress

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/linuxns/namespace"
)

// TestStartProcessTenThousand starts 10,000 processes with StartProcess
// from 4 goroutines while another churns pointer-rich heap objects and
// the GC: the raw clone shares this process's memory until execve (CLONE_VM
// where the architecture has it), and nothing of that may show: every
// start succeeds, the heap's checksums hold and no child is left.
func TestStartProcessTenThousand(t *testing.T) {
	const total, workers = 10000, 4
	type node struct {
		next *node
		val  uint64
	}
	stop := make(chan struct{})
	var bad atomic.Int64
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var head *node
			for j := uint64(0); j < 1000; j++ {
				head = &node{next: head, val: i ^ j}
			}
			for j, n := uint64(999), head; n != nil; j, n = j-1, n.next {
				if n.val != i^j {
					bad.Add(1)
					break
				}
			}
			if i%32 == 0 {
				runtime.GC()
			}
		}
	}()
	n := rootless(namespace.WithPrivateMount(), namespace.WithPrivatePID(), namespace.WithPrivateTmp())
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				p, err := n.StartProcess("/bin/true", nil, &os.ProcAttr{Files: []*os.File{nil, nil, nil}})
				if err == nil {
					var st *os.ProcessState
					if st, err = p.Wait(); err == nil && !st.Success() {
						err = errors.New(st.String())
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if b := bad.Load(); b != 0 {
		t.Errorf("%d heap lists corrupted", b)
	}
	if c := children(); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
	report("StartProcess ×%d from %d goroutines with a GC-heavy one: no failure", total, workers)
}
