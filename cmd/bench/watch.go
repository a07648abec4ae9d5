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

// run polls every interval until every entity's newest record is seen or ctx ends; a failed
// poll is tried again at the next tick.
func (w *watcher) run(ctx context.Context, interval time.Duration) error {
	return pollUntil(ctx, interval, func() bool {
		w.poll(ctx)
		return w.complete()
	})
}

func (w *watcher) poll(ctx context.Context) {
	pages := dynamodb.NewScanPaginator(w.db, &dynamodb.ScanInput{
		TableName:            aws.String(w.table),
		ProjectionExpression: aws.String("pk, sk, id, receivedAt"),
	})
	readPages(ctx, pages, func(o *dynamodb.ScanOutput) []item { return o.Items }, &w.mu, func(it item, at time.Time) {
		key := str(it["pk"]) + "#" + str(it["sk"])
		if _, done := w.seen[key]; done || w.want[key] != str(it["id"]) {
			return
		}
		if received, ok := receivedAt(it); ok {
			w.seen[key] = sample{at: at, receivedAt: received}
		}
	})
}

// pollUntil calls poll at once and then every interval until it reports true (nil) or ctx
// ends (ctx's error).
func pollUntil(ctx context.Context, interval time.Duration, poll func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if poll() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

type item = map[string]types.AttributeValue

// pager is a DynamoDB paginator (Scan's or Query's), with O its page.
type pager[O any] interface {
	HasMorePages() bool
	NextPage(ctx context.Context, optFns ...func(*dynamodb.Options)) (O, error)
}

// readPages hands each item of every page to note, holding mu, with the time its page came back:
// an item counts as seen then. A failed page ends this read; the watcher's next poll reads again.
func readPages[O any](ctx context.Context, pages pager[O], items func(O) []item, mu *sync.Mutex, note func(it item, at time.Time)) {
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return
		}
		at := time.Now()
		mu.Lock()
		for _, it := range items(page) {
			note(it, at)
		}
		mu.Unlock()
	}
}

// receivedAt is an item's Firehose arrival time; false when it has none that parses.
func receivedAt(it item) (time.Time, bool) {
	t, err := time.Parse(record.TimeLayout, str(it["receivedAt"]))
	return t, err == nil
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
