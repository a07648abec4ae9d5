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

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
)

// fakeStack resolves Ref and Fn::GetAtt … Arn of a test template to fixed local names.
type fakeStack struct{ *stacktest.Fake }

func newFakeStack(t *testing.T, yaml, endpoint string) *fakeStack {
	t.Helper()
	s := &fakeStack{stacktest.NewFake(t, yaml, endpoint)}
	s.Ref = func(id string) (any, error) { return stacktest.FakeName(id), nil }
	s.GetAtt = func(id, _ string) (any, error) {
		switch s.Tmpl.Resources[id].Type {
		case "AWS::S3::Bucket":
			return "arn:aws:s3:::" + stacktest.FakeName(id), nil
		case "AWS::Serverless::Function":
			return s.Functions()[id].ARN, nil
		}
		return nil, fmt.Errorf("fake stack: no GetAtt for %s", id)
	}
	return s
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
