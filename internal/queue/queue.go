// Package queue sends canonical records to the ingest FIFO queue, ten to a SendMessageBatch call,
// one message group per entity, the record id as deduplication id, and the ingest's trace header
// as the message's AWSTraceHeader, so the trace goes on with the record.
package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// SQS limits of one SendMessageBatch call.
const (
	MaxBatchEntries = 10
	MaxBatchBytes   = 256 << 10
)

// traceAttribute is the one message system attribute SQS has: X-Ray's trace header.
const traceAttribute = "AWSTraceHeader"

type batchSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ batchSender = (*sqs.Client)(nil)

// Sender sends records to one queue.
type Sender struct {
	client   batchSender
	queueURL string
	// Policy says how often entries SQS refused are sent again.
	Policy batch.Policy
}

// NewSender returns a sender to the queue at queueURL.
func NewSender(client batchSender, queueURL string) *Sender {

	return &Sender{client: client, queueURL: queueURL, Policy: batch.DefaultPolicy}
}

// Message is a record with its canonical JSON, for callers that have encoded it already.
type Message struct {
	Record record.Record
	Body   string
}

// Failure is a record that did not reach the queue, and why.
type Failure struct {
	ID      string // the record's id
	Code    string // SQS's error code, or "" when the whole call failed
	Message string
	// Permanent is set when SQS blamed the entry itself (senderFault): sending it again cannot
	// help, and it was not retried.
	Permanent bool
}

// SendError names every record that never got through.
type SendError struct {
	Failures []Failure
	Err      error // why the last attempt failed, when the whole call did
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "queue: %d records not sent:", len(e.Failures))
	for _, f := range e.Failures {
		fmt.Fprintf(&b, " %s", f.ID)
		if f.Code != "" {
			fmt.Fprintf(&b, " (%s: %s)", f.Code, f.Message)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *SendError) Unwrap() error { return e.Err }

// Retryable reports whether any failure is worth another try of the whole batch.
func (e *SendError) Retryable() bool {
	for _, f := range e.Failures {
		if !f.Permanent {
			return true
		}
	}
	return false
}

// Send encodes each record once and sends them all. It returns nil when every record is on the
// queue, else a *SendError naming the ones that are not.
func (s *Sender) Send(ctx context.Context, recs []record.Record, traceHeader string) error {
	msgs := make([]Message, len(recs))
	var buf []byte
	for i, r := range recs {
		buf = r.AppendJSON(buf[:0])
		msgs[i] = Message{Record: r, Body: string(buf)}
	}
	return s.SendMessages(ctx, msgs, traceHeader)
}

// entry is one message's place in the whole send, kept across retries with the reason of its
// last refusal.
type entry struct {
	msg          *Message
	req          types.SendMessageBatchRequestEntry
	group        string // req points at these, so all entries cost one allocation
	code, reason string
}

// SendMessages sends messages whose bodies are already encoded, in calls of at most ten entries
// and 256 KiB. Entries SQS refuses are sent again with backoff, except those it blames on the
// entry itself (senderFault), which are reported at once. When a call still fails after the
// retries, the calls after it are not made: the queue is refusing, and the caller will retry the
// whole batch anyway.
func (s *Sender) SendMessages(ctx context.Context, msgs []Message, traceHeader string) error {
	if len(msgs) == 0 {
		return nil
	}
	var attrs map[string]types.MessageSystemAttributeValue
	attrSize := 0
	if traceHeader != "" {
		attrs = map[string]types.MessageSystemAttributeValue{
			traceAttribute: {DataType: aws.String("String"), StringValue: aws.String(traceHeader)},
		}
		attrSize = len(traceAttribute) + len("String") + len(traceHeader)
	}
	entries := make([]entry, len(msgs))
	ptrs := make([]*entry, len(msgs))
	for i := range msgs {
		e := &entries[i]
		e.msg, e.group = &msgs[i], msgs[i].Record.GroupID()
		e.req = types.SendMessageBatchRequestEntry{
			MessageBody:             &e.msg.Body,
			MessageGroupId:          &e.group,
			MessageDeduplicationId:  &e.msg.Record.ID,
			MessageSystemAttributes: attrs,
		}
		ptrs[i] = e
	}
	// SQS counts the bodies and attributes of all entries against the 256 KiB of a call.
	size := func(e *entry) int { return len(e.msg.Body) + attrSize }

	var failures []Failure
	send := func(ctx context.Context, pending []*entry) ([]*entry, error) {
		failed, permanent, err := s.call(ctx, pending)
		failures = append(failures, permanent...)
		return failed, err
	}
	chunks := batch.Chunks(ptrs, MaxBatchEntries, MaxBatchBytes, size)
	for ci, chunk := range chunks {
		left, err := batch.Retry(ctx, s.Policy, chunk, send)
		if len(left) == 0 {
			continue
		}
		for _, e := range left {
			failures = append(failures, Failure{ID: e.msg.Record.ID, Code: e.code, Message: e.reason})
		}
		for _, rest := range chunks[ci+1:] {
			for _, e := range rest {
				failures = append(failures, Failure{ID: e.msg.Record.ID, Message: "not sent: an earlier call failed"})
			}
		}
		return &SendError{Failures: failures, Err: err}
	}
	if len(failures) > 0 {
		return &SendError{Failures: failures}
	}
	return nil
}

// call makes one SendMessageBatch call. It returns the entries to send again and those SQS
// refused for good; err when the call as a whole failed.
func (s *Sender) call(ctx context.Context, pending []*entry) (retry []*entry, permanent []Failure, err error) {
	reqs := make([]types.SendMessageBatchRequestEntry, len(pending))
	for i, e := range pending {
		reqs[i] = e.req
		reqs[i].Id = &ids[i] // unique within the call, which is all SQS asks
	}
	out, err := s.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.queueURL), Entries: reqs})
	if err != nil {
		for _, e := range pending {
			e.code, e.reason = "", err.Error()
		}
		return nil, nil, fmt.Errorf("SendMessageBatch: %w", err)
	}
	for _, f := range out.Failed {
		i, convErr := strconv.Atoi(aws.ToString(f.Id))
		if convErr != nil || i < 0 || i >= len(pending) {
			return nil, nil, fmt.Errorf("SendMessageBatch: answer names unknown entry %q", aws.ToString(f.Id))
		}
		e := pending[i]
		e.code, e.reason = aws.ToString(f.Code), aws.ToString(f.Message)
		if f.SenderFault {
			permanent = append(permanent, Failure{ID: e.msg.Record.ID, Code: e.code, Message: e.reason, Permanent: true})
			continue
		}
		retry = append(retry, e)
	}
	return retry, permanent, nil
}

// ids are the entry ids of a call: its indexes.
var ids = func() []string {
	out := make([]string, MaxBatchEntries)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}()
