package esm

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// sqsAPI is what a queue poller calls.
type sqsAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

var _ sqsAPI = (*sqs.Client)(nil)

// deletePolicy retries the deletes of processed messages (a message not deleted is processed
// again) and the visibility changes of failed ones (a message left in flight holds its FIFO group
// for the queue's visibility timeout).
var deletePolicy = batch.Policy{Attempts: 8, Base: 50 * time.Millisecond, Max: time.Second}

// sqsMapping is an SQS trigger: Events.<name> with Type SQS.
type sqsMapping struct {
	mappingBase
	api          sqsAPI
	queueARN     string
	queueURL     string
	batchSize    int
	window       time.Duration
	reportFailed bool
	pollers      int
	fifo         bool
	filter       *filter
}

func newSQSMapping(ctx context.Context, b mappingBase) (mapping, error) {
	if !enabled(b.props) {
		return nil, nil
	}
	m := &sqsMapping{mappingBase: b, api: b.c.sqs, pollers: b.opts.SQSPollers}
	m.queueARN, _ = b.props["Queue"].(string)
	url, err := queueURL(ctx, b.c.sqs, m.queueARN)
	if err != nil {
		return nil, err
	}
	m.queueURL = url
	m.batchSize = samtemplate.Int(b.props["BatchSize"], 10)
	m.window = time.Duration(samtemplate.Int(b.props["MaximumBatchingWindowInSeconds"], 0)) * time.Second
	m.reportFailed = reportsItemFailures(b.props)
	m.fifo = strings.HasSuffix(m.queueARN, ".fifo")
	if m.filter, err = newFilter(b.props["FilterCriteria"]); err != nil {
		return nil, err
	}
	if sc, ok := b.props["ScalingConfig"].(map[string]any); ok {
		if n := samtemplate.Int(sc["MaximumConcurrency"], 0); n > 0 {
			m.pollers = min(m.pollers, n)
		}
	}
	return m, nil
}

func (m *sqsMapping) run(ctx context.Context, stop <-chan struct{}) {
	if m.fifo {
		m.runFIFO(ctx, stop)
		return
	}
	var wg sync.WaitGroup
	for range m.pollers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.poll(ctx, stop)
		}()
	}
	wg.Wait()
}

// poll receives a batch, invokes, deletes what succeeded; again until stop.
func (m *sqsMapping) poll(ctx context.Context, stop <-chan struct{}) {
	for !stopped(stop) && ctx.Err() == nil {
		msgs, ok := m.receiveOrPause(ctx, stop, m.opts.PollWait)
		if !ok {
			continue
		}
		if len(msgs) > 0 {
			m.handle(ctx, msgs, nil)
		}
	}
}

