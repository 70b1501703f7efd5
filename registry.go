package namespace

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// The registry of functions that a child can run: the same on every
// system (on systems without namespaces, Run reports ErrUnsupported, but
// Register and NewTask behave as on Linux).

// A Func is a function registered to run in a child process by Run. Make
// one with Register.
type Func struct {
	name string
	fn   func(ctx context.Context, args []string) error
	task func(ctx context.Context, in json.RawMessage) (json.RawMessage, error)
}

// Name returns the name the Func was registered with.
func (f *Func) Name() string { return f.name }

var registry struct {
	sync.RWMutex
	funcs map[string]*Func
}

// Register records fn under name so that a child process can run it, and
// returns the handle to pass to Run. Call it at package level, in a var
// declaration or an init function, so that the re-executed program
// registers the same functions before Init runs:
//
//	var listTmp = namespace.Register("list-tmp", func(ctx context.Context, args []string) error { … })
//
// In the child, fn receives a context that is cancelled when the child is
// asked to stop (SIGTERM, SIGINT, SIGHUP) and the args given to Run. The
// child starts catching those signals when fn first consults the context
// (Done or Err, as deriving a context does); a function that never does is
// stopped by their default effect. Catching them starts os/signal's
// threads: a function that lowers its RLIMIT_NPROC, or fills its pids
// limit, consults its context first and leaves room for the threads the Go
// runtime makes as it runs. Its error text, or its panic, reaches
// the caller of Run as an *ExitError.
//
// Register panics if name is empty or already registered, or fn is nil, as
// these are programming errors found at start-up.
func Register(name string, fn func(ctx context.Context, args []string) error) *Func {
	if fn == nil {
		panic("namespace: Register " + name + " with a nil function")
	}
	return register(&Func{name: name, fn: fn})
}

func register(f *Func) *Func {
	if f.name == "" {
		panic("namespace: Register with an empty name")
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.funcs == nil {
		registry.funcs = make(map[string]*Func)
	}
	if _, dup := registry.funcs[f.name]; dup {
		panic("namespace: Register called twice for " + f.name)
	}
	registry.funcs[f.name] = f
	return f
}

func lookupFunc(name string) *Func {
	registry.RLock()
	defer registry.RUnlock()
	return registry.funcs[name]
}

// A Task is a registered function that takes a value of type In and returns
// a value of type Out, run in a child process by Task.Run. In and Out travel
// as JSON.
type Task[In, Out any] struct {
	f *Func
}

// NewTask registers fn under name, like Register, and returns the Task that
// runs it. Call it at package level. It panics on an empty or duplicate name
// or a nil fn.
func NewTask[In, Out any](name string, fn func(context.Context, In) (Out, error)) *Task[In, Out] {
	if fn == nil {
		panic("namespace: NewTask " + name + " with a nil function")
	}
	f := &Func{name: name, task: func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var in In
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, fmt.Errorf("decode task input as %T: %w", in, err)
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("encode task output %T: %w", out, err)
		}
		return b, nil
	}}
	return &Task[In, Out]{f: register(f)}
}

// Func returns the registered function behind the task.
func (t *Task[In, Out]) Func() *Func { return t.f }

// A Runner runs registered functions in fresh namespaces: a *Namespace
// starts a child for each call, and a *Pool hands the call to a child it
// prepared. Task.Run takes either. Only this package's types implement it.
type Runner interface {
	// Run runs f with args in a child process and returns its outcome.
	Run(ctx context.Context, f *Func, args ...string) error

	runner()
}
