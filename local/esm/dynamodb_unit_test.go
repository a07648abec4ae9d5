package esm

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/local/spec"
)

// Records older than MaximumRecordAgeInSeconds are given up without an invocation; younger
// ones are retried until MaximumRetryAttempts.
func TestStreamRecordAgeAndRetries(t *testing.T) {
	tests := []struct {
		name       string
		age        time.Duration
		maxAge     time.Duration
		maxRetries int
		answer     spec.Result
		wantCalls  int
		wantDead   int64
	}{
		{"too old: no invocation", 2 * time.Hour, time.Hour, 5, spec.Result{}, 0, 2},
		{"young and failing: 1 + MaximumRetryAttempts calls", time.Minute, time.Hour, 2, functionError, 3, 2},
		{"young and succeeding: one call", time.Minute, time.Hour, 2, spec.Result{}, 1, 0},
		{"no age limit", 48 * time.Hour, 0, 0, spec.Result{}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn := &fakeFunction{answer: func(int, spec.Invocation) (spec.Result, error) { return tc.answer, nil }}
			m := &streamMapping{
				mappingBase: mappingBase{functionID: "EventEmitterFunction", inv: fn, counters: &counters{},
					opts: Options{RetryBackoff: time.Millisecond}, log: slog.New(slog.DiscardHandler)},
				maxRetries: tc.maxRetries, maxAge: tc.maxAge,
			}
			var batch []pending
			for i := range 2 {
				rec := events.DynamoDBEventRecord{EventName: "INSERT", Change: events.DynamoDBStreamRecord{SequenceNumber: fmt.Sprint(100 + i)}}
				batch = append(batch, pending{rec: rec, created: time.Now().Add(-tc.age)})
			}
			m.process(t.Context(), "shardId-1", batch)
			if got := len(fn.snapshot()); got != tc.wantCalls {
				t.Errorf("%d invocations, want %d", got, tc.wantCalls)
			}
			if got := m.counts().DeadLettered; got != tc.wantDead {
				t.Errorf("given up %d records, want %d", got, tc.wantDead)
			}
		})
	}
}
