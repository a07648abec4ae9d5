package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	fhsdk "github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/local/cloudwatch"
	"github.com/stream-to-events/stream-to-events/local/edge"
	"github.com/stream-to-events/stream-to-events/local/runner"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("demo", `s2e-local demo: start the whole flow, send generated records (with raw, invalid and duplicate
ones among them) to the delivery stream, wait until they have crossed every hop, print a
summary (lake, store, events, projection, an API sample, DLQ depths, AWS calls, one trace), stop.
It runs on free ports, so it does not disturb a running "s2e-local start".`, stderr)
	count := fs.Int("count", defaultDemo.Count, "records to send")
	raw := fs.Float64("raw", defaultDemo.Records.Raw, "share of raw records (no envelope)")
	invalid := fs.Float64("invalid", defaultDemo.Records.Invalid, "share of records the transformer must refuse")
	dups := fs.Float64("duplicates", defaultDemo.Records.Duplicates, "share of records sent twice")
	seed := fs.Uint64("seed", defaultDemo.Records.Seed, "seed of the generated records")
	timeout := fs.Duration("timeout", defaultDemo.Timeout, "give up when the records have not crossed every hop by then")
	buffer := fs.Duration("buffer-interval", 2*time.Second, "shorten Firehose's buffering interval to at most this")
	faults := fs.String("faults", "", "inject faults, as start --faults")
	failedVisibility := fs.Duration("failed-visibility", demoFailedVisibility, "a failed queue batch is retried after this long instead of the queue's visibility timeout")
	// The demo's output is its summary; the functions' logs would drown it.
	opts, err := c.parse(fs, args, io.Discard)
	if err != nil {
		return err
	}
	defer c.close()
	if opts.Faults, err = edge.ParseFaults(*faults); err != nil {
		return fmt.Errorf("--faults: %w", err)
	}
	opts.BufferInterval, opts.FailedVisibility = *buffer, *failedVisibility
	d, err := runDemo(ctx, opts, demoConfig{
		Records: generate.Options{Seed: *seed, Raw: *raw, Invalid: *invalid, Duplicates: *dups},
		Count:   *count,
		Timeout: *timeout,
	}, stderr)
	if d != nil && d.Runner != nil {
		defer func() { _ = stopRunner(d.Runner, io.Discard) }()
	}
	if err != nil {
		return err
	}
	d.print(ctx, stdout)
	if len(d.Missing) > 0 {
		return fmt.Errorf("demo: after %s, not every record crossed every hop: %s", d.Crossed.Round(time.Second), strings.Join(d.Missing, "; "))
	}
	if dup := excess(hopChecks(d.Summary, d.Want)); len(dup) > 0 {
		return fmt.Errorf("demo: a hop holds more than it must: %s", strings.Join(dup, "; "))
	}
	d.printCrossed(stdout)
	return nil
}

// printCrossed ends the report of a demo whose every record crossed every hop.
func (d *demoRun) printCrossed(w io.Writer) {
	fmt.Fprintf(w, "\nEvery record crossed every hop in %s (start-up %s).\n", d.Crossed.Round(time.Millisecond), d.StartUp.Round(time.Millisecond))
}

// demoFailedVisibility is how soon the demo retries a failed queue batch: well within stallAfter,
// so that a batch that timed out on a loaded machine is retried before the demo gives up.
const demoFailedVisibility = 5 * time.Second

// defaultDemo is what `make demo` sends, the flags' defaults: the end-to-end test sends the same
// records, and the README shows that test's report.
var defaultDemo = demoConfig{
	Records: generate.Options{Seed: 1, Raw: 0.05, Invalid: 0.05, Duplicates: 0.05},
	Count:   200,
	Timeout: 3 * time.Minute,
}

// demoConfig is what a demo sends and how long it waits for it.
type demoConfig struct {
	Records generate.Options
	Count   int
	Timeout time.Duration
}