// runFIFO keeps one batch in flight per message group. moto withholds the groups that have
// messages in flight, but it takes that set once at the start of a ReceiveMessage call, so
// concurrent long polls could still hand out one group twice: here one goroutine receives and
// up to SQSPollers batches run at once, and a message of a group already in flight (which moto
// should not return) is made visible again rather than run out of order.
func (m *sqsMapping) runFIFO(ctx context.Context, stop <-chan struct{}) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, m.pollers)
	var mu sync.Mutex
	inFlight := map[string]bool{}
	released := make(chan struct{}, 1)
	for !stopped(stop) && ctx.Err() == nil {
		// moto takes the groups in flight once, at the start of a ReceiveMessage call, so a long
		// poll begun while a group is in flight would not hand out its next messages when the
		// group is released, as SQS does: a busy entity would wait out every poll. While groups
		// are in flight the loop polls short instead, and again as soon as a batch is settled.
		// A batch holds its group until its messages are deleted, after its function answered:
		// sem counts the batches not yet settled.
		busy := len(sem) > 0
		wait := m.opts.PollWait
		if busy {
			wait = 0
		}
		msgs, ok := m.receiveOrPause(ctx, stop, wait)
		if !ok {
			continue
		}
		if len(msgs) == 0 {
			if busy {
				t := time.NewTimer(m.opts.PollWait)
				select {
				case <-released:
				case <-t.C:
				case <-stop:
				case <-ctx.Done():
				}
				t.Stop()
			}
			continue
		}
		var run, back []types.Message
		groups := map[string]bool{}
		mu.Lock()
		for _, msg := range msgs {
			g := msg.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
			if inFlight[g] && !groups[g] {
				back = append(back, msg)
				continue
			}
			groups[g] = true
			inFlight[g] = true
			run = append(run, msg)
		}
		mu.Unlock()
		if len(back) > 0 {
			m.log.Warn("sqs returned messages of a group in flight: made visible again", "messages", len(back))
			m.changeVisibility(ctx, back, 0)
		}
		if len(run) == 0 {
			continue
		}
		// A group is released once the function has answered, before its messages are deleted
		// or made visible again: SQS withholds the group until then by itself, and releasing it
		// after the deletes let a receive meanwhile hand out the group's next messages, which
		// were then sent back, each bounce a receive counted towards the queue's DLQ.
		release := sync.OnceFunc(func() {
			mu.Lock()
			for g := range groups {
				delete(inFlight, g)
			}
			mu.Unlock()
		})
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() {
				release()
				<-sem
				// The group is free on the queue's side once its messages are deleted (or made
				// visible again): only now can a poll hand out its next ones.
				select {
				case released <- struct{}{}:
				default:
				}
				wg.Done()
			}()
			m.handle(ctx, run, release)
		}()
	}
}

// receiveOrPause is receive for the polling loops: a failed receive is logged and followed by a
// second's pause before the loop polls again.
func (m *sqsMapping) receiveOrPause(ctx context.Context, stop <-chan struct{}, wait time.Duration) ([]types.Message, bool) {
	msgs, err := m.receive(ctx, stop, wait)
	if err != nil {
		m.log.Warn("sqs receive failed", "queue", m.queueURL, "error", err)
		sleep(ctx, stop, time.Second)
		return nil, false
	}
	return msgs, true
}

// receive gathers up to BatchSize messages: one poll that waits up to first (0: a short poll),
// then more while the batching window is open and the batch is not full.
func (m *sqsMapping) receive(ctx context.Context, stop <-chan struct{}, first time.Duration) ([]types.Message, error) {
	var msgs []types.Message
	var deadline time.Time
	for {
		wait := first
		if len(msgs) > 0 {
			wait = m.opts.PollWait
			left := time.Until(deadline)
			if left <= 0 || len(msgs) >= m.batchSize || stopped(stop) {
				return msgs, nil
			}
			wait = min(wait, left)
		}
		out, err := m.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(m.queueURL),
			MaxNumberOfMessages:         int32(min(10, m.batchSize-len(msgs))), // #nosec G115 -- min keeps it at most 10
			WaitTimeSeconds:             waitSeconds(wait),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if len(msgs) > 0 {
				return msgs, nil
			}
			return nil, err
		}
		if len(msgs) == 0 && len(out.Messages) > 0 {
			deadline = time.Now().Add(m.window)
		}
		msgs = append(msgs, out.Messages...)
		if len(msgs) == 0 || m.window == 0 {
			return msgs, nil
		}
	}
}

