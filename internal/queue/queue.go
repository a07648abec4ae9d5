// Package queue sends canonical records to the ingest FIFO queue, ten to a SendMessageBatch call,
// one message group per entity, a hash of the record's identity and data as deduplication id (see
// FIFOOf), and the ingest's trace header as the message's AWSTraceHeader, so the trace goes on
// with the record. Entries that are already built, such as a message redriven from a dead-letter
// queue, go the same way (see SendEntries).
package queue

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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

// EntrySize is what SQS counts of an entry against a call's MaxBatchBytes: its body, and the
// name, data type and value of each of its message and system attributes.
func EntrySize(e types.SendMessageBatchRequestEntry) int {
	n := len(aws.ToString(e.MessageBody))
	for name, a := range e.MessageAttributes {
		n += len(name) + len(aws.ToString(a.DataType)) + len(aws.ToString(a.StringValue)) + len(a.BinaryValue)
	}
	for name, a := range e.MessageSystemAttributes {
		n += len(name) + len(aws.ToString(a.DataType)) + len(aws.ToString(a.StringValue)) + len(a.BinaryValue)
	}
	return n
}

// traceAttribute is the one message system attribute SQS has: X-Ray's trace header.
const traceAttribute = "AWSTraceHeader"

type batchSender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ batchSender = (*sqs.Client)(nil)

// Sender sends records, or entries already built, to one queue.
type Sender struct {
	client   batchSender
	queueURL string
	// Policy says how often entries SQS refused are sent again.
	Policy batch.Policy
	// Concurrency is how many SendMessageBatch calls may be in flight at once. A Firehose batch of
	// thousands of records is hundreds of calls, which one after another may not fit the
	// processor's timeout.
	Concurrency int
}

// DefaultConcurrency keeps the calls within the SDK's ten idle connections per host.
const DefaultConcurrency = 8

// NewSender returns a sender to the queue at queueURL.
func NewSender(client batchSender, queueURL string) *Sender {
	return &Sender{client: client, queueURL: queueURL, Policy: batch.DefaultPolicy, Concurrency: DefaultConcurrency}
}

// Message is a record with its canonical JSON, for callers that have encoded it already.
type Message struct {
	Record record.Record
	Body   string
}

// Failure is a record or entry that did not reach the queue, and why.
type Failure struct {
	ID      string // the record's id, or the entry's Id given to SendEntries
	Code    string // SQS's error code, or "" when the whole call failed
	Message string
	// Permanent is set when SQS blamed the entry itself (senderFault): sending it again cannot
	// help, and it was not retried.
	Permanent bool
}

// SendError names every record or entry that never got through.
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
// last refusal. Its req's Id is what a Failure calls it; each call numbers the entries anew.
type entry struct {
	req          types.SendMessageBatchRequestEntry
	size         int  // what SQS counts of it against a call, as EntrySize does
	fifo         FIFO // SendMessages points req at these, so all entries cost one allocation
	code, reason string
}

// SendMessages sends messages whose bodies are already encoded, in calls of at most ten entries
// and 256 KiB. Entries SQS refuses are sent again with backoff, except those it blames on the
// entry itself (senderFault), which are reported at once. Calls of different entities run side by
// side (see sendChunks).
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
	for i := range msgs {
		e := &entries[i]
		// What EntrySize counts, with the one attribute these entries have measured once.
		e.size, e.fifo = len(msgs[i].Body)+attrSize, FIFOOf(msgs[i].Record)
		e.req = types.SendMessageBatchRequestEntry{
			Id:                      &msgs[i].Record.ID,
			MessageBody:             &msgs[i].Body,
			MessageGroupId:          &e.fifo.GroupID,
			MessageDeduplicationId:  &e.fifo.DeduplicationID,
			MessageSystemAttributes: attrs,
		}
	}
	return s.sendChunks(ctx, entries)
}

