package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/IngestQueue.fifo"

func init() {
	batch.Sleep = func(context.Context, time.Duration) error { return nil }
}

// fakeSQS answers SendMessageBatch calls with answer and keeps every input it was given.
type fakeSQS struct {
	mu     sync.Mutex
	calls  []*sqs.SendMessageBatchInput
	answer func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, in)
	n := len(f.calls)
	f.mu.Unlock()
	if f.answer == nil {
		return &sqs.SendMessageBatchOutput{}, nil
	}
	return f.answer(n, in)
}

func records(n, dataBytes int) []record.Record {
	out := make([]record.Record, n)
	for i := range out {
		out[i] = record.Record{
			ID: fmt.Sprintf("id-%02d", i), Type: "order", Key: fmt.Sprintf("sku-%d", i%3),
			Time: "2026-11-23T10:00:00.000Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(`{"pad":"` + strings.Repeat("x", dataBytes) + `"}`),
		}
	}
	return out
}

// bodyID is the id of the record an entry carries.
func bodyID(e types.SendMessageBatchRequestEntry) string {
	var r record.Record
	if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &r); err != nil {
		return "unreadable body: " + err.Error()
	}
	return r.ID
}

func failing(ids map[string]bool, senderFault bool) func(int, *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
	return func(_ int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		out := &sqs.SendMessageBatchOutput{}
		for _, e := range in.Entries {
			if ids[bodyID(e)] {
				out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again"), SenderFault: senderFault})
				continue
			}
			out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
		}
		return out, nil
	}
}

func TestSendBuildsTheExactCalls(t *testing.T) {
	recs := records(23, 10)
	fake := &fakeSQS{}
	const header = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"
	if err := NewSender(fake, queueURL).Send(t.Context(), recs, header); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 3 {
		t.Fatalf("%d calls for 23 records, want 3 (10 + 10 + 3)", len(fake.calls))
	}
	n := 0
	for c, call := range fake.calls {
		if aws.ToString(call.QueueUrl) != queueURL {
			t.Errorf("call %d: queue %q", c, aws.ToString(call.QueueUrl))
		}
		for i, e := range call.Entries {
			r := recs[n]
			n++
			want, _ := json.Marshal(r)
			if got := aws.ToString(e.MessageBody); got != string(want) {
				t.Errorf("body = %s, want %s", got, want)
			}
			if aws.ToString(e.Id) != fmt.Sprint(i) {
				t.Errorf("entry id %q, want %d", aws.ToString(e.Id), i)
			}
			if g := aws.ToString(e.MessageGroupId); g != "order#"+r.Key {
				t.Errorf("group %q, want order#%s", g, r.Key)
			}
			if d := aws.ToString(e.MessageDeduplicationId); d != r.ContentHash() {
				t.Errorf("deduplication id %q, want the content hash %s", d, r.ContentHash())
			}
			th := e.MessageSystemAttributes["AWSTraceHeader"]
			if aws.ToString(th.StringValue) != header || aws.ToString(th.DataType) != "String" {
				t.Errorf("trace attribute = %+v", th)
			}
		}
	}
	if n != 23 {
		t.Errorf("%d entries sent, want 23", n)
	}
}

func TestSendWithoutTraceHeaderHasNoAttribute(t *testing.T) {
	fake := &fakeSQS{}
	if err := NewSender(fake, queueURL).Send(t.Context(), records(1, 1), ""); err != nil {
		t.Fatal(err)
	}
	if a := fake.calls[0].Entries[0].MessageSystemAttributes; a != nil {
		t.Errorf("attributes %v without a trace header; SQS refuses an empty AWSTraceHeader", a)
	}
}

func TestSendKeepsCallsWithin256KiB(t *testing.T) {
	fake := &fakeSQS{}
	if err := NewSender(fake, queueURL).Send(t.Context(), records(5, 100<<10), ""); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, c := range fake.calls {
		size := 0
		for _, e := range c.Entries {
			size += len(aws.ToString(e.MessageBody))
		}
		if size > MaxBatchBytes {
			t.Errorf("a call of %d bytes", size)
		}
		sizes = append(sizes, len(c.Entries))
	}
	slices.Sort(sizes) // calls of different entities may go in any order
	if fmt.Sprint(sizes) != "[1 2 2]" {
		t.Errorf("entries per call %v, want 2, 2 and 1", sizes)
	}
}

