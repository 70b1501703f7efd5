//go:build linux

package syscalls_test

import (
	"fmt"
	"log"
	"os"
	"runtime"

	"github.com/linuxns/namespace/syscalls"
)

func ExampleParseType() {
	for _, s := range []string{"mnt", "Mount", "network", "user", "bogus"} {
		t, err := syscalls.ParseType(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s -> %s %#x /proc/self/ns/%s\n", s, t, t.Flag(), t.ProcName())
	}
	// Output:
	// mnt -> mnt 0x20000 /proc/self/ns/mnt
	// Mount -> mnt 0x20000 /proc/self/ns/mnt
	// network -> net 0x40000000 /proc/self/ns/net
	// user -> user 0x10000000 /proc/self/ns/user
	// syscalls: invalid namespace type "bogus"
}

func ExampleTypesOf() {
	flags := syscalls.CLONE_NEWPID | syscalls.CLONE_NEWNS | syscalls.CLONE_NEWUSER | syscalls.CLONE_VM
	fmt.Println(syscalls.TypesOf(flags))
	fmt.Println(syscalls.Types())
	// Output:
	// [user mnt pid]
	// [user mnt uts ipc net pid cgroup time]
}

func ExampleTypeFromFlag() {
	t, err := syscalls.TypeFromFlag(syscalls.CLONE_NEWUTS)
	fmt.Println(t, err)
	_, err = syscalls.TypeFromFlag(syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWNET)
	fmt.Println(err)
	// Output:
	// uts <nil>
	// syscalls: invalid namespace type: flags 0x44000000 are not exactly one CLONE_NEW* flag
}

// Compare a namespace found by path with one held open: same ID, same
// namespace. The String form is what readlink(2) shows.
func ExampleIDOf() {
	id, err := syscalls.IDOf(0, 0, syscalls.Net) // /proc/self/ns/net
	if err != nil {
		log.Fatal(err)
	}
	f, err := syscalls.OpenNS(0, 0, syscalls.Net)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	held, err := syscalls.IDOfFile(f)
	if err != nil {
		log.Fatal(err)
	}
	link, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.Equal(held), id.String() == link, held.Type)
	// Output: true true net
}

func ExampleGetNSType() {
	f, err := os.Open("/proc/self/ns/uts")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	t, err := syscalls.GetNSType(f)
	fmt.Println(t, err)
	// Output: uts <nil>
}

// Two descriptors made by dup(2) share one open file description.
func ExampleKcmpSame() {
	f, err := os.Open("/proc/self/ns/uts")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	g, err := os.Open("/proc/self/ns/uts")
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	pid := os.Getpid()
	same, err := syscalls.KcmpSame(pid, pid, syscalls.KCMP_FILE, f.Fd(), g.Fd())
	fmt.Println("two opens:", same, err)
	same, err = syscalls.KcmpSame(pid, pid, syscalls.KCMP_VM, 0, 0)
	fmt.Println("own address space:", same, err)
	// Output:
	// two opens: false <nil>
	// own address space: true <nil>
}

// Unshare on a locked OS thread that is thrown away afterwards: only that
// thread is in the new network namespace, and it dies with the goroutine.
// Needs CAP_SYS_ADMIN.
func ExampleUnshare() {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := syscalls.Unshare(syscalls.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- syscalls.ConfigureLoopback() // lo of the new namespace
		// ... listen on 127.0.0.1 here: sockets belong to the namespace
		// of the thread that creates them.
	}()
	if err := <-errc; err != nil {
		log.Fatal(err)
	}
}

// Join another process's UTS namespace from one locked thread. Joining
// needs CAP_SYS_ADMIN over the target namespace and in one's own user
// namespace.
func ExampleSetnsFile() {
	pid := 1234 // some process
	f, err := syscalls.OpenNS(pid, 0, syscalls.UTS)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked
		if err := syscalls.SetnsFile(f, syscalls.UTS); err != nil {
			done <- err
			return
		}
		h, err := os.Hostname() // reads /proc/sys/kernel/hostname of this thread's namespace
		fmt.Println(h)
		done <- err
	}()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
}
