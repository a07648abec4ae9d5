package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
	"github.com/stream-to-events/stream-to-events/test/jsontest"
	"github.com/stream-to-events/stream-to-events/test/lambdatest"
)

const (
	bus      = "stream-to-events-EventBus"
	source   = "stream-to-events.ingest"
	tableARN = "arn:aws:dynamodb:us-east-1:123456789012:table/stream-to-events-EventStoreTable-1A2B3C4D5E6F"
)

// fakeBus records every entry put and refuses those whose record id refuse names.
type fakeBus struct {
	entries []types.PutEventsRequestEntry
	refuse  map[string]bool
	hang    bool
}

func (f *fakeBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	if f.hang {
		<-ctx.Done() // EventBridge does not answer before the context ends
		return nil, ctx.Err()
	}
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		f.entries = append(f.entries, e)
		var r struct{ ID string }
		_ = json.Unmarshal([]byte(aws.ToString(e.Detail)), &r)
		if f.refuse[r.ID] {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure")})
			continue
		}
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String("ev-" + r.ID)})
	}
	return out, nil
}

func (f *fakeBus) ids() []string {
	var out []string
	for _, e := range f.entries {
		var r struct{ ID string }
		_ = json.Unmarshal([]byte(aws.ToString(e.Detail)), &r)
		out = append(out, r.ID)
	}
	return out
}

func fixture(t *testing.T) map[string]any {
	return lambdatest.Event(t, "../../events/dynamodb-insert.json")
}

func change(ev map[string]any, i int) map[string]any {
	return ev["Records"].([]any)[i].(map[string]any)["dynamodb"].(map[string]any)
}

func invoke(t *testing.T, fb *fakeBus, payload []byte) (string, string, error) {
	t.Helper()
	awsfake.NoRetryWait(t)
	var emf bytes.Buffer
	h := &Handler{Publisher: emit.NewPublisher(fb, bus, source, tableARN), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: &emf}
	out, err := lambda.NewHandler(h.Handle).Invoke(t.Context(), payload)
	return string(out), emf.String(), err
}

// TestFixture feeds events/dynamodb-insert.json to the handler: each INSERT becomes one
// DataInserted event whose detail is the canonical record the storer got from the queue (the
// records of events/sqs-ingest.json), and the MODIFY of a rewrite becomes nothing.
func TestFixture(t *testing.T) {
	b, _ := os.ReadFile("../../events/dynamodb-insert.json")
	fb := &fakeBus{}
	out, emf, err := invoke(t, fb, b)
	if err != nil {
		t.Fatal(err)
	}
	if out != `{"batchItemFailures":[]}` {
		t.Errorf("response %s", out)
	}
	sqs, err := os.ReadFile("../../events/sqs-ingest.json")
	if err != nil {
		t.Fatal(err)
	}
	var queue struct {
		Records []struct {
			Body       string
			Attributes map[string]string
		}
	}
	if err := json.Unmarshal(sqs, &queue); err != nil {
		t.Fatal(err)
	}
	if len(fb.entries) != len(queue.Records) {
		t.Fatalf("%d events put, want %d (one per INSERT)", len(fb.entries), len(queue.Records))
	}
	for i, e := range fb.entries {
		m := queue.Records[i]
		if aws.ToString(e.Source) != source || aws.ToString(e.DetailType) != record.DetailType ||
			aws.ToString(e.EventBusName) != bus || !slices.Equal(e.Resources, []string{tableARN}) {
			t.Errorf("event %d: %+v", i, e)
		}
		if got := aws.ToString(e.TraceHeader); got != m.Attributes["AWSTraceHeader"] {
			t.Errorf("event %d: TraceHeader %q, want the ingest's %q", i, got, m.Attributes["AWSTraceHeader"])
		}
		if !jsontest.Equal(t, []byte(aws.ToString(e.Detail)), []byte(m.Body)) {
			t.Errorf("event %d: detail\n%s\nis not the record stored\n%s", i, aws.ToString(e.Detail), m.Body)
		}
		if !strings.HasPrefix(aws.ToString(e.Detail), `{"id":`) {
			t.Errorf("event %d: detail not in the canonical field order: %s", i, aws.ToString(e.Detail))
		}
	}
	if !strings.Contains(emf, `"Hop":"emit","RecordsIn":4,"RecordsOut":3,"RecordsFailed":0`) {
		t.Errorf("EMF line %s", emf)
	}
}

