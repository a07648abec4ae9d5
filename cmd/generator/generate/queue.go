package generate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// The SendMessageBatch limits: 10 entries a call, and 256 KiB of message bodies. A body is the
// canonical record, a little larger than the input record it is built from, so the byte limit
// that Send counts on input records leaves room for the canonical fields of ten records.
const (
	QueueMaxRecords = queue.MaxBatchEntries
	QueueMaxBytes   = queue.MaxBatchBytes - QueueMaxRecords*2<<10
)

type messageBatchSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ messageBatchSender = (*sqs.Client)(nil)

// Queue sends records straight to the ingest queue, skipping Firehose and the transformer: each
// becomes the queue message the transformer would have sent (docs/contracts.md, Queue message), built by
// the same parser. It serves runs where only the hops after the queue matter.
type Queue struct {
	client messageBatchSender
	url    string
	parser *record.Parser
	source string
	now    func() time.Time
}

var _ Destination = (*Queue)(nil)

// NewQueue returns a destination that sends records to the FIFO queue at queueURL; client is an
// *sqs.Client. source stands for the delivery stream the records would have come through.
func NewQueue(client messageBatchSender, queueURL string, parser *record.Parser, source string) *Queue {
	return &Queue{client: client, url: queueURL, parser: parser, source: source, now: time.Now}
}

// Limits are SendMessageBatch's.
func (q *Queue) Limits() (int, int) { return QueueMaxRecords, QueueMaxBytes }

// Put makes one SendMessageBatch call. A record the parser refuses is a PermanentError: the
// transformer would never have put it on the queue, so it has no queue message.
func (q *Queue) Put(ctx context.Context, records []Record) ([]Record, string, error) {
	meta := record.Meta{Source: q.source, ArrivalMillis: q.now().UnixMilli()}
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url), Entries: make([]sqstypes.SendMessageBatchRequestEntry, len(records))}
	for i, r := range records {
		c, err := q.parser.Parse(r.Data, meta)
		if err != nil {
			return records, "", &PermanentError{Err: fmt.Errorf("record %d has no queue message, the transformer refuses it: %w", r.Seq, err)}
		}
		fifo := queue.FIFOOf(c)
		in.Entries[i] = sqstypes.SendMessageBatchRequestEntry{
			Id:                     aws.String(strconv.Itoa(i)),
			MessageBody:            aws.String(string(c.AppendJSON(nil))),
			MessageGroupId:         aws.String(fifo.GroupID),
			MessageDeduplicationId: aws.String(fifo.DeduplicationID),
		}
	}
	out, err := q.client.SendMessageBatch(ctx, in)
	if err != nil {
		err = fmt.Errorf("SendMessageBatch to %s: %w", q.url, err)
		if !retryable(err) {
			return records, "", &PermanentError{Err: err}
		}
		return records, "", err
	}
	var failed []Record
	why := ""
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(records) {
			return records, "", fmt.Errorf("SendMessageBatch to %s: failed entry with unknown id %q", q.url, aws.ToString(f.Id))
		}
		if f.SenderFault {
			return records, "", &PermanentError{Err: fmt.Errorf("SendMessageBatch to %s refused record %d: %s: %s",
				q.url, records[i].Seq, aws.ToString(f.Code), aws.ToString(f.Message))}
		}
		failed = append(failed, records[i])
		why = aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
	}
	return failed, why, nil
}
