//go:build !linux

package namespace

import (
	"context"
	"errors"
	"os"
	"testing"
)

// The tests of the package on systems other than Linux. They run there
// (go test on macOS or Windows); on Linux, make cross type-checks them
// with go vet for darwin and windows.

var otherFunc = Register("other-func", func(context.Context, []string) error { return nil })

var otherTask = NewTask("other-task", func(_ context.Context, in int) (int, error) { return in, nil })

func TestEntryPointsUnsupported(t *testing.T) {
	Init() // nothing to do: it returns
	n := New(WithPrivatePID(), WithPrivateTmp(), WithHostname("box"))
	if err := n.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	ctx := context.Background()
	called := false
	_, taskErr := otherTask.Run(ctx, n, 1)
	proc, spawnErr := n.StartProcess(os.Args[0], nil, nil)
	prep, prepErr := n.Prepare(os.Args[0], nil, &os.ProcAttr{})
	var zero Prepared
	_, startErr := zero.Start()
	pool, poolErr := n.Pool(1)
	for name, err := range map[string]error{
		"Run":            n.Run(ctx, otherFunc),
		"Task.Run":       taskErr,
		"Command":        n.Command(ctx, os.Args[0]).Err,
		"Command.Run":    n.Command(ctx, os.Args[0]).Run(),
		"StartProcess":   spawnErr,
		"Prepare":        prepErr,
		"Prepared.Start": startErr,
		"Prepared.Abort": zero.Abort(),
		"Exec":           n.Exec(os.Args[0], nil, nil),
		"Setup":          n.Setup(),
		"Do":             n.Do(func() error { called = true; return nil }),
		"Pool":           poolErr,
		"Pool.Run":       (&Pool{}).Run(ctx, otherFunc),
	} {
		if !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s = %v, want an error wrapping ErrUnsupported and errors.ErrUnsupported", name, err)
		}
	}
	if proc != nil || prep != nil {
		t.Errorf("StartProcess or Prepare returned a process: %v, %v", proc, prep)
	}
	if called {
		t.Error("Do called its function")
	}
	if pool != nil {
		t.Errorf("Pool returned a pool")
	}
}

func TestPortablePartsWork(t *testing.T) {
	if err := New(WithHostname("-x")).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate of a bad hostname = %v, want ErrInvalid", err)
	}
	n := New(WithPrivateUser(), WithPrivatePID(), WithPrivateNet())
	if got, want := n.String(), "namespace{user,mnt,net,pid}"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if otherFunc.Name() != "other-func" || otherTask.Func().Name() != "other-task" {
		t.Error("registered names are lost")
	}
	defer func() {
		if recover() == nil {
			t.Error("a second Register of a name did not panic")
		}
	}()
	Register("other-func", func(context.Context, []string) error { return nil })
}
