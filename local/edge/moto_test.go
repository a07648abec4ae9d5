package edge

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestAgainstMoto runs real SDK clients through the edge to moto: calls are counted per caller,
// and a partial failure leaves the failed entries really unwritten.
func TestAgainstMoto(t *testing.T) {
	moto := mototest.Start(t)
	ctx := t.Context()
	e, err := New(Options{
		Upstream: moto.URL,
		Faults:   []Fault{{Service: "sqs", Operation: "SendMessageBatch", Kind: PartialBatch, Rate: 0.5}},
		Rand:     sequence(0.9, 0.1), // every second entry fails
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	runner := sdkConfig(srv.URL, "runner")
	fn := sdkConfig(srv.URL, "TransformerFunction")
	sq := sqs.NewFromConfig(runner)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ingest.fifo"), Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	var entries []sqstypes.SendMessageBatchRequestEntry
	for i := range 10 {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
			Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(fmt.Sprintf(`{"n":%d}`, i)),
			MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String(fmt.Sprint(i)),
			MessageSystemAttributes: map[string]sqstypes.MessageSystemAttributeValue{
				"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf("Root=1-00000000-%024d;Sampled=1", i))},
			},
		})
	}
	out, err := sqs.NewFromConfig(fn).SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 5 || len(out.Failed) != 5 {
		t.Errorf("SendMessageBatch: %d successful, %d failed; want 5 and 5", len(out.Successful), len(out.Failed))
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes["ApproximateNumberOfMessages"]; n != "5" {
		t.Errorf("queue holds %s messages, want the 5 that succeeded", n)
	}

	// moto drops AWSTraceHeader; the edge puts it back, so the SQS trigger continues the trace.
	got, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) == 0 {
		t.Fatal("no message received")
	}
	for _, m := range got.Messages {
		var n int
		_, _ = fmt.Sscanf(aws.ToString(m.Body), `{"n":%d}`, &n)
		if want := fmt.Sprintf("Root=1-00000000-%024d;Sampled=1", n); m.Attributes["AWSTraceHeader"] != want {
			t.Errorf("message %d AWSTraceHeader = %q, want %q", n, m.Attributes["AWSTraceHeader"], want)
		}
	}

	db := dynamodb.NewFromConfig(sdkConfig(srv.URL, "EventStorerFunction"))
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("store"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: "HASH"}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		in := batchInput("store", "a", "b")
		if _, err := db.BatchWriteItem(ctx, &in); err != nil {
			t.Fatal(err)
		}
	}

	eb := eventbridge.NewFromConfig(sdkConfig(srv.URL, "EventEmitterFunction"))
	put, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		{Source: aws.String("s"), DetailType: aws.String("DataInserted"), Detail: aws.String("{}"), TraceHeader: aws.String("Root=1-abc-def;Sampled=1")},
	}})
	if err != nil || len(put.Entries) != 1 {
		t.Fatalf("PutEvents: %v", err)
	}
	if h := e.TraceHeaderOfEvent(aws.ToString(put.Entries[0].EventId)); h != "Root=1-abc-def;Sampled=1" {
		t.Errorf("trace header of moto's event %s = %q", aws.ToString(put.Entries[0].EventId), h)
	}

	counts := map[string]CallCount{}
	for _, c := range e.Calls() {
		counts[c.Caller+" "+c.Service+" "+c.Operation] = c
	}
	for key, want := range map[string]CallCount{
		"TransformerFunction sqs SendMessageBatch":    {Calls: 1, Injected: 1},
		"EventStorerFunction dynamodb BatchWriteItem": {Calls: 2},
		"runner sqs CreateQueue":                      {Calls: 1},
		"EventEmitterFunction events PutEvents":       {Calls: 1},
	} {
		if got := counts[key]; got.Calls != want.Calls || got.Injected != want.Injected {
			t.Errorf("%s: %d calls (%d injected), want %d (%d)", key, got.Calls, got.Injected, want.Calls, want.Injected)
		}
	}
}
