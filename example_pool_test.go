//go:build linux

package namespace_test

import (
	"context"
	"fmt"
	"log"

	"github.com/linuxns/namespace"
)

var square = namespace.NewTask("example-square", func(ctx context.Context, n int) (int, error) {
	return n * n, nil
})

func ExampleWithPrewarm() {
	// Two children are kept ready, each in fresh namespaces of its own with
	// the set-up done; after the first Run, which starts the pool, a Run
	// hands its job to a ready child. Close ends the children that wait.
	ns := namespace.New(rootless(namespace.WithPrivatePID(), namespace.WithPrivateTmp(), namespace.WithPrewarm(2))...)
	defer ns.Close()
	for i := 1; i <= 3; i++ {
		sq, err := square.Run(context.Background(), ns, i)
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
