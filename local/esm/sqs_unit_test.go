package esm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// recordingSQS keeps the receipt handles of every delete and visibility change asked of it.
type recordingSQS struct {
	deleted []string
	exposed []string
}

func (r *recordingSQS) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	return &sqs.ReceiveMessageOutput{}, nil
}

func (r *recordingSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if aws.ToString(in.QueueUrl) != "http://q/123456789012/ingest" {
		return nil, errors.New("wrong queue " + aws.ToString(in.QueueUrl))
	}
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		r.deleted = append(r.deleted, aws.ToString(e.ReceiptHandle))
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (r *recordingSQS) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	for _, e := range in.Entries {
		r.exposed = append(r.exposed, aws.ToString(e.ReceiptHandle))
	}
	return &sqs.ChangeMessageVisibilityBatchOutput{}, nil
}

// Which messages of a batch are deleted, for each kind of answer the function can give.
func TestSQSHandleDeletes(t *testing.T) {
	report := func(ids ...string) spec.Result {
		var resp events.SQSEventResponse
		for _, id := range ids {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		b, _ := json.Marshal(resp)
		return spec.Result{Payload: b}
	}
	tests := []struct {
		name         string
		reportFailed bool
		res          spec.Result
		err          error
		wantDeleted  []string
		wantExposed  []string
	}{
		{"success deletes all", true, report(), nil, []string{"r1", "r2", "r3"}, nil},
		{"null response deletes all", true, spec.Result{Payload: []byte("null")}, nil, []string{"r1", "r2", "r3"}, nil},
		{"reported failures stay", true, report("m2", "m3"), nil, []string{"r1"}, []string{"r2", "r3"}},
		{"function error deletes none", true, functionError, nil, nil, []string{"r1", "r2", "r3"}},
		{"invoke failure deletes none", true, spec.Result{}, errors.New("no bootstrap"), nil, []string{"r1", "r2", "r3"}},
		{"unknown itemIdentifier fails the batch", true, report("m2", "nope"), nil, nil, []string{"r1", "r2", "r3"}},
		{"not a response fails the batch", true, spec.Result{Payload: []byte(`"ok"`)}, nil, nil, []string{"r1", "r2", "r3"}},
		{"without ReportBatchItemFailures a report is ignored", false, report("m2"), nil, []string{"r1", "r2", "r3"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &recordingSQS{}
			fn := &fakeFunction{answer: func(int, spec.Invocation) (spec.Result, error) { return tc.res, tc.err }}
			m := &sqsMapping{
				mappingBase: mappingBase{functionID: "EventStorerFunction", inv: fn, counters: &counters{},
					opts: Options{FailedVisibility: 2e9}, log: slog.New(slog.DiscardHandler)},
				api: api, queueURL: "http://q/123456789012/ingest", queueARN: "arn:aws:sqs:us-east-1:123456789012:ingest",
				reportFailed: tc.reportFailed, filter: &filter{},
			}
			var msgs []types.Message
			for _, id := range []string{"1", "2", "3"} {
				msgs = append(msgs, types.Message{MessageId: aws.String("m" + id), ReceiptHandle: aws.String("r" + id), Body: aws.String("b" + id)})
			}
			m.handle(t.Context(), msgs, nil)
			if !slices.Equal(api.deleted, tc.wantDeleted) {
				t.Errorf("deleted %v, want %v", api.deleted, tc.wantDeleted)
			}
			if !slices.Equal(api.exposed, tc.wantExposed) {
				t.Errorf("made visible again %v, want %v", api.exposed, tc.wantExposed)
			}
			if got := m.counts().Failed; got != int64(len(tc.wantExposed)) {
				t.Errorf("failed count %d, want %d", got, len(tc.wantExposed))
			}
		})
	}
}

// flakySQS fails the first calls of deletes and visibility changes as script says, then succeeds,
// and keeps the receipt handles each operation got through with.
type flakySQS struct {
	recordingSQS
	script []flakyAnswer // one per call, in order; calls beyond it succeed
	calls  int
}

// flakyAnswer is how one call fails: as a whole (err), or the entries of failed by their ids.
type flakyAnswer struct {
	err         error
	failed      []string
	senderFault bool
}

func (f *flakySQS) answer(ids []string) (ok []string, failed []types.BatchResultErrorEntry, err error) {
	f.calls++
	if f.calls > len(f.script) {
		return ids, nil, nil
	}
	a := f.script[f.calls-1]
	if a.err != nil {
		return nil, nil, a.err
	}
	for _, id := range ids {
		if slices.Contains(a.failed, id) {
			failed = append(failed, types.BatchResultErrorEntry{Id: aws.String(id), Code: aws.String("InternalError"), SenderFault: a.senderFault})
		} else {
			ok = append(ok, id)
		}
	}
	return ok, failed, nil
}

func (f *flakySQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	failed, err := f.settle(entryHandles(in.Entries, func(e types.DeleteMessageBatchRequestEntry) (*string, *string) { return e.Id, e.ReceiptHandle }), &f.deleted)
	if err != nil {
		return nil, err
	}
	return &sqs.DeleteMessageBatchOutput{Failed: failed}, nil
}

func (f *flakySQS) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	failed, err := f.settle(entryHandles(in.Entries, func(e types.ChangeMessageVisibilityBatchRequestEntry) (*string, *string) {
		return e.Id, e.ReceiptHandle
	}), &f.exposed)
	if err != nil {
		return nil, err
	}
	return &sqs.ChangeMessageVisibilityBatchOutput{Failed: failed}, nil
}