// demoRun is a finished demo on a stack still running: what was sent and what the hops held
// once every record had crossed them (or nothing moved any more).
type demoRun struct {
	Runner  *runner.Runner
	Records []generate.Record
	Want    generate.Expected
	Summary runner.Summary
	// Missing says, hop by hop, what had not arrived when the wait ended; empty when every
	// record crossed every hop.
	Missing []string
	StartUp time.Duration // from the start to the first record sent
	Crossed time.Duration // from the first record sent to the end of the wait
}

// runDemo starts the whole flow with opts, sends the generated records to the delivery stream
// as a producer does, and waits until they have crossed every hop. The end-to-end test runs it
// too, so that what the demo shows is what the test checks. The caller stops d.Runner, which is
// set whenever the stack started, also when an error is returned.
func runDemo(ctx context.Context, opts runner.Options, cfg demoConfig, progress io.Writer) (*demoRun, error) {
	records, err := generate.Generate(cfg.Records, cfg.Count)
	if err != nil {
		return nil, err
	}
	d := &demoRun{Records: records, Want: generate.Expect(records)}
	opts.Parts = runner.All

	started := time.Now()
	fmt.Fprintln(progress, "starting the local stack (moto, build, provision, functions)…")
	if d.Runner, err = runner.Start(ctx, opts); err != nil {
		return d, err
	}
	r := d.Runner
	streams := r.Firehose.Streams()
	if len(streams) == 0 {
		return d, errors.New("demo: the template has no delivery stream")
	}
	fmt.Fprintf(progress, "started in %s; sending %d records to %s\n", time.Since(started).Round(time.Millisecond), len(records), streams[0])

	client := fhsdk.NewFromConfig(spec.ClientConfig(r.Endpoint(), "generator"))
	sent := time.Now()
	d.StartUp = sent.Sub(started)
	if _, err := generate.Send(ctx, generate.NewFirehose(client, streams[0]), slices.Values(records), generate.SendOptions{}); err != nil {
		return d, fmt.Errorf("send: %w", err)
	}

	waitCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	d.Summary, d.Missing, err = waitForHops(waitCtx, r, d.Want)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return d, err
	}
	d.Crossed = time.Since(sent)
	return d, nil
}

// print writes the demo's report: what was sent, each hop against what it must hold, the
// summary, an API sample and one record's trace.
func (d *demoRun) print(ctx context.Context, w io.Writer) {
	want := d.Want
	fmt.Fprintf(w, "stream-to-events demo: %d records sent (%d valid, %d invalid, %d duplicates, %d raw)\n\n",
		want.Sent, want.Valid, want.Invalid, countDuplicates(d.Records), len(want.Raw))
	fmt.Fprintln(w, "Expected → found, hop by hop:")
	for _, h := range hopChecks(d.Summary, want) {
		fmt.Fprintf(w, "  %-44s %6d → %-6d %s\n", h.name, h.want, h.got, h.verdict())
	}
	fmt.Fprintln(w)
	d.Summary.Print(w)
	printAPISample(ctx, w, d.Runner)
	printTrace(w, d.Runner)
	printAlarms(ctx, w, d.Runner)
}

// printAlarms ends the report with the alarms as `s2e status --endpoint` shows them.
func printAlarms(ctx context.Context, w io.Writer, r *runner.Runner) {
	states, err := r.Alarms(ctx)
	if err != nil {
		fmt.Fprintf(w, "\nAlarms: %v\n", err)
		return
	}
	fmt.Fprintln(w, "\nAlarms, as `go run ./cmd/s2e status --endpoint …` prints them (the demo's invalid records are")
	fmt.Fprintln(w, "transform failures on purpose: they are in errors/, and TransformRecordsFailed says so):")
	cloudwatch.WriteTable(w, states)
}

func countDuplicates(records []generate.Record) int {
	n := 0
	for _, r := range records {
		if r.Duplicate() {
			n++
		}
	}
	return n
}

type hop struct {
	name      string
	want, got int
	// atLeastOnce: the hop is delivered at least once, so more than expected is duplicates it
	// absorbed, not an error.
	atLeastOnce bool
}

