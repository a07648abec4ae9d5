// Package emit turns the event store's new items into integration events: it rebuilds the
// canonical record from a stream image and puts one DataInserted event per record on the event
// bus, in batches at EventBridge's limits, with refused entries sent again.
package emit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// EventBridge's PutEvents limits: entries per call, and the size of a call's entries as
// EntrySize counts them.
const (
	MaxEntries      = 10
	MaxRequestBytes = 256 * 1024
)

// ErrTooLarge is wrapped by the error of an event that EventBridge would refuse for its size,
// however it is batched.
var ErrTooLarge = errors.New("event larger than EventBridge's 256 KB limit")

// concurrency is how many PutEvents calls one Publish makes at a time: a stream batch of 100
// records is 10 calls, which in sequence would spend most of the invocation waiting.
const concurrency = 4

// Event is one integration event to put.
type Event struct {
	Detail      []byte // the canonical record's JSON
	TraceHeader string // the ingest's X-Ray trace header, "" when it was not traced
}

// EventPutter is the EventBridge operation a Publisher needs, as an *eventbridge.Client has it.
type EventPutter interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventPutter = (*eventbridge.Client)(nil)

// Publisher puts DataInserted events on one bus.
type Publisher struct {
	client   EventPutter
	bus      string
	source   string
	resource string
	policy   batch.Policy
}

// NewPublisher returns a Publisher putting events with source on the bus, naming the event
// store table (its ARN) as the events' resource, retrying with batch.DefaultPolicy.
func NewPublisher(client EventPutter, bus, source, tableARN string) *Publisher {
	return &Publisher{client: client, bus: bus, source: source, resource: tableARN, policy: batch.DefaultPolicy}
}

// WithPolicy returns a copy of p that retries with policy.
func (p *Publisher) WithPolicy(policy batch.Policy) *Publisher {
	c := *p
	c.policy = policy
	return &c
}

// EntrySize is the size of an entry as EventBridge counts it against the 256 KB limit of a
// PutEvents call: Source, DetailType, Detail and Resources in UTF-8 bytes, and 14 for a Time.
func EntrySize(e types.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	for _, r := range e.Resources {
		n += len(r)
	}
	if e.Time != nil {
		n += 14
	}
	return n
}

// entry is a request entry and the index of the event it came from.
type entry struct {
	index int
	req   types.PutEventsRequestEntry
	size  int
}

// Publish puts events, at most MaxEntries and MaxRequestBytes a call, and sends again the
// entries EventBridge refuses. It returns the indexes (ascending) of the events that were not
// put, and an error saying why; nil and nil when all were.
func (p *Publisher) Publish(ctx context.Context, events []Event) ([]int, error) {
	reqs := make([]types.PutEventsRequestEntry, len(events))
	resources := []string{p.resource}
	for i, ev := range events {
		reqs[i] = types.PutEventsRequestEntry{
			Source:     &p.source,
			DetailType: aws.String(record.DetailType),
			Detail:     aws.String(string(ev.Detail)),
			Resources:  resources,
		}
		if ev.TraceHeader != "" {
			reqs[i].TraceHeader = aws.String(ev.TraceHeader)
		}
	}
	return p.PutEntries(ctx, reqs)
}

// PutEntries puts entries that are already built (their source, detail-type, detail, resources
// and time as they are) on p's bus, as Publish puts its events: at most MaxEntries and
// MaxRequestBytes a call, sending again the entries EventBridge refuses. It returns the indexes
// (ascending) of the entries that were not put, and an error saying why; nil and nil when all
// were. Replaying an event taken off the bus goes this way.
func (p *Publisher) PutEntries(ctx context.Context, reqs []types.PutEventsRequestEntry) ([]int, error) {
	var (
		todo     = make([]entry, 0, len(reqs))
		failed   []int
		problems []error
	)
	for i, req := range reqs {
		e := entry{index: i, req: req}
		e.req.EventBusName = &p.bus
		if e.size = EntrySize(e.req); e.size > MaxRequestBytes {
			failed = append(failed, i)
			problems = append(problems, fmt.Errorf("event %d: %d bytes: %w", i, e.size, ErrTooLarge))
			continue
		}
		todo = append(todo, e)
	}

	chunks := batch.Chunks(todo, MaxEntries, MaxRequestBytes, func(e entry) int { return e.size })
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, concurrency)
	)
	for _, chunk := range chunks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			left, err := batch.Retry(ctx, p.policy, chunk, p.send)
			mu.Lock()
			defer mu.Unlock()
			for _, e := range left {
				failed = append(failed, e.index)
			}
			if err != nil {
				problems = append(problems, fmt.Errorf("put events on %s: %w", p.bus, err))
			}
		})
	}
	wg.Wait()
	slices.Sort(failed)
	return failed, errors.Join(problems...)
}

// send makes one PutEvents call and returns the entries EventBridge refused.
func (p *Publisher) send(ctx context.Context, es []entry) ([]entry, error) {
	reqs := make([]types.PutEventsRequestEntry, len(es))
	for i, e := range es {
		reqs[i] = e.req
	}
	out, err := p.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: reqs})
	if err != nil {
		return nil, err
	}
	if len(out.Entries) != len(es) {
		if out.FailedEntryCount == 0 {
			return nil, nil
		}
		// The answer does not say which entries failed: send them all again rather than
		// report an event that may not have been put.
		return es, nil
	}
	var left []entry
	for i, r := range out.Entries {
		if r.ErrorCode != nil {
			left = append(left, es[i])
		}
	}
	return left, nil
}