// entryHandles are the receipt handles of a batch call's entries, by entry id.
func entryHandles[E any](entries []E, idHandle func(E) (id, handle *string)) map[string]string {
	handles := map[string]string{}
	for _, e := range entries {
		id, handle := idHandle(e)
		handles[aws.ToString(id)] = aws.ToString(handle)
	}
	return handles
}

// settle answers a batch call whose entries are handles by entry id: the receipt handles of the
// entries that succeed are added to done.
func (f *flakySQS) settle(handles map[string]string, done *[]string) ([]types.BatchResultErrorEntry, error) {
	ids := slices.Sorted(maps.Keys(handles))
	ok, failed, err := f.answer(ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ok {
		*done = append(*done, handles[id])
	}
	return failed, nil
}

// Every message the runner received must end deleted or visible again: a message left in flight
// holds its FIFO group (every later record of its entity) for the queue's visibility timeout. A
// failed call and the entries SQS failed on its side are sent again; entries refused as the
// caller's fault are not (SQS would refuse them again).
func TestSQSSettleRetriesFailures(t *testing.T) {
	awsfake.NoRetryWait(t)
	tests := []struct {
		name      string
		res       spec.Result // the function's answer: success deletes, an error makes visible again
		script    []flakyAnswer
		wantDone  []string // receipt handles deleted or made visible, sorted
		wantCalls int
	}{
		{"visibility change: failed entries sent again", functionError,
			[]flakyAnswer{{failed: []string{"0", "2"}}}, []string{"r1", "r2", "r3"}, 2},
		{"visibility change: failed call sent again", functionError,
			[]flakyAnswer{{err: errors.New("connection reset")}, {failed: []string{"1"}}}, []string{"r1", "r2", "r3"}, 3},
		{"visibility change: refused entries not sent again", functionError,
			[]flakyAnswer{{failed: []string{"1"}, senderFault: true}}, []string{"r1", "r3"}, 1},
		{"delete: failed entries sent again", spec.Result{},
			[]flakyAnswer{{failed: []string{"1"}}, {err: errors.New("throttled")}}, []string{"r1", "r2", "r3"}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &flakySQS{script: tc.script}
			fn := &fakeFunction{answer: func(int, spec.Invocation) (spec.Result, error) { return tc.res, nil }}
			m := &sqsMapping{
				mappingBase: mappingBase{functionID: "EventStorerFunction", inv: fn, counters: &counters{},
					opts: Options{FailedVisibility: 2 * time.Second}, log: slog.New(slog.DiscardHandler)},
				api: api, queueURL: "http://q/123456789012/ingest.fifo", queueARN: "arn:aws:sqs:us-east-1:123456789012:ingest.fifo",
				fifo: true, filter: &filter{},
			}
			var msgs []types.Message
			for _, id := range []string{"1", "2", "3"} {
				msgs = append(msgs, types.Message{MessageId: aws.String("m" + id), ReceiptHandle: aws.String("r" + id), Body: aws.String("b" + id)})
			}
			m.handle(t.Context(), msgs, nil)
			done := slices.Sorted(slices.Values(append(api.deleted, api.exposed...)))
			if !slices.Equal(done, tc.wantDone) {
				t.Errorf("deleted or made visible %v, want %v", done, tc.wantDone)
			}
			if api.calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", api.calls, tc.wantCalls)
			}
		})
	}
}