// verdict says how what the hop holds compares with what it must hold, exactly.
func (h hop) verdict() string {
	switch {
	case h.got < h.want:
		return fmt.Sprintf("MISSING %d", h.want-h.got)
	case h.got > h.want && h.atLeastOnce:
		return fmt.Sprintf("ok (%d duplicate deliveries absorbed)", h.got-h.want)
	case h.got > h.want:
		return fmt.Sprintf("DUPLICATES %d", h.got-h.want)
	}
	return "ok"
}

// excess lists the hops that hold more than they must and are not at-least-once.
func excess(hops []hop) []string {
	var out []string
	for _, h := range hops {
		if h.got > h.want && !h.atLeastOnce {
			out = append(out, fmt.Sprintf("%s: %d duplicates", h.name, h.got-h.want))
		}
	}
	return out
}

// hopChecks compares what each hop holds with what the sent records must become.
func hopChecks(s runner.Summary, want generate.Expected) []hop {
	dlq := 0
	for id, n := range s.QueueDepths {
		if strings.HasSuffix(id, "DLQ") {
			dlq += n
		}
	}
	return []hop{
		{"lake records/ lines (every valid record sent)", want.Valid, s.LakeLines["records/"], false},
		{"lake errors/ records (every invalid record)", want.Invalid, s.LakeLines["errors/"], false},
		{"event store items (one per record)", want.Unique, s.Items["EventStoreTable"], false},
		{"events delivered to the responder", want.Unique, s.Handled("EventResponderFunction"), true},
		// A raw record's key is its derived id, so each is an entity of its own in the projection.
		{"projection entries (newest per entity)", len(want.Newest) + len(want.Raw), s.Items["ProjectionTable"], false},
		{"messages left in DLQs", 0, dlq, false},
	}
}

// triggersIdle reports whether the queues that trigger functions hold no message, waiting or in
// flight: a delivery is counted when its invocation starts, so the last batch may still be
// writing when every count is reached.
func triggersIdle(s runner.Summary) bool {
	return s.QueueDepths["IngestQueue"] == 0 && s.QueueDepths["ResponderQueue"] == 0
}

// stallAfter ends the wait when no hop has moved for this long: what is missing then is not
// coming.
const stallAfter = 30 * time.Second

// waitForHops polls until every hop holds what it must, nothing moves any more, or ctx ends. It
// returns the last summary and what is still missing.
func waitForHops(ctx context.Context, r *runner.Runner, want generate.Expected) (runner.Summary, []string, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last []hop
	moved := time.Now()
	for {
		// Firehose would wait for its buffering interval; the demo has sent everything.
		if err := r.Firehose.Flush(ctx); err != nil && ctx.Err() == nil {
			return runner.Summary{}, nil, fmt.Errorf("flush firehose: %w", err)
		}
		sum, err := r.Summary(context.WithoutCancel(ctx))
		if err != nil {
			return sum, nil, err
		}
		var missing []string
		hops := hopChecks(sum, want)
		for _, h := range hops {
			if h.got < h.want {
				missing = append(missing, fmt.Sprintf("%s %d of %d", h.name, h.got, h.want))
			}
		}
		if len(missing) == 0 && triggersIdle(sum) {
			return sum, nil, nil
		}
		if !slices.Equal(hops, last) {
			last, moved = hops, time.Now()
		} else if time.Since(moved) > stallAfter {
			return sum, missing, nil
		}
		select {
		case <-ctx.Done():
			return sum, missing, ctx.Err()
		case <-tick.C:
		}
	}
}

func printAPISample(ctx context.Context, w io.Writer, r *runner.Runner) {
	if r.APIURL() == "" {
		return
	}
	url := r.APIURL() + "/records/" + generate.TypeOrder + "?limit=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(w, "\nAPI sample: GET %s: %v\n", url, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	fmt.Fprintf(w, "\nAPI sample: GET %s → %d\n  %s\n", url, resp.StatusCode, strings.TrimSpace(string(body)))
}

