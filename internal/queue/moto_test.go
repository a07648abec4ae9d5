package queue

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestSendToFIFOQueue sends through the real SDK client to moto's SQS, with the IngestQueue's
// attributes, and checks what a consumer receives: every record once, in its entity's group, and
// a record sent twice (a Firehose retry) only once.
func TestSendToFIFOQueue(t *testing.T) {
	mototest.Start(t)
	ctx := t.Context()
	cfg, err := awsclient.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := sqs.NewFromConfig(cfg)
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String("IngestQueue.fifo"),
		Attributes: map[string]string{
			"FifoQueue":                 "true",
			"ContentBasedDeduplication": "false",
			"DeduplicationScope":        "messageGroup",
			"FifoThroughputLimit":       "perMessageGroupId",
			"SqsManagedSseEnabled":      "true",
			"VisibilityTimeout":         "180",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(created.QueueUrl)
	recs := records(12, 20)
	const header = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"
	s := NewSender(client, url)
	if err := s.Send(ctx, recs, header); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, recs[3:4], header); err != nil { // the same record again
		t.Fatal(err)
	}

	var got []record.Record
	for range 10 {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			var r record.Record
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &r); err != nil {
				t.Fatalf("body %q: %v", aws.ToString(m.Body), err)
			}
			if g := m.Attributes["MessageGroupId"]; g != r.GroupID() {
				t.Errorf("record %s in group %q, want %q", r.ID, g, r.GroupID())
			}
			if d := m.Attributes["MessageDeduplicationId"]; d != r.ContentHash() {
				t.Errorf("record %s has deduplication id %q", r.ID, d)
			}
			// moto 5.2 drops MessageSystemAttributes of SendMessageBatch entries (it keeps them for
			// SendMessage only), so AWSTraceHeader is not checked here; the unit tests check that
			// the call carries it.
			got = append(got, r)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	if len(ids) != len(recs) {
		t.Fatalf("received %d messages %v, want each of the %d records once", len(ids), ids, len(recs))
	}
	for i, r := range recs {
		if ids[i] != r.ID {
			t.Errorf("received %v, want the ids of the records sent", ids)
			break
		}
	}
}
