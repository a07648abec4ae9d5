package redrive

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// refusingSQS is moto's SQS, but SendMessageBatch refuses the entries whose body has a record id
// in refuse: for good, as SQS refuses a bad entry (senderFault), when the id maps to true; else
// the first time only, as when throttled.
type refusingSQS struct {
	*sqs.Client
	mu      sync.Mutex
	refuse  map[string]bool
	refused map[string]int // record id -> times refused
}

func (c *refusingSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	c.mu.Lock()
	var take []sqstypes.SendMessageBatchRequestEntry
	var failed []sqstypes.BatchResultErrorEntry
	for _, e := range in.Entries {
		var body struct{ ID string }
		_ = json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &body)
		forGood, ok := c.refuse[body.ID]
		if ok && (forGood || c.refused[body.ID] == 0) {
			c.refused[body.ID]++
			failed = append(failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameterValue"), Message: aws.String("refused"), SenderFault: forGood})
			continue
		}
		take = append(take, e)
	}
	c.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	if len(take) > 0 {
		var err error
		if out, err = c.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: in.QueueUrl, Entries: take}, optFns...); err != nil {
			return nil, err
		}
	}
	out.Failed = append(out.Failed, failed...)
	return out, nil
}

// TestIngestRedriveLeavesWhatIngestQueueRefused: of three IngestDLQ messages, the one refused once
// is sent again and moves with the other; the one SQS refuses for good is tried once and stays in
// the DLQ.
func TestIngestRedriveLeavesWhatIngestQueueRefused(t *testing.T) {
	client := sqs.NewFromConfig(mototest.StartConfig(t))
	dlq := mototest.CreateIngestQueue(t, client, "IngestDLQ.fifo")
	ingest := mototest.CreateIngestQueue(t, client, "IngestQueue.fifo")
	for i := range 3 {
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(fmt.Sprintf(`{"id":"r%d"}`, i)),
			MessageGroupId: aws.String(fmt.Sprint("order#k", i)), MessageDeduplicationId: aws.String(fmt.Sprint("r", i))}); err != nil {
			t.Fatal(err)
		}
	}
	sqsc := &refusingSQS{Client: client, refuse: map[string]bool{"r1": false, "r2": true}, refused: map[string]int{}}
	r := &Redriver{Names: Names{IngestDLQURL: dlq, IngestQueueURL: ingest}, Clients: Clients{SQS: sqsc}, Logger: slog.New(slog.DiscardHandler)}
	c, err := r.Ingest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Messages != 3 || c.Redriven != 2 || c.Records != 2 || c.Failed != 1 {
		t.Errorf("counts %+v, want 3 messages, 2 moved, 1 left", c)
	}
	if sqsc.refused["r1"] != 1 || sqsc.refused["r2"] != 1 {
		t.Errorf("refusals %v, want r1 refused once then sent, r2 refused once and not tried again", sqsc.refused)
	}
	moved := map[string]int{}
	for _, m := range mototest.Drain(t, client, ingest) {
		moved[aws.ToString(m.Body)]++
	}
	if len(moved) != 2 || moved[`{"id":"r0"}`] != 1 || moved[`{"id":"r1"}`] != 1 {
		t.Errorf("IngestQueue holds %v, want r0 and r1 once each", moved)
	}
	out, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlq),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]; n != "1" {
		t.Errorf("IngestDLQ holds %s messages (in flight), want r2's", n)
	}
}