// groupSQS is a FIFO queue of one group: the first receive hands out m1; once m1's delete is
// asked for, the group is free on SQS's side and the next receive hands out m2. It holds that
// delete until the runner has run m2 or sent it back, and counts what was sent back.
type groupSQS struct {
	recordingSQS
	mu       sync.Mutex
	queue    []types.Message
	progress chan struct{} // m2 run or sent back
	freed    bool          // m1's delete was asked for
}

func groupMessage(n string) types.Message {
	return types.Message{MessageId: aws.String("m" + n), ReceiptHandle: aws.String("r" + n), Body: aws.String("b" + n),
		Attributes: map[string]string{string(types.MessageSystemAttributeNameMessageGroupId): "g"}}
}

func (q *groupSQS) ReceiveMessage(ctx context.Context, _ *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	msgs := q.queue
	q.queue = nil
	q.mu.Unlock()
	if len(msgs) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: msgs}, nil
}

func (q *groupSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	first := !q.freed
	if first {
		q.freed = true
		q.queue = append(q.queue, groupMessage("2"))
	}
	q.mu.Unlock()
	if first {
		select {
		case <-q.progress:
		case <-time.After(5 * time.Second):
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.recordingSQS.DeleteMessageBatch(ctx, in, opts...)
}

func (q *groupSQS) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range in.Entries {
		q.queue = append(q.queue, groupMessage(strings.TrimPrefix(aws.ToString(e.ReceiptHandle), "r")))
	}
	select {
	case q.progress <- struct{}{}:
	default:
	}
	return q.recordingSQS.ChangeMessageVisibilityBatch(ctx, in, opts...)
}

// A FIFO group is free for its next messages as soon as its batch's function has answered: SQS
// withholds the group until the batch is deleted, and once it is, the next messages must run,
// not be sent back (each bounce is a receive that counts towards the queue's DLQ).
func TestSQSFIFONextBatchOfAGroupRunsOnceDeleted(t *testing.T) {
	api := &groupSQS{queue: []types.Message{groupMessage("1")}, progress: make(chan struct{}, 1)}
	fn := &fakeFunction{answer: func(n int, _ spec.Invocation) (spec.Result, error) {
		if n == 2 {
			select {
			case api.progress <- struct{}{}:
			default:
			}
		}
		return spec.Result{}, nil
	}}
	m := fifoMapping(api, fn)
	m.opts.PollWait, m.batchSize = time.Second, 10
	stop := runFIFO(t, m)
	eventually(t, "both messages run", func() bool { return len(fn.snapshot()) >= 2 })
	stop()
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.exposed) > 0 {
		t.Errorf("m2 sent back %d times: the group was still held when SQS handed out its next message", len(api.exposed))
	}
	// m1's delete is held until m2 has run, so their order says nothing.
	if got := slices.Sorted(slices.Values(api.deleted)); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("deleted %v, want r1 and r2", got)
	}
}

// motoGroupSQS is a FIFO queue that withholds a group in flight as moto does: a receive takes
// the groups in flight once, when it starts, so a long poll begun while a group is in flight
// does not hand out its messages even once the group is released meanwhile. A delete lands a
// moment after the function answered, as over the network (20 ms, or slow for a group).
type motoGroupSQS struct {
	recordingSQS
	mu       sync.Mutex
	queue    []types.Message
	inFlight map[string]bool   // by group
	groupOf  map[string]string // receipt handle -> group
	slow     map[string]time.Duration
}

func groupOf(m types.Message) string {
	return m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
}

