//go:build linux

package namespace_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/linuxns/namespace"
)

var square = namespace.NewTask("example-square", func(ctx context.Context, n int) (int, error) {
	return n * n, nil
})

func ExampleNamespace_Pool() {
	// Two children are kept ready, each in fresh namespaces of its own with
	// the set-up done; a Run hands its job to a ready child (or starts a
	// cold one if none is ready yet). Close ends the children that wait.
	ns := namespace.New(rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp())...)
	pool, err := ns.Pool(2)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	for i := 1; i <= 3; i++ {
		sq, err := square.Run(context.Background(), pool, i)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(sq)
	}
	// Output:
	// 1
	// 4
	// 9
}

var greet = namespace.Register("example-greet", func(ctx context.Context, args []string) error {
	fmt.Println("hello,", args[0], "from pid", os.Getpid())
	return nil
})

func ExamplePool() {
	pool, err := namespace.New(rootless(namespace.WithPrivatePID())...).Pool(1)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Run(context.Background(), greet, "pool"); err != nil {
		log.Fatal(err)
	}
	// Output: hello, pool from pid 1
}
