package stack_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/local/stacktest"
)

// TestRealTemplate provisions the project's own template.yaml, so that a resource type or
// intrinsic the runner cannot handle shows up here rather than at `make local`.
func TestRealTemplate(t *testing.T) {
	s, cfg := stacktest.Provisioned(t)
	fns := s.Functions()
	for id, vars := range map[string][]string{
		"TransformerFunction":    {"QUEUE_URL"},
		"EventStorerFunction":    {"TABLE_NAME"},
		"EventEmitterFunction":   {"EVENT_BUS_NAME", "EVENT_SOURCE", "TABLE_ARN"},
		"EventResponderFunction": {"PROJECTION_TABLE"},
		"RecordsApiFunction":     {"PROJECTION_TABLE"},
	} {
		f, ok := fns[id]
		if !ok {
			t.Errorf("no function %s", id)
			continue
		}
		for _, v := range vars {
			if f.Env[v] == "" {
				t.Errorf("%s: %s not resolved (env %v)", id, v, f.Env)
			}
		}
	}
	outputs, err := s.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outputs {
		t.Logf("output %s = %s", o.Key, o.Value)
		if strings.Contains(o.Value, "execute-api") {
			t.Errorf("output %s = %q still names AWS, want the local API", o.Key, o.Value)
		}
	}
	// The rule delivers DataInserted from the stack's source to ResponderQueue, which the
	// responder's trigger reads in batches: a matching event put on the bus lands there.
	bus, _ := s.PhysicalID("EventBus")
	queue, _ := s.PhysicalID("ResponderQueue")
	put, err := eventbridge.NewFromConfig(cfg).PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{EventBusName: aws.String(bus), Source: aws.String("stream-to-events.ingest"), DetailType: aws.String("DataInserted"), Detail: aws.String(`{"id":"real"}`)},
	}})
	if err != nil || put.FailedEntryCount != 0 {
		t.Fatalf("PutEvents on %s: %v %+v", bus, err, put)
	}
	msgs, err := sqs.NewFromConfig(cfg).ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 || !strings.Contains(aws.ToString(msgs.Messages[0].Body), "real") {
		t.Errorf("ResponderQueue got %d messages, want the one DataInserted event put on %s", len(msgs.Messages), bus)
	}
}
