package generate

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/batch"
)

// Destination takes records one batch call at a time.
type Destination interface {
	// Limits are the most records and bytes (of record data) one call may carry.
	Limits() (records, bytes int)
	// Put makes one batch call. It returns the records the call refused, to be sent again, with
	// the reason the service gave for one of them; or an error when the whole call failed (then
	// all are sent again, unless the error is Permanent).
	Put(ctx context.Context, records []Record) (failed []Record, why string, err error)
}

// PermanentError is a failed call that sending again cannot mend (no such stream, access
// denied, no endpoint answering): the sender stops at once instead of backing off for minutes.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// SendPolicy is how patiently refused records are sent again: a producer has no one to hand
// them to, so it waits out throttling for minutes rather than giving up after seconds.
var SendPolicy = batch.Policy{Attempts: 40, Base: 100 * time.Millisecond, Max: 5 * time.Second}

// DefaultLinger is how long a partial batch waits for more records when a rate is set, so that
// a slow rate still sends promptly and a fast one still fills its batches.
const DefaultLinger = 200 * time.Millisecond

// SendOptions say how fast and how patiently to send.
type SendOptions struct {
	Rate     float64       // records per second; 0 sends as fast as the destination takes them
	Linger   time.Duration // 0 means DefaultLinger
	Policy   batch.Policy  // zero means SendPolicy
	Progress func(Stats)   // called after each batch call has got through, with the totals
}

// Stats count what a Send did. Counts of kinds are of records accepted by the destination.
type Stats struct {
	Generated  int            `json:"generated"`  // records handed to Send
	Sent       int            `json:"sent"`       // records the destination accepted
	Resent     int            `json:"resent"`     // sends of a record that a call had refused
	Unsent     int            `json:"unsent"`     // records still refused when retries ran out
	Calls      int            `json:"calls"`      // batch calls made, retries included
	Bytes      int64          `json:"bytes"`      // record data accepted
	ByType     map[string]int `json:"byType"`     // valid records accepted, by type (raw included)
	Invalid    int            `json:"invalid"`    // invalid records accepted (duplicates included)
	Duplicates int            `json:"duplicates"` // duplicates accepted
	Elapsed    time.Duration  `json:"-"`
}

func (s *Stats) accept(r Record) {
	s.Sent++
	s.Bytes += int64(len(r.Data))
	if r.Duplicate() {
		s.Duplicates++
	}
	if !r.Valid() {
		s.Invalid++
		return
	}
	s.ByType[r.Type]++
}

func (s Stats) clone() Stats {
	s.ByType = maps.Clone(s.ByType)
	return s
}

// Send sends records to dst in batches at dst's limits, paced to opts.Rate, and sends the
// records a call refuses again with backoff until they get through or the policy is spent. It
// returns the counts and, when records were left unsent, an error saying how many and why.
func Send(ctx context.Context, dst Destination, records iter.Seq[Record], opts SendOptions) (Stats, error) {
	if opts.Linger <= 0 {
		opts.Linger = DefaultLinger
	}
	if opts.Policy.Attempts == 0 {
		opts.Policy = SendPolicy
	}
	s := &sender{dst: dst, opts: opts, stats: Stats{ByType: make(map[string]int)}}
	s.maxRecords, s.maxBytes = dst.Limits()
	start := time.Now()
	err := s.run(ctx, records, start)
	s.stats.Elapsed = time.Since(start)
	return s.stats.clone(), err
}

type sender struct {
	dst                  Destination
	opts                 SendOptions
	maxRecords, maxBytes int
	stats                Stats

	pending      []Record
	pendingBytes int
	pendingSince time.Time
}

func (s *sender) run(ctx context.Context, records iter.Seq[Record], start time.Time) error {
	var interval time.Duration
	if s.opts.Rate > 0 {
		interval = time.Duration(float64(time.Second) / s.opts.Rate)
	}
	n := 0
	for r := range records {
		if err := ctx.Err(); err != nil {
			return s.stopped(err)
		}
		if interval > 0 {
			// Record n is due n intervals after the start: pacing against the start, not the
			// previous record, keeps the rate exact however long a call takes.
			due := start.Add(time.Duration(n) * interval)
			if wait := time.Until(due); wait > 0 {
				if len(s.pending) > 0 && (wait >= s.opts.Linger || time.Since(s.pendingSince) >= s.opts.Linger) {
					if err := s.flush(ctx); err != nil {
						return err
					}
				}
				// batch.Wait, not batch.Sleep: tests that skip the retry backoff must still see the rate kept.
				if err := batch.Wait(ctx, time.Until(due)); err != nil {
					return s.stopped(err)
				}
			}
		}
		if len(s.pending) > 0 && (len(s.pending) == s.maxRecords || s.pendingBytes+len(r.Data) > s.maxBytes) {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
		if len(s.pending) == 0 {
			s.pendingSince = time.Now()
		}
		s.pending = append(s.pending, r)
		s.pendingBytes += len(r.Data)
		s.stats.Generated++
		n++
	}
	return s.flush(ctx)
}

// stopped ends a run cut short by its context: the batch being gathered was never sent, and
// counts as unsent so that the totals add up.
func (s *sender) stopped(err error) error {
	s.stats.Unsent += len(s.pending)
	s.pending, s.pendingBytes = nil, 0
	return fmt.Errorf("send stopped after %d records were sent: %w", s.stats.Sent, err)
}

// flush sends the pending batch, and the refused part of it again until it gets through.
func (s *sender) flush(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	batchRecords := s.pending
	s.pending, s.pendingBytes = nil, 0

	// A permanent error cancels the retry loop's context so that it stops backing off at once.
	retryCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	first := true
	refusedFor := "" // the service's reason for the last refusal, for the error when retries run out
	left, err := batch.Retry(retryCtx, s.opts.Policy, batchRecords, func(ctx context.Context, rs []Record) ([]Record, error) {
		if err := context.Cause(ctx); err != nil {
			return rs, err
		}
		if !first {
			s.stats.Resent += len(rs)
		}
		first = false
		s.stats.Calls++
		failed, why, err := s.dst.Put(ctx, rs)
		if err != nil {
			if perm := (*PermanentError)(nil); errors.As(err, &perm) {
				cancel(err)
			}
			return rs, err
		}
		if len(failed) > 0 {
			refusedFor = why
		}
		refused := make(map[int]bool, len(failed))
		for _, f := range failed {
			refused[f.Seq] = true
		}
		for _, r := range rs {
			if !refused[r.Seq] {
				s.stats.accept(r)
			}
		}
		if s.opts.Progress != nil {
			s.opts.Progress(s.stats.clone())
		}
		return failed, nil
	})
	if err == nil {
		return nil
	}
	s.stats.Unsent += len(left)
	if cause := context.Cause(retryCtx); cause != nil && ctx.Err() == nil {
		err = cause
	}
	if refusedFor != "" && errors.Is(err, batch.ErrExhausted) {
		err = fmt.Errorf("%w (last refused: %s)", err, refusedFor)
	}
	return fmt.Errorf("%d of %d records of a batch not sent: %w", len(left), len(batchRecords), err)
}