func (q *motoGroupSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	if q.inFlight == nil {
		q.inFlight, q.groupOf = map[string]bool{}, map[string]string{}
	}
	busy := maps.Clone(q.inFlight)
	q.mu.Unlock()
	end := time.Now().Add(time.Duration(in.WaitTimeSeconds) * time.Second)
	for {
		q.mu.Lock()
		var out, rest []types.Message
		for _, m := range q.queue {
			if g := groupOf(m); busy[g] || len(out) == int(in.MaxNumberOfMessages) {
				rest = append(rest, m)
			} else {
				out = append(out, m)
				q.inFlight[g], q.groupOf[aws.ToString(m.ReceiptHandle)] = true, g
			}
		}
		q.queue = rest
		q.mu.Unlock()
		if len(out) > 0 || !time.Now().Before(end) || ctx.Err() != nil {
			return &sqs.ReceiveMessageOutput{Messages: out}, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (q *motoGroupSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	q.mu.Lock()
	g := q.groupOf[aws.ToString(in.Entries[0].ReceiptHandle)]
	q.mu.Unlock()
	time.Sleep(cmp.Or(q.slow[g], 20*time.Millisecond))
	q.mu.Lock()
	delete(q.inFlight, g)
	q.mu.Unlock()
	return q.recordingSQS.DeleteMessageBatch(ctx, in, opts...)
}

// fifoMapping is a FIFO queue's mapping to fn of batches of one message, polling as long as SQS
// allows (20 s).
func fifoMapping(api sqsAPI, fn *fakeFunction) *sqsMapping {
	return &sqsMapping{
		mappingBase: mappingBase{functionID: "EventStorerFunction", inv: fn, counters: &counters{},
			opts: Options{PollWait: 20 * time.Second, FailedVisibility: 2 * time.Second}, log: slog.New(slog.DiscardHandler)},
		api: api, queueURL: "http://q/123456789012/ingest", queueARN: "arn:aws:sqs:us-east-1:123456789012:ingest.fifo",
		batchSize: 1, pollers: 5, fifo: true, filter: &filter{},
	}
}

// runFIFO runs m's FIFO loop until the returned stop is called, which waits for it to end.
func runFIFO(t *testing.T, m *sqsMapping) (stop func()) {
	stopped, done := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		defer close(done)
		m.runFIFO(ctx, stopped)
	}()
	return func() {
		close(stopped)
		cancel()
		<-done
	}
}

// A busy entity's next batch runs as soon as its group is released, not when a long poll begun
// while the group was in flight ends: on SQS a long poll hands out the group once it is free.
// The polls here wait 20 s, SQS's longest, so a runner that waits them out misses eventually's 30 s.
func TestSQSFIFOReceivesAReleasedGroupWithoutWaitingOutAPoll(t *testing.T) {
	api := &motoGroupSQS{queue: []types.Message{groupMessage("1"), groupMessage("2"), groupMessage("3")}}
	fn := &fakeFunction{}
	m := fifoMapping(api, fn)
	stop := runFIFO(t, m)
	eventually(t, "the group's three messages run one after another", func() bool { return len(fn.snapshot()) >= 3 })
	stop()
	// Each of the three deletes takes 20 ms: the mapping counts them as settling, apart from
	// the invocations.
	if c := m.snapshot(); c.Batches != 3 || c.Settling < 60*time.Millisecond || c.Invoking <= 0 || c.Invoking >= c.Settling {
		t.Errorf("counts %+v: want 3 batches, settling at least 60ms and invoking less than that", c)
	}
}

// A group whose function has answered stays withheld until its messages are deleted, so the
// mapping must not begin a long poll meanwhile, even when another group's batch settles first:
// here C1 is answered before A1 but deleted after it, and C2 must still run within moments, not
// after a 20 s poll.
func TestSQSFIFODoesNotLongPollWhileAnAnsweredGroupIsUndeleted(t *testing.T) {
	message := func(g, n string) types.Message {
		return types.Message{MessageId: aws.String(g + n), ReceiptHandle: aws.String(g + n), Body: aws.String(g + n),
			Attributes: map[string]string{string(types.MessageSystemAttributeNameMessageGroupId): g}}
	}
	api := &motoGroupSQS{queue: []types.Message{message("A", "1"), message("C", "1"), message("C", "2")},
		slow: map[string]time.Duration{"C": 400 * time.Millisecond}}
	fn := &fakeFunction{answer: func(_ int, inv spec.Invocation) (spec.Result, error) {
		switch {
		case strings.Contains(string(inv.Payload), `"A1"`):
			time.Sleep(300 * time.Millisecond)
		case strings.Contains(string(inv.Payload), `"C1"`):
			time.Sleep(100 * time.Millisecond)
		}
		return spec.Result{}, nil
	}}
	start := time.Now()
	stop := runFIFO(t, fifoMapping(api, fn))
	eventually(t, "A1, C1 and C2 run", func() bool { return len(fn.snapshot()) >= 3 })
	took := time.Since(start)
	stop()
	if took > 5*time.Second {
		t.Errorf("C2 ran %s after the start: the mapping waited out a long poll begun before C1's delete", took.Round(time.Millisecond))
	}
}