// sqsEvent builds the event Lambda sends for msgs.
func (m *sqsMapping) sqsEvent(msgs []types.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, msg := range msgs {
		rec := events.SQSMessage{
			MessageId:              aws.ToString(msg.MessageId),
			ReceiptHandle:          aws.ToString(msg.ReceiptHandle),
			Body:                   aws.ToString(msg.Body),
			Md5OfBody:              aws.ToString(msg.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(msg.MD5OfMessageAttributes),
			Attributes:             map[string]string{},
			MessageAttributes:      map[string]events.SQSMessageAttribute{},
			EventSourceARN:         m.queueARN,
			EventSource:            "aws:sqs",
			AWSRegion:              spec.Region,
		}
		for k, v := range msg.Attributes {
			rec.Attributes[k] = v
		}
		for k, v := range msg.MessageAttributes {
			rec.MessageAttributes[k] = events.SQSMessageAttribute{
				StringValue: v.StringValue, BinaryValue: v.BinaryValue,
				StringListValues: nonNil(v.StringListValues), BinaryListValues: nonNil(v.BinaryListValues),
				DataType: aws.ToString(v.DataType),
			}
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// handle invokes the function with one batch and deletes the messages that succeeded: all of
// them on success, none on a function error, all but the reported ones with
// ReportBatchItemFailures. An invalid failure report fails the whole batch, as Lambda does.
// answered, when not nil, is called once the function has answered, before the messages are
// deleted or made visible again.
func (m *sqsMapping) handle(ctx context.Context, msgs []types.Message, answered func()) {
	msgs = m.applyFilter(ctx, msgs)
	if len(msgs) == 0 {
		return
	}
	ev := m.sqsEvent(msgs)
	payload, err := json.Marshal(ev)
	if err != nil {
		m.log.Error("sqs event not encodable", "error", err)
		return
	}
	m.batches.Add(1)
	m.records.Add(int64(len(msgs)))
	trace := msgs[0].Attributes[string(types.MessageSystemAttributeNameAWSTraceHeader)]
	if trace == "" {
		trace = m.traceOfEvent(busEventID(aws.ToString(msgs[0].Body)))
	}
	start := time.Now()
	res, err := m.inv.Invoke(ctx, m.functionID, spec.Invocation{Payload: payload, TraceHeader: trace})
	answeredAt := time.Now()
	m.invoking.Add(int64(answeredAt.Sub(start)))
	defer func() { m.settling.Add(int64(time.Since(answeredAt))) }()
	if answered != nil {
		answered()
	}
	failed := map[string]bool{}
	all := func() {
		for _, msg := range msgs {
			failed[aws.ToString(msg.MessageId)] = true
		}
	}
	switch {
	case err != nil:
		m.log.Error("sqs batch invocation failed", "error", err)
		all()
	case res.Error != "":
		m.log.Warn("sqs batch function error", "errorType", res.Error, "requestId", res.RequestID)
		all()
	case m.reportFailed:
		var resp events.SQSEventResponse
		if len(res.Payload) > 0 && string(res.Payload) != "null" {
			if err := json.Unmarshal(res.Payload, &resp); err != nil {
				m.log.Warn("sqs batch response is no SQSEventResponse: whole batch failed", "error", err)
				all()
				break
			}
		}
		ids := map[string]bool{}
		for _, msg := range msgs {
			ids[aws.ToString(msg.MessageId)] = true
		}
		for _, f := range resp.BatchItemFailures {
			if !ids[f.ItemIdentifier] {
				m.log.Warn("sqs batch response reports an unknown itemIdentifier: whole batch failed", "itemIdentifier", f.ItemIdentifier)
				all()
				break
			}
			failed[f.ItemIdentifier] = true
		}
	}
	var done, again []types.Message
	for _, msg := range msgs {
		if failed[aws.ToString(msg.MessageId)] {
			again = append(again, msg)
		} else {
			done = append(done, msg)
		}
	}
	m.failed.Add(int64(len(again)))
	m.delete(ctx, done)
	if len(again) > 0 && m.opts.FailedVisibility > 0 {
		m.changeVisibility(ctx, again, m.opts.FailedVisibility)
	}
}

// applyFilter deletes the messages FilterCriteria leave out, as Lambda does, and returns the
// others. A JSON body is matched as the object it holds.
func (m *sqsMapping) applyFilter(ctx context.Context, msgs []types.Message) []types.Message {
	if len(m.filter.patterns) == 0 {
		return msgs
	}
	var pass, out []types.Message
	for i, rec := range m.sqsEvent(msgs).Records {
		obj, err := asJSONObject(rec)
		if err != nil {
			pass = append(pass, msgs[i])
			continue
		}
		var body map[string]any
		if json.Unmarshal([]byte(rec.Body), &body) == nil {
			obj["body"] = body
		}
		if m.filter.match(obj) {
			pass = append(pass, msgs[i])
		} else {
			out = append(out, msgs[i])
		}
	}
	if len(out) > 0 {
		m.filtered.Add(int64(len(out)))
		m.delete(ctx, out)
	}
	return pass
}

func (m *sqsMapping) delete(ctx context.Context, msgs []types.Message) {
	deleteMessages(ctx, m.api, m.queueURL, m.log, msgs)
}

type messageDeleter interface {
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// deleteMessages deletes received messages of the queue at queueURL, ten to a call (see settle).
func deleteMessages(ctx context.Context, api messageDeleter, queueURL string, log *slog.Logger, msgs []types.Message) {
	settle(ctx, queueURL, log, msgs, "delete", func(ctx context.Context, part []types.Message) ([]types.BatchResultErrorEntry, error) {
		in := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL)}
		for i, msg := range part {
			in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msg.ReceiptHandle})
		}
		out, err := api.DeleteMessageBatch(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.Failed, nil
	})
}

// changeVisibility makes messages visible again after d.
func (m *sqsMapping) changeVisibility(ctx context.Context, msgs []types.Message, d time.Duration) {
	secs := int32(d / time.Second) // #nosec G115 -- seconds of a Duration fit in int32 up to 68 years; SQS refuses over 12 hours itself
	settle(ctx, m.queueURL, m.log, msgs, "visibility change", func(ctx context.Context, part []types.Message) ([]types.BatchResultErrorEntry, error) {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(m.queueURL)}
		for i, msg := range part {
			in.Entries = append(in.Entries, types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: secs})
		}
		out, err := m.api.ChangeMessageVisibilityBatch(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.Failed, nil
	})
}

// settle ends the runner's hold on received messages with a batch call (a delete or a visibility
// change whose entries are named by their index in part), ten at a time: a failed call, and
// entries that failed on SQS's side, are sent again.
// A message whose call never got through stays in flight until its visibility timeout, and on a
// FIFO queue holds its whole group back until then, so every such message is logged.
func settle(ctx context.Context, queueURL string, log *slog.Logger, msgs []types.Message, what string,
	call func(ctx context.Context, part []types.Message) ([]types.BatchResultErrorEntry, error)) {
	for _, chunk := range batch.Chunks(msgs, 10, 0, nil) {
		left, err := batch.Retry(ctx, deletePolicy, chunk, func(ctx context.Context, part []types.Message) ([]types.Message, error) {
			failed, err := call(ctx, part)
			if err != nil {
				return nil, err
			}
			var again []types.Message
			for _, f := range failed {
				if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= 0 && i < len(part) && !f.SenderFault {
					again = append(again, part[i])
					continue
				}
				// Not retried: SQS would refuse it again (a receipt handle no longer valid).
				log.Warn("sqs "+what+" refused: the message comes back after its visibility timeout",
					"queue", queueURL, "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
			}
			return again, nil
		})
		if err != nil {
			log.Error("sqs "+what+" failed: the messages come back after their visibility timeout", "queue", queueURL,
				"messages", len(left), "error", err)
		}
	}
}

// busEventID is the ID of the EventBridge event a message holds ("" for any other body): a queue
// the rule targets delivers the event's trace as the message's AWSTraceHeader on AWS, not on moto.
func busEventID(body string) string {
	var ev struct {
		ID         string `json:"id"`
		DetailType string `json:"detail-type"`
	}
	if json.Unmarshal([]byte(body), &ev) != nil || ev.DetailType == "" {
		return ""
	}
	return ev.ID
}

// waitSeconds is a ReceiveMessage wait: whole seconds, at least one unless wait is 0 (a short
// poll).
func waitSeconds(wait time.Duration) int32 {
	if wait <= 0 {
		return 0
	}
	return int32(max(1, wait.Round(time.Second)/time.Second)) // #nosec G115 -- seconds of a Duration fit in int32 up to 68 years, and SQS itself refuses waits over 20 s
}
