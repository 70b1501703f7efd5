//go:build linux

package namespace

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

type sumIn struct {
	Numbers []int `json:"numbers"`
}

type sumOut struct {
	Sum int `json:"sum"`
	PID int `json:"pid"`
}

var sumTask = NewTask("test-sum", func(ctx context.Context, in sumIn) (sumOut, error) {
	out := sumOut{PID: pidOf()}
	for _, v := range in.Numbers {
		out.Sum += v
	}
	if out.Sum < 0 {
		return out, errors.New("negative sum")
	}
	return out, nil
})

var badOutputTask = NewTask("test-bad-output", func(ctx context.Context, _ int) (float64, error) {
	return math.Inf(1), nil // JSON cannot encode it
})

var mismatchTask = NewTask("test-mismatch", func(ctx context.Context, _ int) (string, error) {
	return "not a number", nil
})

// mismatchAsInt runs the same function but expects an int.
var mismatchAsInt = &Task[int, int]{f: mismatchTask.f}

func TestTaskRoundTrip(t *testing.T) {
	out, err := sumTask.Run(context.Background(), testNS(WithPrivatePID()), sumIn{Numbers: []int{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Sum != 10 || out.PID != 1 {
		t.Errorf("got %+v, want sum 10 from pid 1", out)
	}
	_, err = sumTask.Run(context.Background(), testNS(), sumIn{Numbers: []int{-5}})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Msg != "negative sum" {
		t.Errorf("task error: got %v", err)
	}
}

func TestTaskEncodingErrors(t *testing.T) {
	// An input that cannot be encoded fails before any child starts: a
	// Namespace that could not even start (invalid) shows it.
	bad := NewTaskForTest()
	_, err := bad.Run(context.Background(), New(WithHostname("")), make(chan int))
	var ute *json.UnsupportedTypeError
	if !errors.As(err, &ute) {
		t.Errorf("unencodable input: got %v, want *json.UnsupportedTypeError", err)
	}

	_, err = badOutputTask.Run(context.Background(), testNS(), 0)
	var ee *ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.Msg, "encode task output") {
		t.Errorf("unencodable output: got %v", err)
	}

	_, err = mismatchAsInt.Run(context.Background(), testNS(), 0)
	if err == nil || !strings.Contains(err.Error(), "decode output") {
		t.Errorf("undecodable output: got %v", err)
	}
}

var chanTask = NewTask("test-chan-input", func(ctx context.Context, _ chan int) (int, error) { return 0, nil })

func NewTaskForTest() *Task[chan int, int] { return chanTask }
