package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// redelivering sends every SendMessageBatch entry with a deduplication id of its own, so that
// the FIFO queue takes a record it already holds as a second message: a queue message
// delivered twice.
type redelivering struct{ c *sqs.Client }

func (r redelivering) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	for i := range in.Entries {
		in.Entries[i].MessageDeduplicationId = aws.String(aws.ToString(in.Entries[i].MessageDeduplicationId) + "#again")
	}
	return r.c.SendMessageBatch(ctx, in, optFns...)
}

// TestDuplicatesAndOrder sends what at-least-once delivery produces: records sent twice through
// Firehose, queue messages delivered twice, and one entity's events put on the bus newest first;
// and records without an id or a time of their own. The store must hold each record once and the
// projection the newest state.
func TestDuplicatesAndOrder(t *testing.T) {
	f := startFlow(t)

	// First, while errors/ is still empty (the later cases send invalid records).
	t.Run("records without an id or a time", func(t *testing.T) {
		f.t = t
		start, crossedBefore := time.Now(), f.crossings(t.Context())
		// Valid generator records with their id, their time or both taken out of the envelope,
		// and raw records, which have neither.
		gen, err := generate.Generate(generate.Options{Seed: 402, Start: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)}, 200)
		if err != nil {
			t.Fatal(err)
		}
		var sent, data [][]byte   // what the producer sends; the data the lake and the store must hold
		seen := map[string]bool{} // the check tells records apart by their data
		for _, g := range gen {
			var env map[string]json.RawMessage
			if err := json.Unmarshal(g.Data, &env); err != nil || env["data"] == nil {
				t.Fatalf("generator record %d is no envelope: %s", g.Seq, g.Data)
			}
			if d := compact(t, env["data"]); seen[d] || len(sent) == 30 {
				continue
			} else {
				seen[d] = true
			}
			i := len(sent)
			switch i % 3 {
			case 0:
				delete(env, "id")
			case 1:
				delete(env, "time")
			default:
				delete(env, "id")
				delete(env, "time")
			}
			b, err := json.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			sent, data = append(sent, b), append(data, env["data"])
		}
		for i := range 10 {
			d := fmt.Appendf(nil, `{"reading":"noenvelope-%04d","t":%d}`, i, i)
			sent, data = append(sent, d), append(data, d)
		}
		recs := make([]generate.Record, len(sent))
		for i, d := range sent {
			recs[i] = generate.Record{Seq: i, Data: d}
		}
		f.send(t.Context(), recs)
		ids := f.awaitBound(t.Context(), data, crossedBefore.Written+len(sent), 2*time.Minute)
		// Each reached the bus too, under the id the transformer gave it.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		missing := len(ids)
		for missing > 0 && sleepCtx(ctx, time.Second) {
			emitted := f.chaos.emittedCounts()
			missing = 0
			for _, id := range ids {
				if emitted[id] == 0 {
					missing++
				}
			}
		}
		if missing > 0 {
			t.Errorf("%d of %d records without an id or a time never reached the bus", missing, len(ids))
		}
		depths, err := f.depths(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		c := f.crossings(t.Context()).since(crossedBefore)
		addFigure(t, figure{Case: "records without an id or a time (10 without id, 10 without time, 10 without either, 10 raw)",
			Sent: len(sent), Valid: len(sent), Lost: missing, DupStore: c.Written - len(sent), DupEmitted: c.Emitted - len(sent),
			DLQ: [3]int{depths["IngestDLQ"], depths["EmitterDLQ"], depths["ResponderDLQ"]}, Crossed: c, Took: time.Since(start)})
	})

	t.Run("the same records sent twice through Firehose", func(t *testing.T) {
		f.t = t
		start, crossedBefore := time.Now(), f.crossings(t.Context())
		recs := records(t, 400, 40)
		twice := append(slices.Clone(recs), recs...)
		x := expect(twice)
		f.send(t.Context(), recs)
		f.send(t.Context(), recs)
		s, o := f.await(t.Context(), x, 2*time.Minute)
		f.check(t, figure{Case: "records sent twice through Firehose"}, x, s, o, start, crossedBefore)
	})

	t.Run("a queue message delivered twice", func(t *testing.T) {
		f.t = t
		start, crossedBefore := time.Now(), f.crossings(t.Context())
		recs, err := generate.Generate(generate.Options{Seed: 401, Entities: 5, Start: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}, 20)
		if err != nil {
			t.Fatal(err)
		}
		x := expect(recs)
		x.noLake = true
		client := sqs.NewFromConfig(spec.ClientConfig(f.r.Endpoint(), "generator"))
		queueURL := f.physical("IngestQueue")
		const mapping = "EventStorerFunction.IngestQueue"
		before := f.r.ESM.Counts()[mapping].Records
		for _, c := range []interface {
			SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
		}{client, redelivering{client}} {
			dst := generate.NewQueue(c, queueURL, record.NewParser(nil), f.stream)
			if _, err := generate.Send(t.Context(), dst, slices.Values(recs), generate.SendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		s, o := f.await(t.Context(), x, 2*time.Minute)
		// Both copies reached the storer: the queue did not deduplicate them away.
		if got := f.r.ESM.Counts()[mapping].Records - before; got < int64(2*len(recs)) {
			t.Errorf("the storer got %d messages, want both copies of %d records", got, len(recs))
		}
		f.check(t, figure{Case: "queue messages delivered twice"}, x, s, o, start, crossedBefore)
	})

	t.Run("records re-sent after the queue's deduplication window", func(t *testing.T) {
		f.t = t
		start, crossedBefore := time.Now(), f.crossings(t.Context())
		base := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
		recs := orderRecords(10, "resend", f.stream, base, func(i int) string { return fmt.Sprintf("SKU-RESEND-%04d", i%4) })
		x := expectation{sentByID: map[string]int{}, newest: map[string]string{}, valid: len(recs), sent: len(recs), noLake: true}
		for _, r := range recs {
			x.sentByID[r.ID] = 1
			if old, ok := x.newest[r.EntityKey()]; !ok || r.ID > old { // one entity's later records have later ids here
				x.newest[r.EntityKey()] = r.ID
			}
		}
		client := sqs.NewFromConfig(spec.ClientConfig(f.r.Endpoint(), "generator"))
		queueURL := f.physical("IngestQueue")
		if err := queue.NewSender(client, queueURL).Send(t.Context(), recs, ""); err != nil {
			t.Fatal(err)
		}
		if _, o := f.await(t.Context(), x, 2*time.Minute); len(o.lost) > 0 {
			t.Fatalf("before the re-send: lost %v", o.lost)
		}
		const mapping = "EventStorerFunction.IngestQueue"
		before := f.r.ESM.Counts()[mapping].Records

		// Past the five minutes, the queue no longer knows the deduplication ids (redelivering
		// makes them new): every record again, arriving later through another source, and one
		// with its identity and other data.
		again := slices.Clone(recs)
		for i := range again {
			again[i].ReceivedAt, again[i].Source = record.FormatTime(base.Add(time.Hour)), "resend"
		}
		conflict := recs[3]
		conflict.Data = []byte(`{"sku":"SKU-RESEND-0003","price":999}`)
		if err := queue.NewSender(redelivering{client}, queueURL).Send(t.Context(), append(again, conflict), "Root=1-00000000-000000000000000000000001;Sampled=1"); err != nil {
			t.Fatal(err)
		}
		want := int64(len(again) + 1)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		for f.r.ESM.Counts()[mapping].Records-before < want {
			if !sleepCtx(ctx, time.Second) {
				t.Fatalf("the storer got %d of the %d re-sent messages", f.r.ESM.Counts()[mapping].Records-before, want)
			}
		}
		s, o := f.await(t.Context(), x, 2*time.Minute)
		if s.depths["ConflictQueue"] != 1 {
			t.Errorf("ConflictQueue holds %d messages, want the 1 conflict", s.depths["ConflictQueue"])
		}
		// The stored record is the first one, untouched: not rewritten by the identical re-send
		// (its arrival time and source stay), not overwritten by the conflict.
		item, err := f.db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(f.store), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: conflict.EntityKey()}, "sk": &ddbtypes.AttributeValueMemberS{Value: conflict.SortKey()}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := str(item.Item["contentHash"]); got != recs[3].ContentHash() || str(item.Item["source"]) != f.stream {
			t.Errorf("stored record %s holds hash %s and source %q, want the first record's %s and %q", conflict.ID, got, str(item.Item["source"]), recs[3].ContentHash(), f.stream)
		}
		name := fmt.Sprintf("records re-sent after the dedup window (%d identical, 1 conflict kept)", len(again))
		addFigure(t, figure{Case: name, Sent: len(recs) + len(again) + 1, Valid: len(recs) + len(again) + 1, Lost: len(o.lost),
			DupStore: o.dupStore, DupEmitted: o.dupEmitted,
			DLQ: [3]int{s.depths["IngestDLQ"], s.depths["EmitterDLQ"], s.depths["ResponderDLQ"]}, Crossed: f.crossings(t.Context()).since(crossedBefore), Took: time.Since(start)})
		if len(o.lost) > 0 || len(o.stale) > 0 || o.dupStore > 0 || o.dupEmitted > 0 {
			t.Errorf("after the re-send: lost %v, stale %v, %d duplicate items, %d events emitted again (want none)", o.lost, o.stale, o.dupStore, o.dupEmitted)
		}
	})

	t.Run("one entity's events delivered newest first", func(t *testing.T) {
		f.t = t
		start, crossedBefore := time.Now(), f.crossings(t.Context())
		base := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
		versions := orderRecords(5, "reverse", f.stream, base, func(int) string { return "SKU-REVERSE-0001" })
		// Two versions at the same instant: the id breaks the tie.
		versions = append(versions, versions[4])
		versions[5].ID = "reverse-5"
		newest := versions[5]
		// Newest first, then the newest again (a duplicate), then the oldest again: put on the
		// bus one at a time, each once the rule has delivered the one before, so that the
		// responder sees them in this order (the bus itself keeps none).
		order := []record.Record{versions[5], versions[4], versions[3], versions[2], versions[1], versions[0], versions[5], versions[0]}
		pub := emit.NewPublisher(eventbridge.NewFromConfig(spec.ClientConfig(f.r.Endpoint(), "redrive")), f.physical("EventBus"), "stream-to-events.ingest",
			fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", spec.Region, spec.Account, f.store))
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		for i, r := range order {
			detail, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if failed, err := pub.Publish(ctx, []emit.Event{{Detail: detail}}); err != nil || len(failed) > 0 {
				t.Fatalf("put event %d (%s) on the bus: %v (failed %v)", i, r.ID, err, failed)
			}
			for f.crossings(ctx).since(crossedBefore).Delivered <= i {
				if !sleepCtx(ctx, 200*time.Millisecond) {
					t.Fatalf("the rule delivered %d of the %d events put on the bus", f.crossings(t.Context()).since(crossedBefore).Delivered, i+1)
				}
			}
		}
		// The responder writes after its delivery is counted: wait for the newest to be held.
		var held string
		for {
			out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.projection), ConsistentRead: aws.Bool(true),
				Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "order"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "SKU-REVERSE-0001"}}})
			if err != nil {
				t.Fatal(err)
			}
			if held = str(out.Item["id"]); held == newest.ID || !sleepCtx(ctx, 500*time.Millisecond) {
				break
			}
		}
		if held != newest.ID {
			t.Errorf("projection holds %q after the events came newest first, want the newest %q", held, newest.ID)
		}
		time.Sleep(settle) // a delivery the responder failed would be retried, and counted, by now
		depths, err := f.depths(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		c := f.crossings(t.Context()).since(crossedBefore)
		lost := 0
		if c.Delivered < len(order) {
			lost = len(order) - c.Delivered
		}
		if held != newest.ID {
			lost++ // the newest version did not reach the projection
		}
		addFigure(t, figure{Case: "one entity's 6 events put on the bus newest first, 2 again", Sent: len(order), Valid: len(order), Lost: lost,
			DupEmitted: c.Emitted - len(versions), DLQ: [3]int{depths["IngestDLQ"], depths["EmitterDLQ"], depths["ResponderDLQ"]},
			Crossed: c, Took: time.Since(start)})
		if c.Emitted != len(order) || c.Delivered != len(order) || depths["ResponderDLQ"] > 0 {
			t.Errorf("%d events on the bus, %d delivered, ResponderDLQ %d; want %d, %d and none", c.Emitted, c.Delivered, depths["ResponderDLQ"], len(order), len(order))
		}
	})
}

