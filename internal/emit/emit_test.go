package emit

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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/store"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

const (
	bus      = "stream-to-events-bus"
	source   = "stream-to-events.ingest"
	tableARN = "arn:aws:dynamodb:us-east-1:123456789012:table/EventStore"
)

// fakeBus records every PutEvents input and refuses the entries refuse names (by record id).
type fakeBus struct {
	mu     sync.Mutex
	calls  []*eventbridge.PutEventsInput
	refuse func(call int, id string) bool
	err    error
}

func (f *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	if f.err != nil {
		return nil, f.err
	}
	if len(in.Entries) > MaxEntries {
		return nil, errors.New("ValidationException: too many entries")
	}
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		var r record.Record
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &r); err != nil {
			return nil, fmt.Errorf("detail not a record: %w", err)
		}
		if f.refuse != nil && f.refuse(len(f.calls), r.ID) {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")})
			continue
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String("ev-" + r.ID)})
	}
	return out, nil
}

// ids lists the record ids of each call's entries.
func (f *fakeBus) ids() [][]string {
	var out [][]string
	for _, c := range f.calls {
		var ids []string
		for _, e := range c.Entries {
			var r record.Record
			_ = json.Unmarshal([]byte(aws.ToString(e.Detail)), &r)
			ids = append(ids, r.ID)
		}
		out = append(out, ids)
	}
	return out
}

func rec(id string) record.Record {
	return record.Record{
		ID: id, Type: "order", Key: "sku-" + id, Time: "2026-11-23T10:00:00.123Z",
		ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
		Data: []byte(`{"billTo":{"zip":"98101"},"price":19.990000000000000000001,"sku":"sku-` + id + `","tags":["a",1,true,null]}`),
	}
}

