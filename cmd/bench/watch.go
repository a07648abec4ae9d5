package main

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

type scanner interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ scanner = (*dynamodb.Client)(nil)

// watcher polls the projection table and notes when each entity's newest record first shows
// up, and the record's receivedAt (Firehose's arrival time): their difference is the record's
// latency from the Firehose put to the projection write, give or take one poll.
type watcher struct {
	db    scanner
	table string
	want  map[string]string // entity key ("type#key") → the id that must end up there

	mu   sync.Mutex
	seen map[string]sample
}

type sample struct {
	at         time.Time
	receivedAt time.Time
}

func newWatcher(db scanner, table string, want generate.Expected) *watcher {
	w := &watcher{db: db, table: table, want: map[string]string{}, seen: map[string]sample{}}
	for k, r := range want.Newest {
		w.want[k] = r.ID
	}
	return w
}

// run polls every interval until ctx ends; a failed poll is tried again at the next tick.
func (w *watcher) run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		w.poll(ctx)
		if w.complete() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (w *watcher) poll(ctx context.Context) {
	pages := dynamodb.NewScanPaginator(w.db, &dynamodb.ScanInput{
		TableName:            aws.String(w.table),
		ProjectionExpression: aws.String("pk, sk, id, receivedAt"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		w.mu.Lock()
		for _, item := range page.Items {
			key := str(item["pk"]) + "#" + str(item["sk"])
			if _, done := w.seen[key]; done || w.want[key] != str(item["id"]) {
				continue
			}
			received, err := time.Parse(record.TimeLayout, str(item["receivedAt"]))
			if err != nil {
				continue
			}
			w.seen[key] = sample{at: now, receivedAt: received}
		}
		w.mu.Unlock()
	}
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func (w *watcher) complete() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen) >= len(w.want)
}

func (w *watcher) seenCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

// latencies are the samples so far and when the last one was seen.
func (w *watcher) latencies() ([]time.Duration, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []time.Duration
	var last time.Time
	for _, s := range w.seen {
		out = append(out, s.at.Sub(s.receivedAt))
		if s.at.After(last) {
			last = s.at
		}
	}
	return out, last
}
