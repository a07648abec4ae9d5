package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
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
// Firehose, queue messages delivered twice, and one entity's events delivered to the responder
// newest first. The store must hold each record once and the projection the newest state.
func TestDuplicatesAndOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole flow")
	}
	f := startFlow(t)

	t.Run("the same records sent twice through Firehose", func(t *testing.T) {
		f.t = t
		start := time.Now()
		recs := records(t, 400, 40)
		twice := append(slices.Clone(recs), recs...)
		x := expect(twice)
		f.send(t.Context(), recs)
		f.send(t.Context(), recs)
		s, o := f.await(t.Context(), x, 2*time.Minute)
		f.check(t, "records sent twice through Firehose", x, s, o, start)
	})

	t.Run("a queue message delivered twice", func(t *testing.T) {
		f.t = t
		start := time.Now()
		recs, err := generate.Generate(generate.Options{Seed: 401, Entities: 5, Start: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}, 20)
		if err != nil {
			t.Fatal(err)
		}
		x := expect(recs)
		x.noLake = true
		client := sqs.NewFromConfig(aws.Config{Region: spec.Region, Credentials: credentials.NewStaticCredentialsProvider("generator", "local", ""),
			BaseEndpoint: aws.String(f.r.Endpoint())})
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
		f.check(t, "queue messages delivered twice", x, s, o, start)
	})

	t.Run("one entity's events delivered newest first", func(t *testing.T) {
		f.t = t
		start := time.Now()
		base := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
		var versions []record.Record
		for i := range 5 {
			versions = append(versions, record.Record{
				ID: fmt.Sprintf("reverse-%d", i), Type: "order", Key: "SKU-REVERSE-0001",
				Time: record.FormatTime(base.Add(time.Duration(i) * time.Second)), ReceivedAt: record.FormatTime(base.Add(time.Minute)),
				Source: f.stream, Data: []byte(fmt.Sprintf(`{"sku":"SKU-REVERSE-0001","price":%d}`, 10+i)),
			})
		}
		// Two versions at the same instant: the id breaks the tie.
		versions = append(versions, versions[4])
		versions[5].ID = "reverse-5"
		newest := versions[5]
		// Newest first, then the newest again (a duplicate), then the oldest again.
		order := []record.Record{versions[5], versions[4], versions[3], versions[2], versions[1], versions[0], versions[5], versions[0]}
		for _, r := range order {
			detail, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			ev, _ := json.Marshal(map[string]any{
				"version": "0", "id": "ev-" + r.ID, "detail-type": record.DetailType, "source": "stream-to-events.ingest",
				"account": spec.Account, "time": r.Time, "region": spec.Region, "resources": []string{}, "detail": json.RawMessage(detail),
			})
			res, err := f.r.Lambda.Invoke(t.Context(), "EventResponderFunction", spec.Invocation{Payload: ev})
			if err != nil || res.Error != "" {
				t.Fatalf("responder: %v %s %s", err, res.Error, res.Payload)
			}
		}
		out, err := f.db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(f.projection), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "order"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "SKU-REVERSE-0001"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := str(out.Item["id"]); got != newest.ID {
			t.Errorf("projection holds %q after the events came newest first, want the newest %q", got, newest.ID)
		}
		addFigure(t, figure{Case: "one entity's 6 events delivered newest first, 2 again", Sent: len(order), Valid: len(order), Took: time.Since(start)})
	})
}

// check records a case's figures and fails it on loss, duplicates in the store, a stale
// projection or DLQ messages.
func (f *flow) check(t *testing.T, name string, x expectation, s state, o outcome, start time.Time) {
	t.Helper()
	addFigure(t, figure{Case: name, Sent: x.sent, Valid: x.valid, Lost: len(o.lost), DupStore: o.dupStore, DupEmitted: o.dupEmitted,
		DLQ: [3]int{s.depths["IngestDLQ"], s.depths["EmitterDLQ"], s.depths["ResponderDLQ"]}, Took: time.Since(start)})
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
