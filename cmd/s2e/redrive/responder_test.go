package redrive

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

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
