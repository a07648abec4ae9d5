package esm

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
)

// fakeStack resolves {"Ref": X} to values["X"] and {"Fn::GetAtt": [X, A]} to values["X.A"]:
// the test creates the resources in moto and fills values with their names and ARNs.
type fakeStack struct {
	*stacktest.Fake
	values  map[string]any
	targets []spec.RuleTarget // RuleTargets, when not nil
}

func newFakeStack(t *testing.T, yaml, endpoint string, values map[string]any) *fakeStack {
	t.Helper()
	s := &fakeStack{Fake: stacktest.NewFake(t, yaml, endpoint), values: values}
	s.Ref = func(id string) (any, error) {
		if r, ok := s.values[id]; ok {
			return r, nil
		}
		return nil, fmt.Errorf("fake stack: no value for Ref %s", id)
	}
	s.GetAtt = func(id, attribute string) (any, error) {
		key := id + "." + attribute
		if r, ok := s.values[key]; ok {
			return r, nil
		}
		return nil, fmt.Errorf("fake stack: no value for GetAtt %s", key)
	}
	return s
}

// targetStack is a fakeStack that also tells the rules' delivery queues.
type targetStack struct{ *fakeStack }

func (s targetStack) RuleTargets() []spec.RuleTarget { return s.targets }

// call is one invocation the fake function saw.
type call struct {
	payload []byte
	trace   string
	at      time.Time
}

// fakeFunction answers with answer and records every call.
type fakeFunction struct {
	mu     sync.Mutex
	calls  []call
	answer func(n int, inv spec.Invocation) (spec.Result, error)
}

func (f *fakeFunction) Invoke(_ context.Context, _ string, inv spec.Invocation) (spec.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{payload: inv.Payload, trace: inv.TraceHeader, at: time.Now()})
	n := len(f.calls)
	f.mu.Unlock()
	if f.answer == nil {
		return spec.Result{RequestID: fmt.Sprint(n)}, nil
	}
	res, err := f.answer(n, inv)
	if res.RequestID == "" {
		res.RequestID = fmt.Sprint(n)
	}
	return res, err
}

func (f *fakeFunction) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// eventually polls cond until it holds or 30s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !stacktest.WaitUntil(30*time.Second, cond) {
		t.Fatalf("%s: not within 30s", what)
	}
}

var functionError = spec.Result{Error: "Runtime.ExitError", Payload: []byte(`{"errorMessage":"boom","errorType":"Runtime.ExitError"}`)}

// invokerFunc calls f and answers success.
type invokerFunc func(id string, inv spec.Invocation)

func (f invokerFunc) Invoke(_ context.Context, id string, inv spec.Invocation) (spec.Result, error) {
	f(id, inv)
	return spec.Result{RequestID: "1", Payload: []byte(`{"batchItemFailures":[]}`)}, nil
}
