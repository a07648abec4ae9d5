package redrive

// A redrive takes ten DLQ messages a receive, which may hold more than one call of the service it
// puts them back into takes: each call still keeps to that service's limits.

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestIngestRedriveKeepsToSendMessageBatchLimits: ten IngestDLQ messages of 200 KB, one receive,
// go back to IngestQueue in calls that SQS takes (moto, as SQS, refuses a batch over 1 MiB), each
// with its group and a fresh deduplication id, and leave the DLQ.
func TestIngestRedriveKeepsToSendMessageBatchLimits(t *testing.T) {
	client := sqs.NewFromConfig(mototest.StartConfig(t))
	dlq := mototest.CreateIngestQueue(t, client, "IngestDLQ.fifo")
	ingest := mototest.CreateIngestQueue(t, client, "IngestQueue.fifo")
	bodies := map[string]string{}
	for i := range 10 {
		id := fmt.Sprintf("r%d", i)
		bodies[id] = fmt.Sprintf(`{"id":%q,"data":"%s"}`, id, strings.Repeat("x", 200<<10))
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(bodies[id]),
			MessageGroupId: aws.String("order#k"), MessageDeduplicationId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	r := &Redriver{Names: Names{IngestDLQURL: dlq, IngestQueueURL: ingest}, Clients: Clients{SQS: client}, Logger: slog.New(slog.DiscardHandler)}
	c, err := r.Ingest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Messages != 10 || c.Redriven != 10 || c.Records != 10 || c.Failed != 0 {
		t.Errorf("counts %+v, want all 10 messages moved back", c)
	}
	got := mototest.Drain(t, client, ingest)
	if len(got) != 10 {
		t.Fatalf("%d messages on IngestQueue, want 10", len(got))
	}
	for _, m := range got {
		dedup := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageDeduplicationId)]
		id, _, _ := strings.Cut(dedup, "#redrive-")
		if aws.ToString(m.Body) != bodies[id] || m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)] != "order#k" || id == dedup {
			t.Errorf("message with deduplication id %q: not the DLQ message %q sent back in its group with a fresh id", dedup, id)
		}
	}
}

// TestResponderRedriveKeepsToPutEventsLimits: ten ResponderDLQ events of 40 KB each, one receive,
// go back on the bus in calls of at most 256 KB, with the entry the bus refuses once sent again;
// each leaves the DLQ once put. A message that holds no event stays, named.
func TestResponderRedriveKeepsToPutEventsLimits(t *testing.T) {
	cfg := mototest.StartConfig(t)
	client := sqs.NewFromConfig(cfg)
	url := mototest.CreateQueue(t, client, "ResponderDLQ", nil)
	pad := strings.Repeat("x", 40<<10)
	for i := range 10 {
		detail, err := json.Marshal(record.Record{ID: fmt.Sprintf("r%d", i), Type: "order", Key: "k", Time: "2027-03-01T12:00:00Z",
			ReceivedAt: "2027-03-01T12:00:00Z", Source: "test", Data: []byte(`{"pad":"` + pad + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"source":%q,"detail-type":%q,"detail":%s,"resources":["arn:aws:dynamodb:us-east-1:123456789012:table/events"]}`,
			DefaultEventSource, record.DetailType, detail)
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"not":"an event"}`)}); err != nil {
		t.Fatal(err)
	}

	bus := &busRecorder{ids: map[string]int{}}
	r := &Redriver{
		Names:   Names{ResponderDLQURL: url, EventBusName: "bus", EventSource: DefaultEventSource, EventStoreTableARN: "arn:aws:dynamodb:us-east-1:123456789012:table/events"},
		Clients: Clients{SQS: client, Events: bus},
		Logger:  slog.New(slog.DiscardHandler),
	}
	c, unreplayable, err := r.Responder(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Messages != 11 || c.Redriven != 10 || c.Records != 10 || c.Failed != 1 {
		t.Errorf("counts %+v, want 11 messages, 10 redriven and replayed, 1 left", c)
	}
	for i := range 10 {
		if id := fmt.Sprintf("r%d", i); bus.ids[id] != 1 {
			t.Errorf("event %s put %d times, want once", id, bus.ids[id])
		}
	}
	if len(unreplayable) != 1 || !strings.Contains(unreplayable[0], "holds no EventBridge event") {
		t.Errorf("unreplayable %q, want the message without an event", unreplayable)
	}
}