func TestSendRetriesOnlyFailedEntries(t *testing.T) {
	recs := records(4, 1)
	flaky := failing(map[string]bool{"id-02": true}, false)
	fake := &fakeSQS{answer: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		if call == 1 {
			return flaky(call, in)
		}
		return failing(nil, false)(call, in)
	}}
	if err := NewSender(fake, queueURL).Send(t.Context(), recs, ""); err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 2 {
		t.Fatalf("%d calls, want 2", len(fake.calls))
	}
	retry := fake.calls[1].Entries
	if len(retry) != 1 || bodyID(retry[0]) != "id-02" || aws.ToString(retry[0].Id) != "0" {
		t.Errorf("retry call sent %+v, want only id-02 as entry 0", retry)
	}
}

func TestSendReportsWhatNeverGotThrough(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(int, *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
		recs      int
		wantCalls int
		wantIDs   string
		retryable bool
	}{
		{"entry refused on every try", failing(map[string]bool{"id-01": true}, false), 3, batch.DefaultPolicy.Attempts, "id-01", true},
		{"sender fault is not retried", failing(map[string]bool{"id-01": true, "id-02": true}, true), 3, 1, "id-01 id-02", false},
		{"queue down: later calls not made", func(int, *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
			return nil, errors.New("connection refused")
		}, 12, batch.DefaultPolicy.Attempts, idList(12), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSQS{answer: tt.answer}
			err := NewSender(fake, queueURL).Send(t.Context(), records(tt.recs, 1), "")
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SendError", err)
			}
			var ids []string
			for _, f := range se.Failures {
				ids = append(ids, f.ID)
				if !strings.Contains(err.Error(), f.ID) {
					t.Errorf("error %q does not name %s", err, f.ID)
				}
			}
			if got := strings.Join(ids, " "); got != tt.wantIDs {
				t.Errorf("failed ids %q, want %q", got, tt.wantIDs)
			}
			if se.Retryable() != tt.retryable {
				t.Errorf("Retryable() = %v", se.Retryable())
			}
			if len(fake.calls) != tt.wantCalls {
				t.Errorf("%d calls, want %d", len(fake.calls), tt.wantCalls)
			}
		})
	}
}

func idList(n int) string {
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("id-%02d", i))
	}
	return strings.Join(ids, " ")
}

func TestSendNothing(t *testing.T) {
	fake := &fakeSQS{}
	if err := NewSender(fake, queueURL).Send(t.Context(), nil, "x"); err != nil || len(fake.calls) != 0 {
		t.Errorf("empty send: err %v, %d calls", err, len(fake.calls))
	}
}

// keyed makes n records, record i of entity keys[i].
func keyed(keys ...string) []record.Record {
	recs := records(len(keys), 1)
	for i, k := range keys {
		recs[i].Key = k
	}
	return recs
}

// Chunks of different entities are in flight together: a fake that answers only once four calls
// are waiting would wait forever for calls made one after another.
func TestSendRunsChunksOfDifferentEntitiesSideBySide(t *testing.T) {
	keys := make([]string, 40) // four full chunks, every record its own entity
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	var waiting sync.WaitGroup
	waiting.Add(4)
	all := make(chan struct{})
	go func() { waiting.Wait(); close(all) }()
	fake := &fakeSQS{answer: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		waiting.Done()
		select {
		case <-all:
			return failing(nil, false)(call, in)
		case <-time.After(10 * time.Second):
			return nil, errors.New("the other calls never came: the chunks were sent one after another")
		}
	}}
	if err := NewSender(fake, queueURL).Send(t.Context(), keyed(keys...), ""); err != nil {
		t.Fatal(err)
	}
}

