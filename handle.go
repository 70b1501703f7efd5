package namespace

import (
	"sync"

	"github.com/linuxns/namespace/syscalls"
)

// A Handle holds namespaces that Namespace.Create made, without a job
// running in them, until Close: jobs started with its Run, Command and
// StartProcess run inside them, one after the other or concurrently, and
// Pin makes them enterable by other programs (nsenter, ip netns exec).
//
// The namespaces are held by a process of the caller's, cloned into them
// and set up as for Prepare, that never executes anything: a PID namespace
// needs a PID 1 while it lives, and that process is it. A job enters the
// namespaces as WithJoin does (the set-up, such as a private /tmp, a
// hostname or lo up, was made once, by Create, and is shared). A Handle
// is safe for concurrent use.
type Handle struct {
	n      *Namespace // the options of Create
	job    *Namespace // the options of the jobs: the joins
	kinds  []syscalls.Type
	holder *Prepared

	mu     sync.Mutex
	pins   []pin
	closed bool
}

// pin is a namespace file bind-mounted by Handle.Pin.
type pin struct {
	path    string
	dir     int    // the directory of path, opened once (O_PATH): every later step is relative to it
	name    string // path's last element, in dir
	created bool   // the file was made by Pin, and is removed by Close
	tree    int    // the pinning mount's descriptor, by which Close unmounts it
	dev     uint64
	ino     uint64 // the file under the mount, which Close removes only if it is still there
}
