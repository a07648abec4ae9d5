package redrive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/queue"
)

// queueClient is the SQS operations a redrive needs.
type queueClient interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

var _ queueClient = (*sqs.Client)(nil)

// policy is how a redrive retries the failed part of a batch call: a person waits for it, so a
// few seconds at most before the message is left for the next run.
var policy = batch.Policy{Attempts: 8, Base: 100 * time.Millisecond, Max: 2 * time.Second}

// maxRounds bounds the receives of one queue's redrive, so that a queue refilled as fast as it
// is drained (a fault still in force) ends the run instead of holding it forever.
const maxRounds = 10_000

// drain receives queueURL's messages ten at a time and hands each batch to replay, which returns
// the messages it replayed; those are deleted. It stops at the first empty receive.
func (r *Redriver) drain(ctx context.Context, queueURL string, c *Counts, replay func(context.Context, []sqstypes.Message) []sqstypes.Message) error {
	for range maxRounds {
		out, err := r.Clients.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(queueURL),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             int32(max(0, r.wait()/time.Second)), // #nosec G115 -- seconds of a Duration fit in int32 up to 68 years; SQS refuses waits over 20 s itself
			VisibilityTimeout:           int32(max(1, r.hold()/time.Second)), // #nosec G115 -- seconds of a Duration fit in int32 up to 68 years; SQS refuses over 12 hours itself
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			return fmt.Errorf("receive from %s: %w", queueURL, err)
		}
		if len(out.Messages) == 0 {
			return nil
		}
		c.Messages += len(out.Messages)
		done := replay(ctx, out.Messages)
		deleted, err := r.delete(ctx, queueURL, done)
		c.Redriven += deleted
		c.Failed += len(out.Messages) - deleted
		if err != nil {
			// The replayed messages that could not be deleted come back after Hold and are
			// replayed again: a duplicate, which every hop tolerates, rather than a loss.
			r.log().Warn("replayed messages not deleted", "queue", queueURL, "messages", len(done)-deleted, "error", err)
		}
	}
	return fmt.Errorf("redrive %s: still not empty after %d receives; is the fault mended?", queueURL, maxRounds)
}

// delete deletes msgs from queueURL and returns how many were deleted.
func (r *Redriver) delete(ctx context.Context, queueURL string, msgs []sqstypes.Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
	}
	left, err := batch.Retry(ctx, policy, entries, func(ctx context.Context, es []sqstypes.DeleteMessageBatchRequestEntry) ([]sqstypes.DeleteMessageBatchRequestEntry, error) {
		out, err := r.Clients.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: es})
		if err != nil {
			return es, err
		}
		return failedDeletes(es, out.Failed), nil
	})
	if err != nil {
		err = fmt.Errorf("delete from %s: %w", queueURL, err)
	}
	return len(msgs) - len(left), err
}

// failedDeletes picks the entries a DeleteMessageBatch answer lists as failed.
func failedDeletes(entries []sqstypes.DeleteMessageBatchRequestEntry, failed []sqstypes.BatchResultErrorEntry) []sqstypes.DeleteMessageBatchRequestEntry {
	if len(failed) == 0 {
		return nil
	}
	ids := make(map[string]bool, len(failed))
	for _, f := range failed {
		ids[aws.ToString(f.Id)] = true
	}
	var out []sqstypes.DeleteMessageBatchRequestEntry
	for _, e := range entries {
		if ids[aws.ToString(e.Id)] {
			out = append(out, e)
		}
	}
	return out
}

// Ingest moves IngestDLQ's messages back to IngestQueue.
func (r *Redriver) Ingest(ctx context.Context) (Counts, error) {
	return r.toIngest(ctx, r.Names.IngestDLQURL)
}

// Conflicts moves ConflictQueue's records back to IngestQueue, for an operator who freed their
// identity in the event store (the store is append-only: a record that still conflicts comes
// back to ConflictQueue). All does not do it: redriving a conflict unchanged only repeats it.
func (r *Redriver) Conflicts(ctx context.Context) (Counts, error) {
	return r.toIngest(ctx, r.Names.ConflictQueueURL)
}

// toIngest moves the messages of the queue at from back to IngestQueue.
func (r *Redriver) toIngest(ctx context.Context, from string) (Counts, error) {
	var c Counts
	fifo := strings.HasSuffix(r.Names.IngestQueueURL, ".fifo")
	// Ten messages of a DLQ may hold more than one call takes: the sender keeps each call within
	// SendMessageBatch's limits, as the transformer's does.
	ingest := queue.NewSender(r.Clients.SQS, r.Names.IngestQueueURL)
	ingest.Policy = policy
	err := r.drain(ctx, from, &c, func(ctx context.Context, msgs []sqstypes.Message) []sqstypes.Message {
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(msgs))
		for i, m := range msgs {
			entries[i] = resend(m, i, fifo)
		}
		notSent := map[string]bool{}
		if err := ingest.SendEntries(ctx, entries); err != nil {
			r.log().Warn("ingest redrive: messages not sent back", "error", err)
			var se *queue.SendError
			if !errors.As(err, &se) {
				return nil
			}
			for _, f := range se.Failures { // named by resend's Id: the message's index
				notSent[f.ID] = true
			}
		}
		var done []sqstypes.Message
		for i, m := range msgs {
			if !notSent[strconv.Itoa(i)] {
				done = append(done, m)
			}
		}
		c.Records += len(done)
		return done
	})
	return c, err
}

// resend is the SendMessageBatch entry that puts m back on the source queue.
func resend(m sqstypes.Message, i int, fifo bool) sqstypes.SendMessageBatchRequestEntry {
	e := sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body}
	if len(m.MessageAttributes) > 0 {
		e.MessageAttributes = m.MessageAttributes
	}
	if trace := m.Attributes[string(sqstypes.MessageSystemAttributeNameAWSTraceHeader)]; trace != "" {
		e.MessageSystemAttributes = map[string]sqstypes.MessageSystemAttributeValue{
			string(sqstypes.MessageSystemAttributeNameForSendsAWSTraceHeader): {DataType: aws.String("String"), StringValue: aws.String(trace)},
		}
	}
	if fifo {
		group := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]
		dedup := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageDeduplicationId)]
		if dedup == "" {
			dedup = aws.ToString(m.MessageId)
		}
		count, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
		e.MessageGroupId = aws.String(group)
		e.MessageDeduplicationId = aws.String(IngestDedupID(dedup, count))
	}
	return e
}

// maxDedupID is SQS's limit on a MessageDeduplicationId.
const maxDedupID = 128

// IngestDedupID is the MessageDeduplicationId of a redriven message: the original one (the
// record's id) with "#redrive-" and the DLQ message's receive count.
//
// The original id cannot be kept: a FIFO queue drops, for five minutes, every message whose
// deduplication id it has seen, and a message reaches the DLQ within minutes of its first send,
// so the redriven copy would be accepted and silently dropped. A fresh id per attempt is safe
// because the storer is idempotent (the record's item is keyed by the record, not the message):
// a record that arrives twice is stored once. The receive count makes the id fresh for each
// redrive attempt of a message, and the same within one attempt, so that the SDK's own retries
// of one SendMessageBatch still deduplicate.
func IngestDedupID(original string, receiveCount int) string {
	id := original + "#redrive-" + strconv.Itoa(receiveCount)
	if len(id) <= maxDedupID {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}