// Each entity's messages reach the queue in the order given, however the calls interleave.
func TestSendKeepsEachEntitysOrder(t *testing.T) {
	keys := make([]string, 95)
	for i := range keys {
		keys[i] = fmt.Sprint("k", (i*7)%5) // five entities, spread over every chunk
	}
	recs := keyed(keys...)
	var mu sync.Mutex
	got := map[string][]string{} // group -> record ids in the order the queue took them
	fake := &fakeSQS{answer: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		time.Sleep(time.Duration(call%3) * time.Millisecond) // later calls may overtake
		mu.Lock()
		for _, e := range in.Entries {
			g := aws.ToString(e.MessageGroupId)
			got[g] = append(got[g], bodyID(e))
		}
		mu.Unlock()
		return failing(nil, false)(call, in)
	}}
	if err := NewSender(fake, queueURL).Send(t.Context(), recs, ""); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, r := range recs {
		want[r.GroupID()] = append(want[r.GroupID()], r.ID)
	}
	for g, ids := range want {
		if fmt.Sprint(got[g]) != fmt.Sprint(ids) {
			t.Errorf("group %s reached the queue as %v, want %v", g, got[g], ids)
		}
	}
}

// A chunk that never gets through holds back the later chunks of its entities, which are
// reported as not sent; the chunk of another entity still goes.
func TestSendFailedChunkHoldsBackItsEntities(t *testing.T) {
	keys := make([]string, 0, 30)
	for range 10 {
		keys = append(keys, "a") // chunk 0: entity a, refused
	}
	for range 10 {
		keys = append(keys, "b") // chunk 1: entity b, independent
	}
	for range 10 {
		keys = append(keys, "a") // chunk 2: entity a again: must wait for chunk 0, and not go
	}
	fake := &fakeSQS{answer: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		if aws.ToString(in.Entries[0].MessageGroupId) == "order#a" {
			return nil, errors.New("connection reset")
		}
		return failing(nil, false)(call, in)
	}}
	s := NewSender(fake, queueURL)
	s.Concurrency = 1 // chunk 1 runs after chunk 0 failed: "no chunk starts after it" is what is tested
	err := s.Send(t.Context(), keyed(keys...), "")
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *SendError", err)
	}
	var reasons []string
	for _, f := range se.Failures {
		reasons = append(reasons, f.Message)
	}
	if len(se.Failures) != 30 || !strings.Contains(reasons[0], "connection reset") || reasons[29] != "not sent: an earlier call failed" {
		t.Errorf("failures %v", reasons)
	}
	for _, c := range fake.calls {
		if bodyID(c.Entries[0]) == "id-20" {
			t.Errorf("chunk 2 was sent after the chunk of its entity before it failed")
		}
	}

	// With room for both, the other entity's chunk goes while the first is still being tried.
	bSent := make(chan struct{})
	var once sync.Once
	fake = &fakeSQS{answer: func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		if aws.ToString(in.Entries[0].MessageGroupId) == "order#a" {
			select {
			case <-bSent:
			case <-time.After(10 * time.Second):
			}
			return nil, errors.New("connection reset")
		}
		once.Do(func() { close(bSent) })
		return failing(nil, false)(call, in)
	}}
	err = NewSender(fake, queueURL).Send(t.Context(), keyed(keys...), "")
	if !errors.As(err, &se) || len(se.Failures) != 20 {
		t.Fatalf("err = %v, want the 20 records of entity a", err)
	}
	for _, f := range se.Failures {
		if f.ID >= "id-10" && f.ID < "id-20" {
			t.Errorf("%s of entity b failed: %s", f.ID, f.Message)
		}
	}
}

// EntrySize counts what SQS counts against a call: the body and every attribute's name, type and
// value, message and system attributes alike.
func TestEntrySize(t *testing.T) {
	e := types.SendMessageBatchRequestEntry{
		Id:          aws.String("0"), // not counted
		MessageBody: aws.String("0123456789"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"reason": {DataType: aws.String("String"), StringValue: aws.String("conflict")},
			"blob":   {DataType: aws.String("Binary"), BinaryValue: []byte{1, 2, 3}},
		},
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-a")},
		},
		MessageGroupId: aws.String("order#k"), // not counted
	}
	want := 10 + (6 + 6 + 8) + (4 + 6 + 3) + (14 + 6 + 8)
	if got := EntrySize(e); got != want {
		t.Errorf("EntrySize = %d, want %d", got, want)
	}
}

