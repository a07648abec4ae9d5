package esm

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

type streamFixture struct {
	ddb    *dynamodb.Client
	sqs    *sqs.Client
	table  string
	stream string
	dlqURL string
	st     *fakeStack
}

func newStreamFixture(t *testing.T, bisect bool) *streamFixture {
	t.Helper()
	moto := mototest.Start(t)
	f := &streamFixture{ddb: dynamodb.NewFromConfig(spec.ClientConfig(moto.URL, "test")), sqs: sqs.NewFromConfig(spec.ClientConfig(moto.URL, "test")), table: "event-store"}
	out, err := f.ddb.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(f.table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		StreamSpecification:  &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewImage},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.stream = aws.ToString(out.TableDescription.LatestStreamArn)
	q, err := f.sqs.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("emitter-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	f.dlqURL = aws.ToString(q.QueueUrl)
	f.st = newFakeStack(t, stacktest.ReadTemplate(t, "testdata/stream.yaml", bisect), moto.URL, map[string]any{
		"EventStoreTable.StreamArn": f.stream,
		"EmitterDLQ.Arn":            "arn:aws:sqs:us-east-1:123456789012:emitter-dlq",
	})
	return f
}

func (f *streamFixture) put(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := f.ddb.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: k}, "v": &ddbtypes.AttributeValueMemberN{Value: "1"}}}); err != nil {
			t.Fatal(err)
		}
	}
}

func streamKeys(t *testing.T, payload []byte) []string {
	t.Helper()
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range ev.Records {
		keys = append(keys, r.Change.Keys["pk"].String())
	}
	return keys
}

func callKeys(t *testing.T, fn *fakeFunction) [][]string {
	var out [][]string
	for _, c := range fn.snapshot() {
		out = append(out, streamKeys(t, c.payload))
	}
	return out
}

// Only INSERTs reach the function; moto's MODIFY (also on a rewrite of an identical item) and
// REMOVE records are filtered out. The records look like Lambda's.
func TestStreamFilterInsertOnly(t *testing.T) {
	f := newStreamFixture(t, false)
	fn := &fakeFunction{}
	f.put(t, "k1", "k2")
	f.put(t, "k1") // identical rewrite: moto emits MODIFY (DynamoDB emits nothing)
	if _, err := f.ddb.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(f.table),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k2"}}}); err != nil {
		t.Fatal(err)
	}
	f.put(t, "k3")
	r := startRunner(t, f.st, fn, nil, Options{StreamPollInterval: 20 * time.Millisecond})
	eventually(t, "3 INSERTs delivered", func() bool { return r.Counts()["EventEmitterFunction.EventStoreStream"].Records == 3 })
	time.Sleep(300 * time.Millisecond) // a record that should not come would come now

	var got []string
	for _, c := range fn.snapshot() {
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(c.payload, &ev); err != nil {
			t.Fatal(err)
		}
		for _, rec := range ev.Records {
			got = append(got, rec.Change.Keys["pk"].String())
			ch := rec.Change
			if rec.EventName != "INSERT" || rec.EventSource != "aws:dynamodb" || rec.EventSourceArn != f.stream || rec.AWSRegion != "us-east-1" ||
				rec.EventID == "" || ch.SequenceNumber == "" || ch.StreamViewType != "NEW_IMAGE" || ch.NewImage["v"].Number() != "1" ||
				time.Since(ch.ApproximateCreationDateTime.Time) > time.Minute {
				t.Errorf("record = %+v", rec)
			}
		}
	}
	if !slices.Equal(got, []string{"k1", "k2", "k3"}) {
		t.Errorf("delivered %v, want the INSERTs k1 k2 k3", got)
	}
	if c := r.Counts()["EventEmitterFunction.EventStoreStream"]; c.Filtered != 2 {
		t.Errorf("filtered = %d, want 2 (the MODIFY of the identical rewrite, the REMOVE)", c.Filtered)
	}
}

