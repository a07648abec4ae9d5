package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	fhsdk "github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/stream-to-events/stream-to-events/bench/baseline"
	"github.com/stream-to-events/stream-to-events/bench/report"
	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/store"
	"github.com/stream-to-events/stream-to-events/local/lambdaproc"
	"github.com/stream-to-events/stream-to-events/local/runner"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// Access keys of the bench's own clients, so that the edge counts them apart from the
// functions (which sign with their logical IDs) and the runner.
const (
	producerKey = "producer"
	baselineKey = "baseline"
	readerKey   = "bench"
)

// bufferInterval shortens the template's Firehose buffering intervals for the local run, so that
// records reach the transformer within a second of their arrival.
const bufferInterval = time.Second

// The functions' logical IDs and whose calls they are.
var groups = report.Groups{
	"TransformerFunction":    report.Design,
	"EventStorerFunction":    report.Design,
	"EventEmitterFunction":   report.Design,
	"EventResponderFunction": report.Consumer,
	"RecordsApiFunction":     report.Consumer,
	baselineKey:              report.Baseline,
	spec.RunnerAccessKey:     report.Platform,
}

type localResult struct {
	records, unique int
	calls           []report.OpCount
	functions       []report.FunctionStats
	elapsed         time.Duration
	throughput      float64
	latency         report.Latency
	baselineTime    time.Duration
	inits           map[string][]float64 // by logical ID
	sizes           report.Sizes         // measured on the generated records
	notes           []string
	bufferMB        float64        // the template's delivery buffer size, for S3 PUTs on AWS
	callsByCaller   map[string]int // AWS calls on the data path (no X-Ray) by access key
	fullBatches     []report.FullBatch
	hotEntity       *report.HotEntity // nil when the case did not run
}

