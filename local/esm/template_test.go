package esm

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
)

// The real template.yaml, provisioned by the real stack: each trigger reaches its function.
func TestRealTemplateTriggers(t *testing.T) {
	st, cfg := stacktest.Provisioned(t)
	var mu sync.Mutex
	seen := map[string]int{}
	inv := invokerFunc(func(id string, _ spec.Invocation) {
		mu.Lock()
		seen[id]++
		mu.Unlock()
	})
	r := startRunner(t, st, inv, nil, Options{StreamPollInterval: 50 * time.Millisecond})
	want := []string{"EventEmitterFunction.EventStoreStream", "EventResponderFunction.DataInserted", "EventStorerFunction.IngestQueue"}
	if got := r.Mappings(); !slices.Equal(got, want) {
		t.Fatalf("mappings = %v, want %v", got, want)
	}

	ref := func(v any) string {
		s, err := st.Resolve(v)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(s)
	}
	ctx := t.Context()
	q := sqs.NewFromConfig(cfg)
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(ref(map[string]any{"Ref": "IngestQueue"})),
		MessageBody: aws.String(`{"id":"1"}`), MessageGroupId: aws.String("order#1"), MessageDeduplicationId: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	ddb := dynamodb.NewFromConfig(cfg)
	if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(ref(map[string]any{"Ref": "EventStoreTable"})),
		Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "order#1"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "t#1"}}}); err != nil {
		t.Fatal(err)
	}
	detail, _ := json.Marshal(map[string]string{"id": "1"})
	eb := eventbridge.NewFromConfig(cfg)
	if out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(ref(map[string]any{"Ref": "EventBus"})), Source: aws.String(ref(map[string]any{"Ref": "EventSource"})),
		DetailType: aws.String("DataInserted"), Detail: aws.String(string(detail))}}}); err != nil || out.FailedEntryCount > 0 {
		t.Fatalf("PutEvents: %v %+v", err, out)
	}
	eventually(t, "every trigger invoked its function", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen["EventStorerFunction"] == 1 && seen["EventEmitterFunction"] == 1 && seen["EventResponderFunction"] == 1
	})
}