func TestBadInput(t *testing.T) {
	marshal := func(ev map[string]any) []byte { b, _ := json.Marshal(ev); return b }
	tests := []struct {
		name    string
		payload func(t *testing.T) []byte
		refuse  map[string]bool
		want    string
		put     []string
		wantErr bool
	}{
		{
			name:    "put refused: the first unemitted sequence number",
			payload: func(t *testing.T) []byte { return marshal(fixture(t)) },
			refuse:  map[string]bool{"7d3f1c9a2b4e6f8091a2b3c4d5e6f708": true},
			want:    `{"batchItemFailures":[{"itemIdentifier":"4900000000000000000001000002"}]}`,
			put: append([]string{"ord-20261123-0001", "7d3f1c9a2b4e6f8091a2b3c4d5e6f708", "ord-20261123-0002"},
				slices.Repeat([]string{"7d3f1c9a2b4e6f8091a2b3c4d5e6f708"}, batch.DefaultPolicy.Attempts-1)...),
		},
		{
			name: "image missing a field: reported there, earlier records emitted",
			payload: func(t *testing.T) []byte {
				ev := fixture(t)
				delete(change(ev, 1)["NewImage"].(map[string]any), "id")
				return marshal(ev)
			},
			want: `{"batchItemFailures":[{"itemIdentifier":"4900000000000000000001000002"}]}`,
			put:  []string{"ord-20261123-0001"},
		},
		{
			name: "data of the wrong type: reported",
			payload: func(t *testing.T) []byte {
				ev := fixture(t)
				change(ev, 0)["NewImage"].(map[string]any)["data"] = map[string]any{"S": "{}"}
				return marshal(ev)
			},
			want: `{"batchItemFailures":[{"itemIdentifier":"4900000000000000000001000001"}]}`,
		},
		{
			name: "no image (KEYS_ONLY stream): reported",
			payload: func(t *testing.T) []byte {
				ev := fixture(t)
				delete(change(ev, 3), "NewImage")
				return marshal(ev)
			},
			want: `{"batchItemFailures":[{"itemIdentifier":"4900000000000000000001000004"}]}`,
			put:  []string{"ord-20261123-0001", "7d3f1c9a2b4e6f8091a2b3c4d5e6f708"},
		},
		{
			name: "failing record without a sequence number: the whole batch fails",
			payload: func(t *testing.T) []byte {
				ev := fixture(t)
				delete(change(ev, 0), "NewImage")
				delete(change(ev, 0), "SequenceNumber")
				return marshal(ev)
			},
			wantErr: true,
		},
		{
			name:    "empty batch",
			payload: func(*testing.T) []byte { return []byte(`{"Records":[]}`) },
			want:    `{"batchItemFailures":[]}`,
		},
		{
			name:    "no records field",
			payload: func(*testing.T) []byte { return []byte(`{}`) },
			want:    `{"batchItemFailures":[]}`,
		},
		{
			name: "attribute value of an unknown type: a clear error",
			payload: func(t *testing.T) []byte {
				ev := fixture(t)
				change(ev, 0)["NewImage"].(map[string]any)["id"] = map[string]any{"X": "?"}
				return marshal(ev)
			},
			wantErr: true,
		},
		{
			name:    "not JSON: a clear error",
			payload: func(*testing.T) []byte { return []byte(`{"Records":[`) },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBus{refuse: tt.refuse}
			out, _, err := invoke(t, fb, tt.payload(t))
			if !lambdatest.Answered(t, out, err, tt.wantErr) {
				return
			}
			if out != tt.want {
				t.Errorf("response\n got %s\nwant %s", out, tt.want)
			}
			if got := fb.ids(); !slices.Equal(got, tt.put) {
				t.Errorf("put %v, want %v", got, tt.put)
			}
		})
	}
}

// TestAnswersBeforeTheDeadline: when EventBridge does not answer, the handler still reports the
// first unemitted record before Lambda's deadline, instead of timing out.
func TestAnswersBeforeTheDeadline(t *testing.T) {
	b, _ := os.ReadFile("../../events/dynamodb-insert.json")
	h := &Handler{Publisher: emit.NewPublisher(&fakeBus{hang: true}, bus, source, tableARN), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: io.Discard}
	out, err := lambdatest.InvokeBeforeDeadline(t, h.Handle, b, batch.DeadlineReserve)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"batchItemFailures":[{"itemIdentifier":"4900000000000000000001000001"}]}` {
		t.Errorf("response %s", out)
	}
}
