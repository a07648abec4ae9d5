package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	fhsdk "github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/stream-to-events/stream-to-events/bench/report"
	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/local/runner"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// The hot-entity case reads the event store this often: a record's latency is known to within
// one poll.
const hotPoll = 250 * time.Millisecond

// storerMapping is the storer's trigger as the runner's event source mappings name it.
const storerMapping = "EventStorerFunction.IngestQueue"

// parseRates reads a comma-separated list of positive records/s, and returns them rising, as the
// case sends them.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("rate %q: want a positive number of records/s", f)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// runHotEntity sends one entity's records through the running local flow at each of o.hotRates
// for o.hotStep, and times each from its Firehose arrival to its item in the event store. Each
// step starts once the previous one's records are all stored, so that a step's figures are its
// own; the case stops after the first step whose latency grows, as every higher rate would too.
func runHotEntity(ctx context.Context, o options, r *runner.Runner, stream string, reports *report.Reports, log *slog.Logger) (*report.HotEntity, error) {
	table, ok := r.Stack.PhysicalID("EventStoreTable")
	if !ok {
		return nil, fmt.Errorf("the stack has no EventStoreTable")
	}
	// One entity: the generator's only order entity. Its other types' records are skipped.
	gen, err := generate.New(generate.Options{Seed: 3, Entities: 1, Start: time.Now()})
	if err != nil {
		return nil, err
	}
	next := func() generate.Record {
		for {
			if g := gen.Next(); g.Type == generate.TypeOrder {
				return g
			}
		}
	}
	batchSize, err := storerBatchSize(r.Stack)
	if err != nil {
		return nil, err
	}
	first := next()
	h := &report.HotEntity{
		Entity:         first.EntityKey(),
		Step:           o.hotStep,
		Poll:           hotPoll,
		BufferInterval: bufferInterval,
		BatchSize:      batchSize,
	}

	w := newStoreWatcher(dynamodb.NewFromConfig(spec.ClientConfig(r.Endpoint(), readerKey)), table, h.Entity)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); w.run(watchCtx, hotPoll) }()
	defer func() { stopWatch(); <-watched }()

	producer := generate.NewFirehose(fhsdk.NewFromConfig(spec.ClientConfig(r.Endpoint(), producerKey)), stream)
	callsBefore := storerCalls(r)
	for i, rate := range o.hotRates {
		n := max(2, int(rate*o.hotStep.Seconds()+0.5))
		recs := make([]generate.Record, n)
		for j := range recs {
			if i == 0 && j == 0 {
				recs[j] = first
				continue
			}
			recs[j] = next()
		}
		w.expect(i, recs)
		invBefore := len(reports.Invocations())
		mapBefore := r.ESM.Counts()[storerMapping]

		if _, err := generate.Send(ctx, producer, slices.Values(recs), generate.SendOptions{Rate: rate}); err != nil {
			return nil, fmt.Errorf("hot entity at %g records/s: send: %w", rate, err)
		}
		sendEnd := time.Now()
		stored := w.stored(i)
		queued, err := r.QueueDepth(ctx, "IngestQueue")
		if err != nil {
			return nil, fmt.Errorf("hot entity at %g records/s: %w", rate, err)
		}
		drainCtx, drained := context.WithTimeout(ctx, report.DrainLimit)
		_ = pollUntil(drainCtx, hotPoll, func() bool { return w.stored(i) >= n }) // a step not drained in time shows in its figures
		drained()
		if err := ctx.Err(); err != nil {
			return nil, err
		}

		s := stepFigures(rate, w.samples(i), n, sendEnd)
		s.Backlog, s.Queued = n-stored, queued
		mapAfter := r.ESM.Counts()[storerMapping]
		s.Batches, s.BatchRecords = int(mapAfter.Batches-mapBefore.Batches), int(mapAfter.Records-mapBefore.Records)
		if s.Batches > 0 {
			mean := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(s.Batches) }
			s.InvokeMS, s.SettleMS = mean(mapAfter.Invoking-mapBefore.Invoking), mean(mapAfter.Settling-mapBefore.Settling)
		}
		for _, f := range report.Summarise(reports.Invocations()[invBefore:]) {
			switch f.Function {
			case "TransformerFunction":
				s.Transforms, s.TransformerMS = f.Invocations, f.MeanMS
			case "EventStorerFunction":
				s.StorerMS = f.MeanMS
			}
		}
		h.Steps = append(h.Steps, s)
		log.Info("hot entity step", "rate", rate, "sent", n, "stored", s.Stored, "served", fmt.Sprintf("%.1f", s.Served),
			"p50", s.Latency.P50.Round(time.Millisecond).String(), "max", s.Latency.Max.Round(time.Millisecond).String(),
			"growth", fmt.Sprintf("%.3f", s.Growth), "backlog", s.Backlog, "queued", s.Queued,
			"batches", s.Batches, "storer_ms", fmt.Sprintf("%.0f", s.StorerMS), "growing", s.Growing())
		if s.Growing() {
			break
		}
	}
	h.StoreCallsPerBatch = perBatch(callsBefore, storerCalls(r), h.Steps)
	return h, nil
}

