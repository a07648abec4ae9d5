package generate

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

func parser(t *testing.T) *record.Parser {
	t.Helper()
	set, err := contracts.Load(contractsDir)
	if err != nil {
		t.Fatal(err)
	}
	return record.NewParser(set)
}

// fakeQueue keeps the entries it accepts and fails the entries fail names, once each.
type fakeQueue struct {
	t       *testing.T
	fail    map[string]sqstypes.BatchResultErrorEntry // by message body, answered once
	calls   int
	entries []sqstypes.SendMessageBatchRequestEntry
}

func (f *fakeQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.calls++
	if len(in.Entries) > 10 {
		f.t.Errorf("call %d has %d entries, SQS takes 10", f.calls, len(in.Entries))
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if fe, ok := f.fail[aws.ToString(e.MessageBody)]; ok {
			delete(f.fail, aws.ToString(e.MessageBody))
			fe.Id = e.Id
			out.Failed = append(out.Failed, fe)
			continue
		}
		f.entries = append(f.entries, e)
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func TestQueueSendsTheTransformersMessages(t *testing.T) {
	noBackoff(t)
	p := parser(t)
	records := mustGenerate(t, Options{Seed: 4, Raw: 0.1, Duplicates: 0.1}, 95)
	fake := &fakeQueue{t: t, fail: map[string]sqstypes.BatchResultErrorEntry{}}
	q := NewQueue(fake, "http://sqs/q.fifo", p, "ingest-stream")
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	q.now = func() time.Time { return at }

	// Refuse the first record's message once, as a throttled SQS would.
	first, err := p.Parse(records[0].Data, record.Meta{Source: "ingest-stream", ArrivalMillis: at.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	fake.fail[string(first.AppendJSON(nil))] = sqstypes.BatchResultErrorEntry{Code: aws.String("InternalError"), SenderFault: false}

	stats, err := Send(t.Context(), q, slices.Values(records), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.entries) != len(records) || stats.Resent != 1 || fake.calls != 11 {
		t.Fatalf("%d messages in %d calls, Resent %d; want %d in 11", len(fake.entries), fake.calls, stats.Resent, len(records))
	}
	for _, e := range fake.entries {
		var c record.Record
		if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &c); err != nil {
			t.Fatalf("body %s: %v", aws.ToString(e.MessageBody), err)
		}
		if aws.ToString(e.MessageGroupId) != c.GroupID() || aws.ToString(e.MessageDeduplicationId) != c.ContentHash() {
			t.Fatalf("group %s, dedup %s for record %s/%s", aws.ToString(e.MessageGroupId), aws.ToString(e.MessageDeduplicationId), c.EntityKey(), c.ID)
		}
		if c.Source != "ingest-stream" || c.ReceivedAt != "2026-11-23T10:00:00.000Z" {
			t.Fatalf("source %q receivedAt %q", c.Source, c.ReceivedAt)
		}
	}
}

func TestQueueRefusesWhatTheTransformerWould(t *testing.T) {
	noBackoff(t)
	records := mustGenerate(t, Options{Seed: 4, Invalid: 0.5}, 4)
	fake := &fakeQueue{t: t}
	_, err := Send(t.Context(), NewQueue(fake, "http://sqs/q.fifo", parser(t), "s"), slices.Values(records), SendOptions{})
	if perm := (*PermanentError)(nil); !errors.As(err, &perm) || !errors.Is(err, record.ErrNotJSON) {
		t.Fatalf("err = %v, want a PermanentError saying the record is not JSON", err)
	}
	if fake.calls != 0 {
		t.Fatalf("%d calls made with a record the transformer refuses", fake.calls)
	}
}

// TestQueueAgainstMoto sends to a real FIFO queue's API: the messages come back with the group
// and deduplication ids, and a duplicate is dropped by the queue's deduplication.
func TestQueueAgainstMoto(t *testing.T) {
	client := sqs.NewFromConfig(mototest.StartConfig(t))
	noBackoff(t)
	url := mototest.CreateIngestQueue(t, client, "ingest.fifo")
	records := mustGenerate(t, Options{Seed: 6, Raw: 0.1, Duplicates: 0.1}, 40)
	x := Expect(records)
	stats, err := Send(t.Context(), NewQueue(client, url, parser(t), "s"), slices.Values(records), SendOptions{})
	if err != nil || stats.Sent != 40 {
		t.Fatalf("Send = %+v, %v", stats, err)
	}
	got := map[string]string{} // id → group
	for _, m := range mototest.Drain(t, client, url) {
		var c record.Record
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &c); err != nil {
			t.Fatal(err)
		}
		if _, dup := got[c.ID]; dup {
			t.Errorf("record %s delivered twice", c.ID)
		}
		got[c.ID] = m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]
	}
	if len(got) != x.Unique {
		t.Fatalf("%d distinct messages, want %d (40 sent, %d of them duplicates)", len(got), x.Unique, 40-x.Unique)
	}
	for id := range x.SentByID {
		if _, ok := got[id]; !ok {
			t.Errorf("record %s never arrived", id)
		}
	}
}

// TestTheTransformersParserAgrees holds the generator to what the transformer will do with each
// record: a valid one becomes the canonical record it describes, an invalid one is refused for
// the reason its flaw names.
func TestTheTransformersParserAgrees(t *testing.T) {
	p := parser(t)
	wantErr := map[Flaw]error{
		FlawNotJSON:     record.ErrNotJSON,
		FlawInvalidUTF8: record.ErrInvalidUTF8,
		FlawArray:       record.ErrNotObject,
		FlawScalar:      record.ErrNotObject,
		FlawSchema:      record.ErrSchema,
		FlawEmpty:       record.ErrNotJSON,
	}
	meta := record.Meta{Source: "s", ArrivalMillis: 1_800_000_000_000}
	for _, r := range mustGenerate(t, Options{Seed: 8, Raw: 0.2, Invalid: 0.3, Duplicates: 0.1}, 1500) {
		c, err := p.Parse(r.Data, meta)
		if !r.Valid() {
			if !errors.Is(err, wantErr[r.Flaw]) {
				t.Fatalf("%s record %d: Parse error %v, want %v", r.Flaw, r.Seq, err, wantErr[r.Flaw])
			}
			continue
		}
		if err != nil {
			t.Fatalf("valid record %d refused: %v\n%s", r.Seq, err, r.Data)
		}
		if r.Raw() {
			if c.Type != record.RawType {
				t.Fatalf("raw record %d parsed as type %q", r.Seq, c.Type)
			}
			continue
		}
		if c.Type != r.Type || c.Key != r.Key || c.ID != r.ID || c.Time != r.Time {
			t.Fatalf("record %d parsed as %s/%s/%s/%s, it says %s/%s/%s/%s", r.Seq, c.Type, c.Key, c.ID, c.Time, r.Type, r.Key, r.ID, r.Time)
		}
	}
}