// With ReportBatchItemFailures the batch is retried from the first reported record.
func TestStreamPartialFailureResumes(t *testing.T) {
	f := newStreamFixture(t, false)
	var once sync.Once
	fn := &fakeFunction{answer: func(_ int, inv spec.Invocation) (spec.Result, error) {
		var ev events.DynamoDBEvent
		_ = json.Unmarshal(inv.Payload, &ev)
		var resp events.DynamoDBEventResponse
		for _, r := range ev.Records {
			if r.Change.Keys["pk"].String() == "k3" {
				once.Do(func() {
					resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{{ItemIdentifier: r.Change.SequenceNumber}}
				})
			}
		}
		b, _ := json.Marshal(resp)
		return spec.Result{Payload: b}, nil
	}}
	f.put(t, "k1", "k2", "k3", "k4", "k5")
	r := startRunner(t, f.st, fn, nil, Options{StreamPollInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond})
	eventually(t, "two invocations", func() bool { return len(fn.snapshot()) >= 2 })
	time.Sleep(300 * time.Millisecond)
	got := fmt.Sprint(callKeys(t, fn))
	if want := "[[k1 k2 k3 k4 k5] [k3 k4 k5]]"; got != want {
		t.Errorf("invocations %s, want %s", got, want)
	}
	if c := r.Counts()["EventEmitterFunction.EventStoreStream"]; c.DeadLettered != 0 || c.Failed != 3 {
		t.Errorf("counts = %+v", c)
	}
}

// A poison record is isolated by bisection, retried MaximumRetryAttempts times, and then its
// OnFailure record, in Lambda's format, lands in the DLQ; the other records get through.
func TestStreamBisectAndOnFailure(t *testing.T) {
	f := newStreamFixture(t, true)
	fn := &fakeFunction{answer: func(_ int, inv spec.Invocation) (spec.Result, error) {
		if strings.Contains(string(inv.Payload), `"poison"`) {
			return functionError, nil
		}
		return spec.Result{Payload: []byte(`{"batchItemFailures":[]}`)}, nil
	}}
	f.put(t, "k1", "k2", "poison", "k4")
	r := startRunner(t, f.st, fn, nil, Options{StreamPollInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond})
	eventually(t, "OnFailure record in the DLQ", func() bool { return depth(t, f.sqs, f.dlqURL) == 1 })

	got := fmt.Sprint(callKeys(t, fn))
	if want := "[[k1 k2 poison k4] [k1 k2] [poison k4] [poison] [poison] [k4]]"; got != want {
		t.Errorf("invocations %s, want %s", got, want)
	}
	msg, err := f.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.dlqURL)})
	if err != nil || len(msg.Messages) != 1 {
		t.Fatalf("DLQ receive: %v %v", msg, err)
	}
	var rec streamFailure
	if err := json.Unmarshal([]byte(aws.ToString(msg.Messages[0].Body)), &rec); err != nil {
		t.Fatal(err)
	}
	var poisonSeq string
	for _, c := range fn.snapshot() {
		var ev events.DynamoDBEvent
		_ = json.Unmarshal(c.payload, &ev)
		if len(ev.Records) == 1 && ev.Records[0].Change.Keys["pk"].String() == "poison" {
			poisonSeq = ev.Records[0].Change.SequenceNumber
		}
	}
	bi := rec.BatchInfo
	if rec.RequestContext.Condition != "RetryAttemptsExhausted" || rec.RequestContext.ApproximateInvokeCount != 2 ||
		!strings.HasSuffix(rec.RequestContext.FunctionARN, ":function:s2e-eventemitterfunction") || rec.ResponseContext.FunctionError != "Unhandled" ||
		rec.Version != "1.0" || bi.BatchSize != 1 || bi.StartSequenceNumber != poisonSeq || bi.EndSequenceNumber != poisonSeq ||
		bi.StreamARN != f.stream || bi.ShardID == "" || bi.ApproximateArrivalOfFirstRecord == "" {
		t.Errorf("OnFailure record = %s", aws.ToString(msg.Messages[0].Body))
	}
	if c := r.Counts()["EventEmitterFunction.EventStoreStream"]; c.DeadLettered != 1 {
		t.Errorf("counts = %+v", c)
	}
}
