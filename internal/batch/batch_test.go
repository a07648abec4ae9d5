package batch

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func noSleep(t *testing.T) *[]time.Duration {
	t.Helper()
	var waits []time.Duration
	old := Sleep
	Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	t.Cleanup(func() { Sleep = old })
	return &waits
}

func TestRetrySendsOnlyTheFailedPartAgain(t *testing.T) {
	waits := noSleep(t)
	var calls [][]int
	left, err := Retry(t.Context(), DefaultPolicy, []int{1, 2, 3, 4}, func(_ context.Context, in []int) ([]int, error) {
		calls = append(calls, slices.Clone(in))
		switch len(calls) {
		case 1:
			return []int{2, 4}, nil
		case 2:
			return []int{4}, nil
		}
		return nil, nil
	})
	if err != nil || len(left) != 0 {
		t.Fatalf("Retry = %v, %v; want all sent", left, err)
	}
	want := [][]int{{1, 2, 3, 4}, {2, 4}, {4}}
	if !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("calls = %v, want %v", calls, want)
	}
	if len(*waits) != 2 {
		t.Fatalf("waited %d times, want 2", len(*waits))
	}
}

func TestRetryReportsWhatNeverGotThrough(t *testing.T) {
	noSleep(t)
	boom := errors.New("throttled")
	calls := 0
	left, err := Retry(t.Context(), Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}, []string{"a", "b"},
		func(_ context.Context, in []string) ([]string, error) {
			calls++
			if calls == 1 {
				return []string{"b"}, nil
			}
			return nil, boom
		})
	if calls != 3 {
		t.Fatalf("calls = %d, want 3", calls)
	}
	if !slices.Equal(left, []string{"b"}) {
		t.Fatalf("left = %v, want [b]", left)
	}
	if !errors.Is(err, ErrExhausted) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want ErrExhausted wrapping the last call's error", err)
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	left, err := Retry(ctx, Policy{Attempts: 5, Base: time.Hour, Max: time.Hour}, []int{1}, func(context.Context, []int) ([]int, error) {
		cancel()
		return []int{1}, nil
	})
	if len(left) != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Retry = %v, %v; want [1], context.Canceled", left, err)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	p := Policy{Attempts: 10, Base: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt := 1; attempt < 70; attempt++ {
		if d := p.Backoff(attempt); d < 0 || d > p.Max {
			t.Fatalf("Backoff(%d) = %v, outside [0, %v]", attempt, d, p.Max)
		}
	}
}

func TestChunks(t *testing.T) {
	size := func(n int) int { return n }
	tests := []struct {
		name          string
		items         []int
		max, maxBytes int
		want          [][]int
	}{
		{"empty", nil, 10, 0, nil},
		{"by count", []int{1, 1, 1, 1, 1}, 2, 0, [][]int{{1, 1}, {1, 1}, {1}}},
		{"by size", []int{4, 4, 4, 1}, 10, 8, [][]int{{4, 4}, {4, 1}}},
		{"oversized entry alone", []int{1, 20, 1}, 10, 8, [][]int{{1}, {20}, {1}}},
		{"exact limits", []int{5, 5, 5, 5}, 2, 10, [][]int{{5, 5}, {5, 5}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Chunks(tc.items, tc.max, tc.maxBytes, size)
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("Chunks = %v, want %v", got, tc.want)
			}
		})
	}
}
