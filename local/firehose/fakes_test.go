package firehose

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// fakeStack resolves Ref and Fn::GetAtt … Arn of a test template to fixed local names.
type fakeStack struct {
	tmpl     *samtemplate.Template
	endpoint string
}

func newFakeStack(t *testing.T, yaml, endpoint string) *fakeStack {
	t.Helper()
	tmpl, err := samtemplate.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeStack{tmpl: tmpl, endpoint: endpoint}
}

func (s *fakeStack) Template() *samtemplate.Template { return s.tmpl }
func (s *fakeStack) Endpoint() string                { return s.endpoint }

func (s *fakeStack) physical(id string) string { return "s2e-" + strings.ToLower(id) }

func (s *fakeStack) Resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			return s.physical(ref), nil
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 {
			id := fmt.Sprint(ga[0])
			switch s.tmpl.Resources[id].Type {
			case "AWS::S3::Bucket":
				return "arn:aws:s3:::" + s.physical(id), nil
			case "AWS::Serverless::Function":
				return s.Functions()[id].ARN, nil
			}
			return nil, fmt.Errorf("fake stack: no GetAtt for %s", id)
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
		name := s.physical(id)
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

// transformer is a fake processor: "fail…" records come back ProcessingFailed, "drop…"
// Dropped, others Ok upper-cased with a newline. The first failFirst invocations are function
// errors; with missing set, it leaves out the last record's answer.
type transformer struct {
	failFirst int64
	missing   bool
	calls     atomic.Int64
	mu        sync.Mutex
	events    []transformationEvent
}

func (f *transformer) Invoke(_ context.Context, id string, inv spec.Invocation) (spec.Result, error) {
	n := f.calls.Add(1)
	var ev transformationEvent
	if err := json.Unmarshal(inv.Payload, &ev); err != nil {
		return spec.Result{}, fmt.Errorf("fake %s: %w", id, err)
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	if n <= f.failFirst {
		return spec.Result{Error: "Runtime.ExitError", Payload: []byte(`{"errorMessage":"boom","errorType":"Runtime.ExitError"}`)}, nil
	}
	var resp events.KinesisFirehoseResponse
	for _, r := range ev.Records {
		out := events.KinesisFirehoseResponseRecord{RecordID: r.RecordID, Result: events.KinesisFirehoseTransformedStateOk,
			Data: []byte(strings.ToUpper(string(r.Data)) + "\n")}
		switch {
		case strings.HasPrefix(string(r.Data), "fail"):
			out = events.KinesisFirehoseResponseRecord{RecordID: r.RecordID, Result: events.KinesisFirehoseTransformedStateProcessingFailed}
		case strings.HasPrefix(string(r.Data), "drop"):
			out = events.KinesisFirehoseResponseRecord{RecordID: r.RecordID, Result: events.KinesisFirehoseTransformedStateDropped}
		}
		resp.Records = append(resp.Records, out)
	}
	if f.missing {
		resp.Records = resp.Records[:len(resp.Records)-1]
	}
	b, err := json.Marshal(resp)
	return spec.Result{RequestID: fmt.Sprint(n), Payload: b}, err
}