// stepFigures turns one step's samples into its figures. Samples are in send order.
func stepFigures(rate float64, samples []hotSample, sent int, sendEnd time.Time) report.HotStep {
	s := report.HotStep{Rate: rate, Sent: sent, Stored: len(samples)}
	if len(samples) == 0 {
		return s
	}
	t0 := samples[0].arrival
	var idx, arrival, seen, lat []float64
	var lats []time.Duration
	for i, x := range samples {
		idx = append(idx, float64(i))
		arrival = append(arrival, x.arrival.Sub(t0).Seconds())
		seen = append(seen, x.seen.Sub(t0).Seconds())
		lat = append(lat, x.seen.Sub(x.arrival).Seconds())
		lats = append(lats, x.seen.Sub(x.arrival))
	}
	if a := report.Trend(idx, arrival); a > 0 {
		s.Offered = 1 / a
	}
	if b := report.Trend(idx, seen); b > 0 {
		s.Served = 1 / b
	}
	s.Growth = report.Trend(arrival, lat)
	h := len(samples) / 2
	s.GrowthEarly, s.GrowthLate = report.Trend(arrival[:h], lat[:h]), report.Trend(arrival[h:], lat[h:])
	s.Rise = time.Duration(s.Growth * arrival[len(arrival)-1] * float64(time.Second))
	s.Latency = report.Percentiles(lats)
	if len(samples) == sent {
		last := slices.MaxFunc(samples, func(a, b hotSample) int { return a.seen.Compare(b.seen) })
		s.Drain = max(0, last.seen.Sub(sendEnd))
	}
	return s
}

// storerCalls are the storer's DynamoDB calls so far, by operation.
func storerCalls(r *runner.Runner) map[string]int {
	out := map[string]int{}
	for _, c := range r.Edge.Calls() {
		if c.Caller == "EventStorerFunction" && c.Service == "dynamodb" {
			out[c.Operation] += c.Calls
		}
	}
	return out
}

// perBatch is the calls made between two counts, per storer invocation of the steps.
func perBatch(before, after map[string]int, steps []report.HotStep) map[string]float64 {
	batches := 0
	for _, s := range steps {
		batches += s.Batches
	}
	if batches == 0 {
		return nil
	}
	out := map[string]float64{}
	for op, n := range after {
		if d := n - before[op]; d > 0 {
			out[op] = float64(d) / float64(batches)
		}
	}
	return out
}

// storerBatchSize is the BatchSize of the storer's trigger as the stack deployed it, a parameter's
// value where the template refers to one (10 when unset, as Lambda's default for SQS).
func storerBatchSize(st spec.Stack) (int, error) {
	ev, err := st.Template().Event("EventStorerFunction", "IngestQueue")
	if err != nil {
		return 0, fmt.Errorf("hot entity: %w", err)
	}
	props, err := st.Resolve(ev)
	if err != nil {
		return 0, fmt.Errorf("hot entity: the storer's IngestQueue event: %w", err)
	}
	p, _ := props.(map[string]any)
	return samtemplate.Int(p["BatchSize"], 10), nil
}

type querier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ querier = (*dynamodb.Client)(nil)

// hotSample is one record of the entity: when Firehose took it (its receivedAt) and when its item
// was first seen in the event store.
type hotSample struct {
	arrival, seen time.Time
	sk            string
}

// storeWatcher reads one entity's partition of the event store and notes when each expected
// record's item first shows up. It reads only past the items it has seen in send order (the FIFO
// group writes them in that order, and their sort keys rise with it), so a poll costs what is new.
type storeWatcher struct {
	db         querier
	table, key string

	mu    sync.Mutex
	order []string       // expected ids, in send order
	step  map[string]int // id → its step
	seen  map[string]hotSample
	done  int // order[:done] are all seen
}

func newStoreWatcher(db querier, table, key string) *storeWatcher {
	return &storeWatcher{db: db, table: table, key: key, step: map[string]int{}, seen: map[string]hotSample{}}
}

// expect adds a step's records, in send order.
func (w *storeWatcher) expect(step int, recs []generate.Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range recs {
		w.order = append(w.order, r.ID)
		w.step[r.ID] = step
	}
}

// run polls every interval until ctx ends; a failed poll is tried again at the next tick.
func (w *storeWatcher) run(ctx context.Context, interval time.Duration) {
	_ = pollUntil(ctx, interval, func() bool {
		w.poll(ctx)
		return false
	})
}

// poll reads the entity's items past the last record of the send order seen without a gap.
func (w *storeWatcher) poll(ctx context.Context) {
	w.mu.Lock()
	after := ""
	if w.done > 0 {
		after = w.seen[w.order[w.done-1]].sk
	}
	w.mu.Unlock()
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(w.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":pk": &dbtypes.AttributeValueMemberS{Value: w.key}},
		ProjectionExpression:      aws.String("sk, id, receivedAt"),
	}
	if after != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND sk > :after")
		in.ExpressionAttributeValues[":after"] = &dbtypes.AttributeValueMemberS{Value: after}
	}
	pages := dynamodb.NewQueryPaginator(w.db, in)
	readPages(ctx, pages, func(o *dynamodb.QueryOutput) []item { return o.Items }, &w.mu, func(it item, at time.Time) {
		id := str(it["id"])
		if _, want := w.step[id]; !want {
			return
		}
		if _, done := w.seen[id]; done {
			return
		}
		if received, ok := receivedAt(it); ok {
			w.seen[id] = hotSample{arrival: received, seen: at, sk: str(it["sk"])}
		}
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.done < len(w.order) {
		if _, ok := w.seen[w.order[w.done]]; !ok {
			break
		}
		w.done++
	}
}

// stored is how many of a step's records have been seen.
func (w *storeWatcher) stored(step int) int { return len(w.samples(step)) }

// samples are a step's seen records, in send order.
func (w *storeWatcher) samples(step int) []hotSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []hotSample
	for _, id := range w.order {
		if w.step[id] != step {
			continue
		}
		if s, ok := w.seen[id]; ok {
			out = append(out, s)
		}
	}
	return out
}
