package mototest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
)

// StartConfig starts a moto_server for the test (see Start) and returns the SDK configuration
// awsclient builds against it, the one the functions build their clients from.
func StartConfig(t testing.TB) aws.Config {
	t.Helper()
	Start(t)
	cfg, err := awsclient.Config(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// CreateQueue creates an SQS queue with the attributes given (a FIFO queue's name ends in .fifo
// and its attributes say "FifoQueue": "true") and returns its URL.
func CreateQueue(t testing.TB, client *sqs.Client, name string, attributes map[string]string) string {
	t.Helper()
	out, err := client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attributes})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// CreateIngestQueue creates a FIFO queue with the attributes template.yaml gives IngestQueue
// (deduplication and throughput per message group, no content-based deduplication) and returns
// its URL.
func CreateIngestQueue(t testing.TB, client *sqs.Client, name string) string {
	t.Helper()
	return CreateQueue(t, client, name, map[string]string{
		"FifoQueue":                 "true",
		"ContentBasedDeduplication": "false",
		"DeduplicationScope":        "messageGroup",
		"FifoThroughputLimit":       "perMessageGroupId",
		"SqsManagedSseEnabled":      "true",
		"VisibilityTimeout":         "180",
	})
}

// Drain receives the messages of the queue at url, with their system attributes
// (MessageGroupId, MessageDeduplicationId…), deleting each as it comes, until a receive waits a
// second for none; it returns them in the order received.
func Drain(t testing.TB, client *sqs.Client, url string) []sqstypes.Message {
	t.Helper()
	var msgs []sqstypes.Message
	for {
		out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) == 0 {
			return msgs
		}
		for _, m := range out.Messages {
			if _, err := client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
		msgs = append(msgs, out.Messages...)
	}
}

// BusToQueue creates the event bus bus with a rule that delivers the events pattern matches to a
// new SQS queue, as the template's DataInsertedRule delivers to ResponderQueue, and returns the
// queue's URL.
func BusToQueue(t testing.TB, cfg aws.Config, bus, pattern string) string {
	t.Helper()
	ctx := t.Context()
	eb, q := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatalf("create bus %s: %v", bus, err)
	}
	url := CreateQueue(t, q, bus+"-target", nil)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(bus + "-rule"), EventBusName: aws.String(bus), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatalf("put rule: %v", err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(bus + "-rule"), EventBusName: aws.String(bus), Targets: []ebtypes.Target{{
		Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
	}}}); err != nil {
		t.Fatalf("put targets: %v", err)
	}
	return url
}

// CreateKeyTable creates a table keyed as template.yaml declares the event store and the
// projection: a string hash key pk and a string range key sk, on demand. With stream it has
// a NEW_IMAGE stream, as the event store has, and CreateKeyTable returns the stream's ARN;
// without, it returns "".
func CreateKeyTable(t testing.TB, db *dynamodb.Client, name string, stream bool) string {
	t.Helper()
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}
	if stream {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}
	}
	out, err := db.CreateTable(t.Context(), in)
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	return aws.ToString(out.TableDescription.LatestStreamArn)
}

// StreamRecords reads every record of a table's stream from the start of each shard, as an
// event source mapping at TRIM_HORIZON would, one GetRecords call a shard (moto returns a
// shard's records at once).
func StreamRecords(t testing.TB, cfg aws.Config, streamARN string) []streamtypes.Record {
	t.Helper()
	ctx := t.Context()
	st := dynamodbstreams.NewFromConfig(cfg)
	desc, err := st.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(streamARN)})
	if err != nil {
		t.Fatalf("describe stream: %v", err)
	}
	var recs []streamtypes.Record
	for _, sh := range desc.StreamDescription.Shards {
		it, err := st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(streamARN), ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("shard iterator: %v", err)
		}
		out, err := st.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1000)})
		if err != nil {
			t.Fatalf("get records: %v", err)
		}
		recs = append(recs, out.Records...)
	}
	return recs
}