// runLocal starts the local stack in-process, sends the generated records through Firehose,
// waits until each entity's newest record is in the projection (timing each), runs the baseline
// over the same records, reads the edge's counters and measures the functions' cold starts.
func runLocal(ctx context.Context, o options, log *slog.Logger) (localResult, error) {
	var res localResult
	// Each record its own entity where the generator allows, so that nearly every record ends
	// in the projection and gives a latency sample.
	entities := min(max(o.records/len(generate.Types), 1), generate.MaxEntities)
	records, err := generate.Generate(generate.Options{Seed: 1, Entities: entities}, o.records)
	if err != nil {
		return res, err
	}
	want := generate.Expect(records)
	res.records, res.unique = want.Sent, want.Unique

	reports := &report.Reports{}
	start := time.Now()
	r, err := runner.Start(ctx, runner.Options{
		Template:       filepath.Join(o.root, "template.yaml"),
		Parts:          runner.Parts{Firehose: true, Triggers: true},
		BufferInterval: bufferInterval,
		Logs:           reports,
		Logger:         o.quiet,
	})
	if err != nil {
		return res, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := r.Stop(stopCtx); err != nil {
			log.Warn("stop the local stack", "error", err)
		}
	}()
	log.Info("local stack up", "took", time.Since(start).Round(time.Millisecond).String(), "records", len(records))

	streams := r.Firehose.Streams()
	if len(streams) == 0 {
		return res, fmt.Errorf("the template has no delivery stream")
	}
	projection, ok := r.Stack.PhysicalID("ProjectionTable")
	if !ok {
		return res, fmt.Errorf("the stack has no ProjectionTable")
	}
	res.sizes, err = measureSizes(records, streams[0], r)
	if err != nil {
		return res, err
	}
	if v, ok := r.Stack.ParameterValues()["DeliveryBufferSizeMB"]; ok {
		if _, err := fmt.Sscan(v, &res.bufferMB); err != nil {
			return res, fmt.Errorf("parameter DeliveryBufferSizeMB %q: %w", v, err)
		}
	}

	// Watch the projection while sending: the first time an entity's newest record is seen
	// is its write, give or take one poll.
	watchCtx, stopWatch := context.WithCancel(ctx)
	w := newWatcher(dynamodb.NewFromConfig(spec.ClientConfig(r.Endpoint(), readerKey)), projection, want)
	watched := make(chan error, 1)
	go func() { watched <- w.run(watchCtx, time.Second) }()

	client := fhsdk.NewFromConfig(spec.ClientConfig(r.Endpoint(), producerKey))
	sent := time.Now()
	if _, err := generate.Send(ctx, generate.NewFirehose(client, streams[0]), slices.Values(records), generate.SendOptions{}); err != nil {
		stopWatch()
		return res, fmt.Errorf("send to Firehose: %w", err)
	}
	log.Info("sent to Firehose", "records", len(records), "took", time.Since(sent).Round(time.Millisecond).String())
	deadline := time.After(o.timeout)
	flush := time.NewTicker(time.Second)
	for !w.complete() {
		select {
		case <-ctx.Done():
			stopWatch()
			return res, ctx.Err()
		case <-deadline:
			res.notes = append(res.notes, fmt.Sprintf("The local run stopped waiting after %s with %d of %d entities in the projection: %v.", o.timeout, w.seenCount(), len(want.Newest), errIncomplete))
			goto done
		case <-flush.C:
			// Firehose would wait for its buffer; everything is sent.
			if err := r.Firehose.Flush(ctx); err != nil && ctx.Err() == nil {
				log.Warn("flush Firehose", "error", err)
			}
		}
	}
done:
	flush.Stop()
	stopWatch()
	<-watched
	lat, last := w.latencies()
	res.latency = report.Percentiles(lat)
	res.elapsed = last.Sub(sent)
	if res.elapsed > 0 {
		res.throughput = float64(len(records)) / res.elapsed.Seconds()
	}
	log.Info("pipeline done", "entities", w.seenCount(), "elapsed", res.elapsed.Round(time.Millisecond).String())

	// The baseline on the same records, after the pipeline so the two do not share moto's time.
	b, err := baseline.Provision(ctx, spec.ClientConfig(r.Endpoint(), baselineKey), "bench-baseline", "stream-to-events.ingest")
	if err != nil {
		return res, err
	}
	bstart := time.Now()
	if err := runBaseline(ctx, b, records, streams[0]); err != nil {
		return res, err
	}
	res.baselineTime = time.Since(bstart)
	log.Info("baseline done", "took", res.baselineTime.Round(time.Millisecond).String())

	var calls []report.Call
	res.callsByCaller = map[string]int{}
	for _, c := range r.Edge.Calls() {
		if strings.HasPrefix(c.Operation, "Create") {
			continue // the baseline's setup, not per record
		}
		calls = append(calls, report.Call{Caller: c.Caller, Service: c.Service, Operation: c.Operation, Calls: c.Calls})
		if c.Service != "xray" {
			res.callsByCaller[c.Caller] += c.Calls
		}
	}
	res.calls = report.PerThousand(calls, groups, want.Unique)
	if extra := report.CallsOf(res.calls, report.Consumer, "PutItem") - want.Unique; extra > 0 {
		res.notes = append(res.notes, fmt.Sprintf("The responder wrote %d times more than there were records: some events were delivered more than once (the emitter made %d PutEvents calls for %d records; a call or batch retried after a slow or failed answer emits its entries again). Delivery is at least once by design; the projection's conditional write absorbs the repeats.",
			extra, report.CallsOf(res.calls, report.Design, "PutEvents"), want.Unique))
	}
	res.functions = report.Summarise(reports.Invocations())
	for id, st := range r.Lambda.Stats() {
		if st.Timeouts > 0 || st.Errors > 0 {
			res.notes = append(res.notes, fmt.Sprintf("%s: %d of %d invocations failed (%d timed out) in the local run, waiting on a busy moto_server; their batches were retried, so its calls (and what follows it) are counted more than once.",
				id, st.Errors, st.Invocations, st.Timeouts))
		}
	}
	slices.Sort(res.notes)

	res.inits, err = coldStarts(ctx, r.Stack.Functions(), r.Endpoint(), o.starts, log)
	if err != nil {
		return res, err
	}
	processorMB := 1.0
	if v, ok := r.Stack.ParameterValues()["ProcessorBufferSizeMB"]; ok {
		if _, err := fmt.Sscan(v, &processorMB); err != nil {
			return res, fmt.Errorf("parameter ProcessorBufferSizeMB %q: %w", v, err)
		}
	}
	if fn, ok := r.Stack.Functions()["TransformerFunction"]; ok {
		// The template's setting, and the most the parameter allows (3 MiB).
		for _, mb := range slices.Compact([]float64{processorMB, 3}) {
			fb, err := fullTransformerBatch(ctx, fn, mb)
			if err != nil {
				return res, err
			}
			fb.Default = mb == processorMB
			log.Info("full transformer batch", "records", fb.Records, "bytes", fb.Bytes, "duration_ms", fb.DurationMS, "max_memory_mb", fb.MaxMemoryMB)
			res.fullBatches = append(res.fullBatches, fb)
		}
	}

	// Last, on the same stack: its calls and invocations are left out of the figures above,
	// which were read before it.
	if len(o.hotRates) > 0 {
		hstart := time.Now()
		if res.hotEntity, err = runHotEntity(ctx, o, r, streams[0], reports, log); err != nil {
			return res, err
		}
		log.Info("hot entity done", "took", time.Since(hstart).Round(time.Second).String())
	}
	return res, nil
}