// orderRecords makes n canonical order records as the transformer would have stored them from
// source: ids prefix-0, prefix-1, …, the i-th for entity key(i) at base plus i seconds, all
// received a minute after base, priced 10+i.
func orderRecords(n int, prefix, source string, base time.Time, key func(i int) string) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{
			ID: fmt.Sprintf("%s-%d", prefix, i), Type: "order", Key: key(i),
			Time: record.FormatTime(base.Add(time.Duration(i) * time.Second)), ReceivedAt: record.FormatTime(base.Add(time.Minute)),
			Source: source, Data: fmt.Appendf(nil, `{"sku":%q,"price":%d}`, key(i), 10+i),
		}
	}
	return recs
}

// check records a case's figures and fails it on loss, duplicates in the store, a stale
// projection or DLQ messages. fig names the case and carries what only the case knows (the
// faults it injected); check fills in the rest from what was sent, observed and crossed.
func (f *flow) check(t *testing.T, fig figure, x expectation, s state, o outcome, start time.Time, crossedBefore crossed) {
	t.Helper()
	fig.Sent, fig.Valid, fig.Lost, fig.DupStore, fig.DupEmitted = x.sent, x.valid, len(o.lost), o.dupStore, o.dupEmitted
	fig.DLQ = [3]int{s.depths["IngestDLQ"], s.depths["EmitterDLQ"], s.depths["ResponderDLQ"]}
	fig.Crossed, fig.Took = f.crossings(t.Context()).since(crossedBefore), time.Since(start)
	addFigure(t, fig)
	if len(o.lost) > 0 {
		t.Errorf("%d records lost: %v", len(o.lost), o.lost)
	}
	if len(o.stale) > 0 {
		t.Errorf("projection not the newest state: %v", o.stale)
	}
	if o.dupStore > 0 || o.lakeExtra > 0 {
		t.Errorf("%d duplicate store items, %d lake lines beyond what was sent", o.dupStore, o.lakeExtra)
	}
	if d := s.depths["IngestDLQ"] + s.depths["EmitterDLQ"] + s.depths["ResponderDLQ"]; d > 0 {
		t.Errorf("messages in the DLQs: %v", s.depths)
	}
}
