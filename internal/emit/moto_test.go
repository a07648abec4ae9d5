package emit

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/jsontest"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestPublisherAgainstMoto puts events on a bus whose rule matches them as the responder's rule
// does (source and detail-type) and targets a queue, and reads what landed there.
func TestPublisherAgainstMoto(t *testing.T) {
	cfg := mototest.StartConfig(t)
	ctx := t.Context()
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	queueURL := mototest.BusToQueue(t, cfg, bus, `{"source":["`+source+`"],"detail-type":["DataInserted"]}`)

	var events []Event
	want := map[string]record.Record{}
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} { // 12: two calls
		r := rec(id)
		d, _ := json.Marshal(r)
		events = append(events, Event{Detail: d, TraceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"})
		want[id] = r
	}
	failed, err := NewPublisher(eb, bus, source, tableARN).Publish(ctx, events)
	if failed != nil || err != nil {
		t.Fatalf("failed %v: %v", failed, err)
	}

	got := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var ev struct {
				Source     string          `json:"source"`
				DetailType string          `json:"detail-type"`
				Resources  []string        `json:"resources"`
				Detail     json.RawMessage `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				t.Fatalf("event %s: %v", aws.ToString(m.Body), err)
			}
			var r record.Record
			if err := json.Unmarshal(ev.Detail, &r); err != nil {
				t.Fatalf("detail %s: %v", ev.Detail, err)
			}
			if ev.Source != source || ev.DetailType != record.DetailType || len(ev.Resources) != 1 || ev.Resources[0] != tableARN {
				t.Errorf("event envelope %+v", ev)
			}
			w, ok := want[r.ID]
			if !ok {
				t.Errorf("unexpected event for record %q", r.ID)
				continue
			}
			// moto re-encodes the detail with Python floats (19.990000000000000000001 arrives as
			// 19.99), so the detail is compared as JSON values rather than as bytes here; the
			// bytes put are checked exactly by the unit tests.
			wd, _ := json.Marshal(w)
			if !jsontest.Equal(t, wd, ev.Detail) {
				t.Errorf("detail on the bus:\n got %s\nwant %s", ev.Detail, wd)
			}
			got[r.ID] = true
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d of %d events reached the rule's target", len(got), len(want))
	}
}