// printTrace prints the trace that crossed the most hops, cut down to one record: a Firehose
// batch is one trace, and all of it would be a few thousand lines.
func printTrace(w io.Writer, r *runner.Runner) {
	traces := r.XRay.Traces(0)
	if len(traces) == 0 {
		return
	}
	fns := r.Stack.Functions()
	best, bestHops := traces[0], -1
	for _, t := range traces {
		hops := 0
		for _, fn := range []string{"TransformerFunction", "EventStorerFunction", "EventEmitterFunction", "EventResponderFunction"} {
			if f, ok := fns[fn]; ok && t.Find(f.Name) != nil {
				hops++
			}
		}
		if hops > bestHops {
			best, bestHops = t, hops
		}
	}
	// Follow the record that the most functions name: batches annotate their first record only.
	id := busiestRecord(best)
	if id != "" {
		var roots []*xraylocal.Node
		for _, n := range best.Roots {
			if p := prune(n, id); p != nil {
				roots = append(roots, p)
			}
		}
		best.Roots = roots
	}
	fmt.Fprintf(w, "\nOne record's trace (record %s; the trace crossed %d of 4 functions):\n", id, bestHops)
	_ = xraylocal.Print(w, best)
}

func recordID(n *xraylocal.Node) string {
	id, _ := n.Annotations["record_id"].(string)
	return id
}

// busiestRecord is the record ID that the segments of the most functions annotate.
func busiestRecord(t xraylocal.Trace) string {
	fns := map[string]map[string]bool{}
	var order []string
	var walk func(n *xraylocal.Node, fn string)
	walk = func(n *xraylocal.Node, fn string) {
		if n.Origin == "AWS::Lambda::Function" {
			fn = n.Name
		}
		if id := recordID(n); id != "" {
			if fns[id] == nil {
				fns[id] = map[string]bool{}
				order = append(order, id)
			}
			fns[id][fn] = true
		}
		for _, c := range n.Children {
			walk(c, fn)
		}
	}
	for _, r := range t.Roots {
		walk(r, "")
	}
	best := ""
	for _, id := range order {
		// On a tie the later record wins: it was seen deeper in the tree, further down the flow.
		if best == "" || len(fns[id]) >= len(fns[best]) {
			best = id
		}
	}
	return best
}

// prune keeps the nodes on the way to record id and those that concern no record in particular
// (SDK calls, init), and drops the branches of other records.
func prune(n *xraylocal.Node, id string) *xraylocal.Node {
	has, any := scan(n, id)
	if !has && any {
		return nil
	}
	cp := *n
	cp.Children = nil
	for _, c := range n.Children {
		if p := prune(c, id); p != nil {
			cp.Children = append(cp.Children, p)
		}
	}
	cp.Children = collapseCalls(cp.Children)
	return &cp
}

// collapseCalls folds repeated SDK calls without children (a batch of SendMessageBatch calls)
// into one line with their count and total duration.
func collapseCalls(nodes []*xraylocal.Node) []*xraylocal.Node {
	var out []*xraylocal.Node
	counts := map[*xraylocal.Node]int{}
	first := map[string]*xraylocal.Node{}
	for _, n := range nodes {
		key := n.Name + " " + n.Operation
		if len(n.Children) > 0 || n.Operation == "" {
			out = append(out, n)
			continue
		}
		if f, ok := first[key]; ok {
			counts[f]++
			f.End += n.DurationMS() / 1000
			continue
		}
		cp := *n
		first[key] = &cp
		counts[&cp] = 1
		out = append(out, &cp)
	}
	for n, c := range counts {
		if c > 1 {
			n.Operation = fmt.Sprintf("%s ×%d (total)", n.Operation, c)
		}
	}
	return out
}

// scan reports whether n's subtree names record id, and whether it names any record.
func scan(n *xraylocal.Node, id string) (has, any bool) {
	if r := recordID(n); r != "" {
		any = true
		has = r == id
	}
	for _, c := range n.Children {
		h, a := scan(c, id)
		has, any = has || h, any || a
	}
	return has, any
}
