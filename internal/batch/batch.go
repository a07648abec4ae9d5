// Package batch splits work into calls at the AWS batch limits and retries the part of a batch
// call that failed, with capped exponential backoff and full jitter. A batch API that answers 200
// can still have refused some entries (SQS Failed, DynamoDB UnprocessedItems, EventBridge
// FailedEntryCount); those entries come back here and are never ignored.
package batch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy says how often and how patiently the failed part of a batch is sent again.
type Policy struct {
	Attempts int           // calls in all, the first one included
	Base     time.Duration // backoff before the second call
	Max      time.Duration // cap of one backoff
}

// DefaultPolicy fits a Lambda handler with a timeout of tens of seconds: at most about three
// seconds of waiting before the failure is reported to the trigger, which retries in its turn.
var DefaultPolicy = Policy{Attempts: 6, Base: 50 * time.Millisecond, Max: 1 * time.Second}

// DeadlineReserve is the time a handler keeps, at the end of an invocation, to answer with what
// was done: retries stop that much before Lambda's deadline.
const DeadlineReserve = 500 * time.Millisecond

// BeforeDeadline returns ctx with its deadline moved DeadlineReserve earlier, so that a handler's
// retries end in time for it to answer (a partial batch response, or an error that says why)
// rather than in a timeout that fails the whole batch and says nothing. Without a deadline, ctx
// is returned as it is.
func BeforeDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, d.Add(-DeadlineReserve))
}

// Sleep waits for d or until ctx is done before a retry; tests replace it to run without waiting.
var Sleep = Wait

// Wait waits for d (nothing when d <= 0) or until ctx is done. It is Sleep that tests cannot
// replace, for waits that are not retries, such as a producer keeping its rate.
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff is the wait before call number attempt (1 for the first retry): full jitter over a
// capped exponential.
func (p Policy) Backoff(attempt int) time.Duration {
	d := p.Base << (attempt - 1)
	if d <= 0 || d > p.Max {
		d = p.Max
	}
	return time.Duration(rand.Int64N(int64(d) + 1)) // #nosec G404 -- backoff jitter spreads retries; it guards no secret
}

// ErrExhausted is wrapped by Retry's error when entries were still failing after the last call.
var ErrExhausted = errors.New("batch entries still failing after retries")

// Retry calls send with items, then again with the entries send reports as failed, until none
// fail or the policy's attempts are spent. send returns the entries to send again and, where the
// whole call failed, an error (then every entry it was given is sent again). Retry returns the
// entries that never got through, with an error that says why; nil when all did.
func Retry[T any](ctx context.Context, p Policy, items []T, send func(context.Context, []T) (failed []T, err error)) ([]T, error) {
	pending := items
	var lastErr error
	for attempt := 1; len(pending) > 0; attempt++ {
		failed, err := send(ctx, pending)
		if err != nil {
			failed, lastErr = pending, err
		} else if len(failed) > 0 {
			lastErr = nil
		}
		pending = failed
		if len(pending) == 0 {
			return nil, nil
		}
		if attempt >= p.Attempts {
			break
		}
		if err := Sleep(ctx, p.Backoff(attempt)); err != nil {
			return pending, fmt.Errorf("%d entries not sent: %w", len(pending), err)
		}
	}
	if lastErr != nil {
		return pending, fmt.Errorf("%d entries not sent after %d calls: %w: %w", len(pending), p.Attempts, ErrExhausted, lastErr)
	}
	return pending, fmt.Errorf("%d entries not sent after %d calls: %w", len(pending), p.Attempts, ErrExhausted)
}

// Chunks splits items into groups of at most max entries and at most maxBytes in all, in order,
// where size tells an entry's size as the API counts it. maxBytes <= 0 means no size limit. An
// entry larger than maxBytes on its own gets a chunk of its own: the API's answer for it is the
// caller's to report.
func Chunks[T any](items []T, max, maxBytes int, size func(T) int) [][]T {
	var out [][]T
	start, bytes := 0, 0
	for i, it := range items {
		n := 0
		if maxBytes > 0 {
			n = size(it)
		}
		if i > start && (i-start == max || (maxBytes > 0 && bytes+n > maxBytes)) {
			out = append(out, items[start:i:i])
			start, bytes = i, 0
		}
		bytes += n
	}
	if start < len(items) {
		out = append(out, items[start:len(items):len(items)])
	}
	return out
}