// SendEntries sends entries that are already built (body, attributes, group and deduplication ids
// as they are) as SendMessages sends its messages, sizing each as EntrySize does. It returns nil
// when every entry is on the queue, else a *SendError naming the ones that are not by their Id,
// which must be unique among reqs, as SQS asks of one call's. An entry without a group id (for a
// standard queue) waits for no other. A message redriven from a dead-letter queue goes this way.
func (s *Sender) SendEntries(ctx context.Context, reqs []types.SendMessageBatchRequestEntry) error {
	entries := make([]entry, len(reqs))
	for i, req := range reqs {
		entries[i] = entry{req: req, size: EntrySize(req)}
	}
	return s.sendChunks(ctx, entries)
}

// sendChunks makes the calls, of at most MaxBatchEntries and MaxBatchBytes each, up to
// Concurrency at once. A chunk waits for the earlier chunks that hold messages of its groups, so
// each entity's messages still reach the queue in the order given, which is what the FIFO queue
// is for; chunks of different entities go side by side. When a chunk still fails after its
// retries, no chunk starts after it: the queue is refusing, and the caller will retry the whole
// batch anyway. Failures are reported in the order of the messages.
func (s *Sender) sendChunks(ctx context.Context, entries []entry) error {
	ptrs := make([]*entry, len(entries))
	for i := range entries {
		ptrs[i] = &entries[i]
	}
	chunks := batch.Chunks(ptrs, MaxBatchEntries, MaxBatchBytes, func(e *entry) int { return e.size })
	type outcome struct {
		done     chan struct{}
		sent     bool // every entry got through or was refused for good
		failures []Failure
		err      error
	}
	out := make([]outcome, len(chunks))
	after := make([][]int, len(chunks)) // the earlier chunks each chunk waits for
	last := map[string]int{}            // group -> the last chunk holding it so far
	for ci, chunk := range chunks {
		out[ci].done = make(chan struct{})
		for _, e := range chunk {
			if e.req.MessageGroupId == nil {
				continue
			}
			g := *e.req.MessageGroupId
			if p, ok := last[g]; ok && p != ci && !slices.Contains(after[ci], p) {
				after[ci] = append(after[ci], p)
			}
			last[g] = ci
		}
	}
	var refusing atomic.Bool
	slots := make(chan struct{}, max(1, s.Concurrency))
	run := func(ci int) {
		o := &out[ci]
		defer close(o.done)
		blocked := false
		for _, p := range after[ci] {
			<-out[p].done
			blocked = blocked || !out[p].sent
		}
		if !blocked {
			slots <- struct{}{}
			defer func() { <-slots }()
		}
		if blocked || refusing.Load() {
			for _, e := range chunks[ci] {
				o.failures = append(o.failures, Failure{ID: aws.ToString(e.req.Id), Message: "not sent: an earlier call failed"})
			}
			return
		}
		left, err := batch.Retry(ctx, s.Policy, chunks[ci], func(ctx context.Context, pending []*entry) ([]*entry, error) {
			failed, permanent, err := s.call(ctx, pending)
			o.failures = append(o.failures, permanent...)
			return failed, err
		})
		for _, e := range left {
			o.failures = append(o.failures, Failure{ID: aws.ToString(e.req.Id), Code: e.code, Message: e.reason})
		}
		o.sent, o.err = len(left) == 0, err
		if !o.sent {
			refusing.Store(true)
		}
	}
	if len(chunks) == 1 || s.Concurrency <= 1 {
		for ci := range chunks {
			run(ci)
		}
	} else {
		var wg sync.WaitGroup
		for ci := range chunks {
			wg.Go(func() { run(ci) })
		}
		wg.Wait()
	}

	se := &SendError{}
	for _, o := range out {
		se.Failures = append(se.Failures, o.failures...)
		if se.Err == nil && !o.sent {
			se.Err = o.err
		}
	}
	if len(se.Failures) > 0 {
		return se
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
			permanent = append(permanent, Failure{ID: aws.ToString(e.req.Id), Code: e.code, Message: e.reason, Permanent: true})
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