// image is the stream image of r as the storer writes it.
func image(t *testing.T, r record.Record, trace string) map[string]types.AttributeValue {
	t.Helper()
	it, err := store.Item(store.Entry{Record: r, TraceHeader: trace})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func TestRecordRoundTrip(t *testing.T) {
	r := rec("a")
	got, trace, err := Record(image(t, r, "Root=1-abc;Sampled=1"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(r)
	if detail := got.AppendJSON(nil); string(detail) != string(want) {
		t.Errorf("canonical record changed through the store:\n got %s\nwant %s", detail, want)
	}
	if trace != "Root=1-abc;Sampled=1" {
		t.Errorf("trace header %q", trace)
	}
}

func TestDetailIsWhatEncodingJSONWrites(t *testing.T) {
	r := rec("a")
	r.Key = "<&>\u2028é"
	r.Data = []byte(`{"a":"<b> & \u2028","n":-0.5e-3,"z":{"y":[{"x":"\"q\""}]}}`)
	got, _, err := Record(image(t, r, ""))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(got)
	if detail := got.AppendJSON(nil); string(detail) != string(want) {
		t.Errorf("detail:\n got %s\nwant %s", detail, want)
	}
}

func TestRecordRefusesBadImages(t *testing.T) {
	tests := []struct {
		name   string
		change func(map[string]types.AttributeValue)
	}{
		{"empty", func(m map[string]types.AttributeValue) { clear(m) }},
		{"id missing", func(m map[string]types.AttributeValue) { delete(m, "id") }},
		{"type not a string", func(m map[string]types.AttributeValue) { m["type"] = &types.AttributeValueMemberN{Value: "1"} }},
		{"data missing", func(m map[string]types.AttributeValue) { delete(m, "data") }},
		{"data not a map", func(m map[string]types.AttributeValue) { m["data"] = &types.AttributeValueMemberS{Value: "{}"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := image(t, rec("a"), "")
			tt.change(img)
			if _, _, err := Record(img); !errors.Is(err, ErrBadImage) {
				t.Errorf("error %v, want ErrBadImage", err)
			}
		})
	}
}

func TestPublishEntries(t *testing.T) {
	fb := &fakeBus{}
	detail, _ := json.Marshal(rec("a"))
	failed, err := NewPublisher(fb, bus, source, tableARN).Publish(t.Context(), []Event{
		{Detail: detail, TraceHeader: "Root=1-abc;Sampled=1"},
		{Detail: detail},
	})
	if failed != nil || err != nil {
		t.Fatalf("failed %v: %v", failed, err)
	}
	want := &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{EventBusName: aws.String(bus), Source: aws.String(source), DetailType: aws.String(record.DetailType),
			Detail: aws.String(string(detail)), Resources: []string{tableARN}, TraceHeader: aws.String("Root=1-abc;Sampled=1")},
		{EventBusName: aws.String(bus), Source: aws.String(source), DetailType: aws.String(record.DetailType),
			Detail: aws.String(string(detail)), Resources: []string{tableARN}},
	}}
	if len(fb.calls) != 1 || !reflect.DeepEqual(fb.calls[0], want) {
		t.Errorf("PutEvents input:\n got %#v\nwant %#v", fb.calls, want)
	}
}

// PutEntries puts built entries as they are, on the publisher's bus: a replayed event keeps its
// own source, time and resources.
func TestPutEntriesKeepsTheEntries(t *testing.T) {
	fb := &fakeBus{}
	detail, _ := json.Marshal(rec("a"))
	at := time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC)
	in := ebtypes.PutEventsRequestEntry{Source: aws.String("other.source"), DetailType: aws.String(record.DetailType),
		Detail: aws.String(string(detail)), Resources: []string{"arn:x"}, Time: &at}
	failed, err := NewPublisher(fb, bus, source, tableARN).PutEntries(t.Context(), []ebtypes.PutEventsRequestEntry{in})
	if failed != nil || err != nil {
		t.Fatalf("failed %v: %v", failed, err)
	}
	want := in
	want.EventBusName = aws.String(bus)
	if len(fb.calls) != 1 || !reflect.DeepEqual(fb.calls[0].Entries, []ebtypes.PutEventsRequestEntry{want}) {
		t.Errorf("PutEvents entries:\n got %#v\nwant %#v", fb.calls, want)
	}
}

func TestPublish(t *testing.T) {
	events := func(ids ...string) []Event {
		var out []Event
		for _, id := range ids {
			d, _ := json.Marshal(rec(id))
			out = append(out, Event{Detail: d})
		}
		return out
	}
	big := func(id string, size int) Event {
		r := rec(id)
		r.Data = []byte(`{"s":"` + strings.Repeat("x", size) + `"}`)
		d, _ := json.Marshal(r)
		return Event{Detail: d}
	}
	ids := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("r%02d", i))
		}
		return out
	}
	tests := []struct {
		name       string
		events     []Event
		refuse     func(call int, id string) bool
		callErr    error
		wantCalls  [][]string // in any order: chunks are put concurrently
		wantFailed []int
		wantErr    error
	}{
		{
			name:      "ten a call",
			events:    events(ids(23)...),
			wantCalls: [][]string{ids(23)[0:10], ids(23)[10:20], ids(23)[20:23]},
		},
		{
			name:      "refused entries sent again, alone",
			events:    events("a", "b", "c"),
			refuse:    func(call int, id string) bool { return call == 1 && id != "a" || call == 2 && id == "c" },
			wantCalls: [][]string{{"a", "b", "c"}, {"b", "c"}, {"c"}},
		},
		{
			name:       "never accepted: reported",
			events:     events("a", "b", "c"),
			refuse:     func(_ int, id string) bool { return id == "b" },
			wantCalls:  append([][]string{{"a", "b", "c"}}, slices.Repeat([][]string{{"b"}}, batch.DefaultPolicy.Attempts-1)...),
			wantFailed: []int{1},
			wantErr:    batch.ErrExhausted,
		},
		{
			name:       "call fails every time: all reported",
			events:     events("a", "b"),
			callErr:    errors.New("ThrottlingException"),
			wantCalls:  slices.Repeat([][]string{{"a", "b"}}, batch.DefaultPolicy.Attempts),
			wantFailed: []int{0, 1},
			wantErr:    batch.ErrExhausted,
		},
		{
			name:      "size limit splits calls",
			events:    []Event{big("a", 100_000), big("b", 100_000), big("c", 100_000)},
			wantCalls: [][]string{{"a", "b"}, {"c"}},
		},
		{
			name:       "event over the limit: refused alone, without a call",
			events:     []Event{big("a", 10), big("b", MaxRequestBytes), big("c", 10)},
			wantCalls:  [][]string{{"a", "c"}},
			wantFailed: []int{1},
			wantErr:    ErrTooLarge,
		},
		{
			name: "nothing to put: no call",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awsfake.NoRetryWait(t)
			fb := &fakeBus{refuse: tt.refuse, err: tt.callErr}
			failed, err := NewPublisher(fb, bus, source, tableARN).Publish(t.Context(), tt.events)
			got := fb.ids()
			if !sameCalls(got, tt.wantCalls) {
				t.Errorf("calls:\n got %v\nwant %v", got, tt.wantCalls)
			}
			if !slices.Equal(failed, tt.wantFailed) {
				t.Errorf("failed %v, want %v", failed, tt.wantFailed)
			}
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// sameCalls compares calls as multisets: chunks are put concurrently, so their order varies.
func sameCalls(got, want [][]string) bool {
	key := func(calls [][]string) []string {
		var out []string
		for _, c := range calls {
			out = append(out, strings.Join(c, ","))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(got), key(want))
}

func TestEmit(t *testing.T) {
	insert := func(t *testing.T, seq, id string) StreamRecord {
		return StreamRecord{SequenceNumber: seq, EventName: "INSERT", NewImage: image(t, rec(id), "Root=1-"+id)}
	}
	tests := []struct {
		name      string
		recs      func(t *testing.T) []StreamRecord
		refuse    func(call int, id string) bool
		wantSeq   string
		wantPut   []string // record ids put, over all calls
		wantCount [3]int   // emitted, skipped, failed
	}{
		{
			name:      "empty batch: no call",
			recs:      func(*testing.T) []StreamRecord { return nil },
			wantCount: [3]int{0, 0, 0},
		},
		{
			name: "inserts emitted, modify and remove skipped",
			recs: func(t *testing.T) []StreamRecord {
				return []StreamRecord{
					insert(t, "100", "a"),
					{SequenceNumber: "200", EventName: "MODIFY", NewImage: image(t, rec("a"), "")},
					insert(t, "300", "b"),
					{SequenceNumber: "400", EventName: "REMOVE"},
				}
			},
			wantPut:   []string{"a", "b"},
			wantCount: [3]int{2, 2, 0},
		},
		{
			name: "put failure: first unemitted sequence number",
			recs: func(t *testing.T) []StreamRecord {
				return []StreamRecord{insert(t, "100", "a"), insert(t, "200", "b"), insert(t, "300", "c"), insert(t, "400", "d")}
			},
			refuse:    func(_ int, id string) bool { return id == "b" || id == "d" },
			wantSeq:   "200",
			wantPut:   []string{"a", "b", "c", "d", "b", "d", "b", "d", "b", "d", "b", "d", "b", "d"},
			wantCount: [3]int{2, 0, 3},
		},
		{
			name: "unreadable image: reported, later records not put",
			recs: func(t *testing.T) []StreamRecord {
				return []StreamRecord{
					insert(t, "100", "a"),
					{SequenceNumber: "200", EventName: "INSERT", NewImage: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}},
					insert(t, "300", "c"),
				}
			},
			wantSeq:   "200",
			wantPut:   []string{"a"},
			wantCount: [3]int{1, 0, 2},
		},
		{
			name: "insert without image: reported",
			recs: func(t *testing.T) []StreamRecord {
				return []StreamRecord{{SequenceNumber: "100", EventName: "INSERT"}, insert(t, "200", "b")}
			},
			wantSeq:   "100",
			wantCount: [3]int{0, 0, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awsfake.NoRetryWait(t)
			fb := &fakeBus{refuse: tt.refuse}
			svc := &Service{Publisher: NewPublisher(fb, bus, source, tableARN)}
			res := svc.Emit(t.Context(), tt.recs(t))
			if res.FailedSequenceNumber != tt.wantSeq {
				t.Errorf("failed sequence number %q, want %q", res.FailedSequenceNumber, tt.wantSeq)
			}
			put := slices.Concat(fb.ids()...)
			if !slices.Equal(put, tt.wantPut) {
				t.Errorf("put %v, want %v", put, tt.wantPut)
			}
			if got := [3]int{res.Emitted, res.Skipped, res.Failed}; got != tt.wantCount {
				t.Errorf("emitted, skipped, failed = %v, want %v", got, tt.wantCount)
			}
		})
	}
}

func TestEmitCarriesTraceHeader(t *testing.T) {
	fb := &fakeBus{}
	svc := &Service{Publisher: NewPublisher(fb, bus, source, tableARN)}
	svc.Emit(t.Context(), []StreamRecord{{SequenceNumber: "1", EventName: "INSERT", NewImage: image(t, rec("a"), "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")}})
	if got := aws.ToString(fb.calls[0].Entries[0].TraceHeader); got != "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" {
		t.Errorf("TraceHeader %q", got)
	}
}