// built are n entries as a redrive builds them (see SendEntries): record bodies of dataBytes,
// a message attribute of attrBytes, the trace header, a group and a deduplication id when fifo,
// and ids m0, m1… unlike the records' own.
func built(n, dataBytes, attrBytes int, fifo bool) []types.SendMessageBatchRequestEntry {
	out := make([]types.SendMessageBatchRequestEntry, n)
	for i, r := range records(n, dataBytes) {
		out[i] = types.SendMessageBatchRequestEntry{
			Id:          aws.String(fmt.Sprint("m", i)),
			MessageBody: aws.String(string(r.AppendJSON(nil))),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"pad": {DataType: aws.String("String"), StringValue: aws.String(strings.Repeat("y", attrBytes))},
			},
			MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
				"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-a")},
			},
		}
		if fifo {
			out[i].MessageGroupId, out[i].MessageDeduplicationId = aws.String(r.GroupID()), aws.String(r.ContentHash()+"#redrive-1")
		}
	}
	return out
}

// SendEntries splits entries into calls SQS takes, counting attributes as EntrySize does (the
// bodies alone would fit two a call), and sends each entry as given but for its Id.
func TestSendEntriesKeepsCallsWithinLimits(t *testing.T) {
	tests := []struct {
		name    string
		entries []types.SendMessageBatchRequestEntry
		want    string // entries per call, sorted
	}{
		{"over ten entries", built(25, 10, 10, true), "[5 10 10]"},
		{"over 256 KiB with the attributes, no group (a standard queue)", built(5, 100<<10, 60<<10, false), "[1 1 1 1 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSQS{}
			given := slices.Clone(tt.entries)
			if err := NewSender(fake, queueURL).SendEntries(t.Context(), tt.entries); err != nil {
				t.Fatal(err)
			}
			byBody := map[string]types.SendMessageBatchRequestEntry{}
			for _, e := range given {
				byBody[aws.ToString(e.MessageBody)] = e
			}
			var perCall []int
			for _, c := range fake.calls {
				size := 0
				for i, e := range c.Entries {
					size += EntrySize(e)
					want, ok := byBody[aws.ToString(e.MessageBody)]
					delete(byBody, aws.ToString(e.MessageBody))
					want.Id = aws.String(fmt.Sprint(i))
					if !ok || !reflect.DeepEqual(e, want) {
						t.Errorf("sent %+v, want the entry given, numbered %d in its call", e, i)
					}
				}
				if len(c.Entries) > MaxBatchEntries || size > MaxBatchBytes {
					t.Errorf("a call of %d entries and %d bytes", len(c.Entries), size)
				}
				perCall = append(perCall, len(c.Entries))
			}
			slices.Sort(perCall)
			if fmt.Sprint(perCall) != tt.want || len(byBody) > 0 {
				t.Errorf("entries per call %v, want %s; %d entries not sent", perCall, tt.want, len(byBody))
			}
			if aws.ToString(tt.entries[0].Id) != "m0" {
				t.Errorf("the caller's entry now has Id %q", aws.ToString(tt.entries[0].Id))
			}
		})
	}
}

// An entry SQS refuses is sent again until it gets through, unless SQS blamed the entry itself;
// what never got through is named by the entry's Id.
func TestSendEntriesRetriesRefusedEntries(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(int, *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)
		wantCalls string // the records of each call
		wantFail  []Failure
	}{
		{"refused once, then sent", func(call int, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
			if call == 1 {
				return failing(map[string]bool{"id-02": true}, false)(call, in)
			}
			return failing(nil, false)(call, in)
		}, "[id-00 id-01 id-02 id-03] [id-02]", nil},
		{"sender fault: reported, not retried", failing(map[string]bool{"id-02": true}, true),
			"[id-00 id-01 id-02 id-03]", []Failure{{ID: "m2", Code: "InternalError", Message: "try again", Permanent: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSQS{answer: tt.answer}
			err := NewSender(fake, queueURL).SendEntries(t.Context(), built(4, 1, 1, true))
			var calls []string
			for _, c := range fake.calls {
				var ids []string
				for _, e := range c.Entries {
					ids = append(ids, bodyID(e))
				}
				calls = append(calls, fmt.Sprint(ids))
			}
			if got := strings.Join(calls, " "); got != tt.wantCalls {
				t.Errorf("calls %s, want %s", got, tt.wantCalls)
			}
			var se *SendError
			if tt.wantFail == nil {
				if err != nil {
					t.Errorf("err = %v, want all sent", err)
				}
			} else if !errors.As(err, &se) || !slices.Equal(se.Failures, tt.wantFail) || se.Retryable() {
				t.Errorf("err = %v, want a *SendError of %+v, not retryable", err, tt.wantFail)
			}
		})
	}
}
