package esm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// fakeStack resolves {"Ref": X} to values["X"] and {"Fn::GetAtt": [X, A]} to values["X.A"]:
// the test creates the resources in moto and fills values with their names and ARNs.
type fakeStack struct {
	tmpl     *samtemplate.Template
	endpoint string
	values   map[string]any
	targets  []spec.RuleTarget // RuleTargets, when not nil
}

func newFakeStack(t *testing.T, yaml, endpoint string, values map[string]any) *fakeStack {
	t.Helper()
	tmpl, err := samtemplate.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeStack{tmpl: tmpl, endpoint: endpoint, values: values}
}

func (s *fakeStack) Template() *samtemplate.Template { return s.tmpl }
func (s *fakeStack) Endpoint() string                { return s.endpoint }

func (s *fakeStack) Resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			if r, ok := s.values[ref]; ok {
				return r, nil
			}
			return nil, fmt.Errorf("fake stack: no value for Ref %s", ref)
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 {
			key := fmt.Sprintf("%v.%v", ga[0], ga[1])
			if r, ok := s.values[key]; ok {
				return r, nil
			}
			return nil, fmt.Errorf("fake stack: no value for GetAtt %s", key)
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := s.Resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := s.Resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func (s *fakeStack) Functions() map[string]spec.Function {
	out := map[string]spec.Function{}
	for _, id := range s.tmpl.OfType("AWS::Serverless::Function") {
		name := "s2e-" + strings.ToLower(id)
		out[id] = spec.Function{LogicalID: id, Name: name, ARN: "arn:aws:lambda:us-east-1:123456789012:function:" + name}
	}
	return out
}

func (s *fakeStack) FunctionByARN(arn string) (spec.Function, bool) {
	for _, f := range s.Functions() {
		if f.ARN == arn || f.Name == arn {
			return f, true
		}
	}
	return spec.Function{}, false
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

func clientConfig(endpoint string) aws.Config {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
}

// eventually polls cond until it holds or 30s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var functionError = spec.Result{Error: "Runtime.ExitError", Payload: []byte(`{"errorMessage":"boom","errorType":"Runtime.ExitError"}`)}

// invokerFunc calls f and answers success.
type invokerFunc func(id string, inv spec.Invocation)

func (f invokerFunc) Invoke(_ context.Context, id string, inv spec.Invocation) (spec.Result, error) {
	f(id, inv)
	return spec.Result{RequestID: "1", Payload: []byte(`{"batchItemFailures":[]}`)}, nil
}
