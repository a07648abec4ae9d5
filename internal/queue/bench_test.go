package queue

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// takesAll answers every SendMessageBatch call at once, all entries taken.
type takesAll struct{}

func (takesAll) SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	return &sqs.SendMessageBatchOutput{}, nil
}

// BenchmarkSendMessages measures the sender's own work per record (chunking, ordering, the calls'
// inputs), the SQS client left out: a Firehose batch of 500 encoded records of 50 entities.
func BenchmarkSendMessages(b *testing.B) {
	recs := records(500, 100)
	for i := range recs {
		recs[i].Key = fmt.Sprint("sku-", i%50)
	}
	msgs := make([]Message, len(recs))
	for i, r := range recs {
		msgs[i] = Message{Record: r, Body: string(r.AppendJSON(nil))}
	}
	s := NewSender(takesAll{}, queueURL)
	const header = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"
	awsfake.PerRecord(b, len(msgs), func() {
		if err := s.SendMessages(b.Context(), msgs, header); err != nil {
			b.Fatal(err)
		}
	})
}