// runBaseline sends every valid record through the per-record calls, four at a time (the call
// count does not depend on it; it only keeps the run short).
func runBaseline(ctx context.Context, b *baseline.Pipeline, records []generate.Record, source string) error {
	parser := record.NewParser(nil)
	meta := record.Meta{Source: source, ArrivalMillis: time.Now().UnixMilli()}
	work := make(chan record.Record)
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for rec := range work {
				if err := b.Process(ctx, rec); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	for _, g := range records {
		if !g.Valid() || g.Duplicate() {
			continue
		}
		rec, err := parser.Parse(g.Data, meta)
		if err != nil {
			close(work)
			wg.Wait()
			return fmt.Errorf("baseline: parse record %d: %w", g.Seq, err)
		}
		work <- rec
	}
	close(work)
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// measureSizes sizes what the generated records become: the producer's bytes, the event store
// item, the projection item (the store item without the trace header) and the event entry.
func measureSizes(records []generate.Record, source string, r *runner.Runner) (report.Sizes, error) {
	parser := record.NewParser(nil)
	tableARN := "arn:aws:dynamodb:" + spec.Region + ":" + spec.Account + ":table/EventStore"
	if name, ok := r.Stack.PhysicalID("EventStoreTable"); ok {
		tableARN = "arn:aws:dynamodb:" + spec.Region + ":" + spec.Account + ":table/" + name
	}
	var n, rec, item, proj, event int
	for _, g := range records {
		if !g.Valid() {
			continue
		}
		cr, err := parser.Parse(g.Data, record.Meta{Source: source, ArrivalMillis: time.Now().UnixMilli()})
		if err != nil {
			return report.Sizes{}, fmt.Errorf("size record %d: %w", g.Seq, err)
		}
		withTrace, err := store.Item(store.Entry{Record: cr, TraceHeader: "Root=1-6741a8f0-3c5a2b1d4e6f708192a3b4c5;Parent=53995c3f42cd8ad8;Sampled=1"})
		if err != nil {
			return report.Sizes{}, err
		}
		plain, err := store.Item(store.Entry{Record: cr})
		if err != nil {
			return report.Sizes{}, err
		}
		n++
		rec += len(g.Data)
		item += report.ItemSize(withTrace)
		proj += report.ItemSize(plain)
		event += emit.EntrySize(types.PutEventsRequestEntry{
			Source: aws.String("stream-to-events.ingest"), DetailType: aws.String(record.DetailType),
			Detail: aws.String(string(cr.AppendJSON(nil))), Resources: []string{tableARN},
		})
	}
	if n == 0 {
		return report.Sizes{}, fmt.Errorf("no valid records to size")
	}
	return report.Sizes{RecordBytes: rec / n, StoreItemBytes: item / n, ProjectionBytes: proj / n, EventBytes: event / n}, nil
}

// coldStarts starts each function's bootstrap n times in a runtime of its own and reads the
// Init Duration of its REPORT line: process start to the first Runtime API next.
func coldStarts(ctx context.Context, fns map[string]spec.Function, endpoint string, n int, log *slog.Logger) (map[string][]float64, error) {
	out := map[string][]float64{}
	quiet := slog.New(slog.DiscardHandler)
	for id, fn := range fns {
		for range n {
			reports := &report.Reports{}
			rt := lambdaproc.New(map[string]spec.Function{id: fn}, lambdaproc.Options{Endpoint: endpoint, Logs: reports, MaxConcurrency: 1, Logger: quiet})
			if err := rt.Start(ctx); err != nil {
				return nil, fmt.Errorf("cold start %s: %w", id, err)
			}
			// An empty event: the handler may refuse it, the init has happened by then.
			_, err := rt.Invoke(ctx, id, spec.Invocation{Payload: []byte(`{}`)})
			_ = rt.Stop()
			if err != nil {
				return nil, fmt.Errorf("cold start %s: %w", id, err)
			}
			for _, inv := range reports.Invocations() {
				if inv.InitMS > 0 {
					out[id] = append(out[id], inv.InitMS)
				}
			}
		}
		log.Info("cold starts", "function", id, "init_ms", out[id])
	}
	return out, nil
}
