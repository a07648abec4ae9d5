package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Goals of the load bench: write calls per 1,000 records for the pipeline and for the
// one-call-per-record baseline, and the CPU time of each hop per record.
const (
	GoalWritesPerK    = 300
	GoalBaselinePerK  = 3000
	GoalNsPerRecord   = 15_000
	GoalAllocs        = 50
	GoalInitMS        = 60
	GoalPeakMemoryMB  = 64
	GoalOverFloorPart = 0.15
	// The responder's cost per event, over a bare PutItem of the same items.
	GoalResponderOverFloor = 1.3
)

// Bootstrap is one function's binary as deployed and how fast it starts.
type Bootstrap struct {
	Function     string
	RawBytes     int64
	ZipBytes     int64
	InitMS       []float64 // process start to its first Runtime API next, one per start
	InitMedianMS float64
	Parts        []Part `json:",omitempty"` // by module, the largest first
}

// JSONResult is one codec's cost on the canonical record.
type JSONResult struct {
	Codec  string
	Op     string // "decode" or "encode"
	Ns     float64
	Allocs float64
	Found  bool
}

// Latency is the spread of Firehose-put-to-projection-write times.
type Latency struct {
	Samples            int
	P50, P90, P99, Max time.Duration
}

// Percentiles computes a Latency from samples (nearest rank).
func Percentiles(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Latency{Samples: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

// Bill is a priced usage.
type Bill struct {
	Name  string
	Lines []CostLine
	Total float64
}

// Report is everything `make bench` measured.
type Report struct {
	Generated  time.Time
	Machine    string
	GoVersion  string
	BenchCount int

	Hops       []HopResult
	JSON       []JSONResult
	JSONChoice string

	Records      int // records sent through the pipeline (and the baseline)
	Unique       int // distinct valid records: items, events
	Calls        []OpCount
	Functions    []FunctionStats
	FullBatches  []FullBatch // functions invoked once with their trigger's largest batch
	Bootstraps   []Bootstrap
	Elapsed      time.Duration // first put to last projection write
	Throughput   float64       // records per second over Elapsed
	Latency      Latency
	BaselineTime time.Duration // the baseline's sequential run over the same records
	HotEntity    *HotEntity    `json:",omitempty"` // one entity's records at rising rates; nil when not run

	Prices      PriceList
	Sizes       Sizes
	Design      Bill
	Baseline    Bill
	Floor       Bill
	Assumptions []string
	Notes       []string
}

// Goal is one row of the goals table.
type Goal struct {
	Name     string
	Target   string
	Measured string
	Met      bool
}

// Goals judges the measurements against the load bench's goals.
func (r Report) Goals() []Goal {
	var gs []Goal
	writes := WritesPerK(r.Calls, Design)
	base := WritesPerK(r.Calls, Baseline)
	var parts []string
	for _, c := range r.Calls {
		if c.Group == Design && c.Write {
			parts = append(parts, fmt.Sprintf("%s %.0f", c.Operation, c.PerK))
		}
	}
	gs = append(gs, Goal{"Write calls per 1,000 records (pipeline hops)", fmt.Sprintf("≤ %d (baseline %d)", GoalWritesPerK, GoalBaselinePerK),
		fmt.Sprintf("%.0f: %s (baseline measured %.0f)", writes, strings.Join(parts, ", "), base), writes > 0 && writes <= GoalWritesPerK})
	for _, h := range r.Hops {
		if !h.WritePath() {
			continue
		}
		ns := h.PerRecordNs()
		gs = append(gs, Goal{"CPU per record: " + h.Name, "≤ 15 µs", fmt.Sprintf("%.1f µs", ns/1000), ns <= GoalNsPerRecord})
		gs = append(gs, Goal{"Allocations per record: " + h.Name, fmt.Sprintf("≤ %d", GoalAllocs), fmt.Sprintf("%.1f", h.Allocs), h.Allocs <= GoalAllocs})
	}
	if respond, floor, ratio, ok := ResponderOverFloor(r.Hops); ok {
		gs = append(gs, Goal{"Responder per event against a bare PutItem of the same items", fmt.Sprintf("≤ %.1f×", GoalResponderOverFloor),
			fmt.Sprintf("%.2f× (%.1f µs against %.1f µs)", ratio, respond.PerRecordNs()/1000, floor.PerRecordNs()/1000), ratio <= GoalResponderOverFloor})
	}
	for _, b := range r.Bootstraps {
		if len(b.InitMS) == 0 {
			continue
		}
		gs = append(gs, Goal{"Init (median of " + fmt.Sprint(len(b.InitMS)) + "): " + b.Function, fmt.Sprintf("≤ %d ms", GoalInitMS), fmt.Sprintf("%.1f ms", b.InitMedianMS), b.InitMedianMS <= GoalInitMS})
	}
	for _, f := range r.Functions {
		peak := f.MaxMemoryMB
		for _, fb := range r.FullBatches {
			if fb.Function == f.Function && fb.Default {
				peak = max(peak, fb.MaxMemoryMB)
			}
		}
		gs = append(gs, Goal{"Peak memory: " + f.Function, fmt.Sprintf("≤ %d MB", GoalPeakMemoryMB), fmt.Sprintf("%d MB", peak), peak > 0 && peak <= GoalPeakMemoryMB})
	}
	if r.Floor.Total > 0 && r.Design.Total > 0 {
		over := r.Design.Total/r.Floor.Total - 1
		gs = append(gs, Goal{"Cost per million 1 KB records vs the floor", "within 15 %", fmt.Sprintf("$%.3f vs $%.3f (+%.1f %%)", r.Design.Total, r.Floor.Total, over*100), over <= GoalOverFloorPart})
	}
	return gs
}

func mark(met bool) string {
	if met {
		return "met"
	}
	return "**not met**"
}

// Markdown writes the report.
func (r Report) Markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# stream-to-events: performance report\n\n")
	p("Generated %s by `make bench` on %s, %s; benchmarks `-benchtime 500ms -count %d -cpu 1`. Chart: [chart.png](chart.png).\n\n",
		r.Generated.UTC().Format("2006-01-02 15:04 UTC"), r.Machine, r.GoVersion, r.BenchCount)

	p("## Goals\n\n| Goal | Target | Measured | |\n|---|---|---|---|\n")
	for _, g := range r.Goals() {
		p("| %s | %s | %s | %s |\n", g.Name, g.Target, g.Measured, mark(g.Met))
	}

	p("\n## Per hop (Go benchmarks, real SDK clients over an in-memory HTTP transport)\n\n")
	p("| Hop | Benchmark | CPU µs/record | wall µs/record | allocs/record |\n|---|---|---:|---:|---:|\n")
	for _, h := range r.Hops {
		if !h.Found {
			p("| %s | %s | – | – | – |\n", h.Name, h.Benchmark)
			continue
		}
		cpu := "–"
		if h.CPUNs > 0 {
			cpu = fmt.Sprintf("%.2f", h.CPUNs/1000)
		}
		p("| %s | `%s` | %s | %.2f | %.1f |\n", h.Name, h.Benchmark, cpu, h.Ns/1000, h.Allocs)
	}
	p("\nCPU time is the process's user+system time per record where the benchmark reports it (GC included); the goal is judged on it, else on wall time. The records API is per request, not part of the write path.\n")

	if len(r.JSON) > 0 {
		p("\n## JSON codec on the canonical record\n\n| Codec | Operation | ns/op | allocs/op |\n|---|---|---:|---:|\n")
		for _, j := range r.JSON {
			if !j.Found {
				p("| %s | %s | not run | |\n", j.Codec, j.Op)
				continue
			}
			p("| %s | %s | %.0f | %.0f |\n", j.Codec, j.Op, j.Ns, j.Allocs)
		}
		p("\n%s\n", r.JSONChoice)
	}

	p("\n## AWS calls per 1,000 records (local run, %d records, same records through both)\n\n", r.Records)
	p("| Who | Service | Operation | Calls | per 1,000 records | write |\n|---|---|---|---:|---:|---|\n")
	for _, c := range r.Calls {
		wr := ""
		if c.Write {
			wr = "yes"
		}
		p("| %s | %s | %s | %d | %.1f | %s |\n", c.Group, c.Service, c.Operation, c.Calls, c.PerK, wr)
	}
	p("\nWrite calls per 1,000 records: this design %.0f, baseline %.0f. \"consumer\" is the responder's projection write, one per event in either design; \"platform\" is what the local runner does for Firehose and the triggers (on AWS, Lambda's pollers: SQS receives and deletes are billed, DynamoDB stream reads by Lambda are not). Its SQS ReceiveMessage and DeleteMessage include ResponderQueue's, the queue the rule delivers the events to and the responder reads in batches, as on AWS, and its Kinesis calls are the change archive's delivery stream reading the table's changes.\n",
		WritesPerK(r.Calls, Design), WritesPerK(r.Calls, Baseline))
	p("\nAt AWS's batch limits this design's floor is exactly 300 write calls per 1,000 records: ten messages per SendMessageBatch, at most ten messages per FIFO batch to the storer (one BatchWriteItem each, whatever its limit of 25), ten entries per PutEvents. Batches that are not full (FIFO groups hand out fewer messages; the stream hands the emitter what it has) and retries push the measured count above it.\n")

	p("\n## Functions\n\n| Function | bootstrap | zipped | init median (min, starts) | invocations (local run) | mean duration | peak memory |\n|---|---:|---:|---:|---:|---:|---:|\n")
	byFn := map[string]FunctionStats{}
	for _, f := range r.Functions {
		byFn[f.Function] = f
	}
	for _, b := range r.Bootstraps {
		f := byFn[b.Function]
		run := "– | – | –"
		if f.Invocations > 0 {
			run = fmt.Sprintf("%d | %.1f ms | %d MB of %d", f.Invocations, f.MeanMS, f.MaxMemoryMB, f.MemorySizeMB)
		}
		p("| %s | %.1f MB | %.1f MB | %.1f ms (%.1f, %d) | %s |\n", b.Function, mb(b.RawBytes), mb(b.ZipBytes), b.InitMedianMS, slices.Min(append([]float64{b.InitMedianMS}, b.InitMS...)), len(b.InitMS), run)
	}
	p("\nInit is process start to the first Runtime API `next` (Lambda's Init Duration), on this machine's CPU with no network. Peak memory is VmHWM, as Lambda's Max Memory Used, the largest over the run's invocations (full batches: Firehose's buffer, 10 messages, 100 stream records). Durations are local and wait on moto_server, which answers far slower than AWS.\n")
	r.writeParts(p)

	for _, fb := range r.FullBatches {
		setting := "the parameter's maximum"
		if fb.Default {
			setting = "the template's default"
		}
		p("\nFull batch: %s invoked once with %d records (%.2f MB, %s ProcessorBufferSizeMB) and an in-process SQS that accepts at once: %.1f ms (%.1f µs per record, the SDK, loopback HTTP and the process included), peak memory %d MB of %d.\n",
			fb.Function, fb.Records, float64(fb.Bytes)/(1<<20), setting, fb.DurationMS, fb.DurationMS*1000/float64(max(fb.Records, 1)), fb.MaxMemoryMB, fb.MemorySizeMB)
	}

	p("\n## End to end (local)\n\n")
	p("%d records from the Firehose put to the projection write in %s: **%.0f records/s**. Latency (Firehose arrival to the projection write seen, %d records): p50 %s, p90 %s, p99 %s, max %s. The baseline made its %d×3 calls one record at a time in %s.\n",
		r.Records, r.Elapsed.Round(time.Millisecond), r.Throughput, r.Latency.Samples, r.Latency.P50.Round(time.Millisecond), r.Latency.P90.Round(time.Millisecond),
		r.Latency.P99.Round(time.Millisecond), r.Latency.Max.Round(time.Millisecond), r.Records, r.BaselineTime.Round(time.Millisecond))
	p("These figures are bound by moto_server on a 2-core machine (its FIFO queue slows as it fills), not by the functions; they show the flow works end to end at this rate, not what AWS would do.\n")
	if r.HotEntity != nil {
		r.HotEntity.markdown(w)
	}

	p("\n## Cost per million 1 KB records (%s, %s)\n\n", r.Prices.Region, r.Prices.Taken)
	p("| Item | floor | this design | baseline |\n|---|---:|---:|---:|\n")
	items := []string{}
	for _, b := range []Bill{r.Floor, r.Design, r.Baseline} {
		for _, l := range b.Lines {
			if !slices.Contains(items, l.Item) {
				items = append(items, l.Item)
			}
		}
	}
	for _, it := range items {
		p("| %s | %s | %s | %s |\n", it, usd(r.Floor, it), usd(r.Design, it), usd(r.Baseline, it))
	}
	p("| **total** | **$%.3f** | **$%.3f** | **$%.3f** |\n", r.Floor.Total, r.Design.Total, r.Baseline.Total)
	p("\nSizes measured on the generated records: record %d B, event store item %d B, projection item %d B, event entry %d B. ", r.Sizes.RecordBytes, r.Sizes.StoreItemBytes, r.Sizes.ProjectionBytes, r.Sizes.EventBytes)
	p("Prices from `bench/prices.json`, each with its source. Storage (S3, DynamoDB), CloudWatch Logs, X-Ray and data transfer are left out: they are the same for both designs.\n")
	if len(r.Assumptions) > 0 {
		p("\nAssumptions:\n\n")
		for _, a := range r.Assumptions {
			p("- %s\n", a)
		}
	}
	if len(r.Notes) > 0 {
		p("\nNotes:\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	p("\nRerun: `make bench` (a few minutes; needs moto_server). It writes bench/report.md and bench/chart.png.\n")
}

func usd(b Bill, item string) string {
	for _, l := range b.Lines {
		if l.Item == item {
			return fmt.Sprintf("$%.4f", l.USD)
		}
	}
	return "–"
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// Panels are the chart's contents: write calls per 1,000 records by service for both designs,
// and CPU time per record per hop against the goal.
func (r Report) Panels() []Panel {
	type svc struct{ label, service string }
	calls := Panel{Title: "WRITE CALLS PER 1,000 RECORDS: THIS DESIGN VS BASELINE"}
	for _, s := range []svc{{"SQS", "sqs"}, {"DynamoDB", "dynamodb"}, {"EventBridge", "events"}} {
		for _, g := range []string{Design, Baseline} {
			v := 0.0
			for _, c := range r.Calls {
				if c.Group == g && c.Service == s.service && c.Write {
					v += c.PerK
				}
			}
			col := ColorDesign
			if g == Baseline {
				col = ColorBaseline
			}
			calls.Bars = append(calls.Bars, Bar{Label: s.label + " " + g, Value: v, Text: fmt.Sprintf("%.0f", v), Color: col})
		}
	}
	for _, g := range []string{Design, Baseline} {
		col := ColorDesign
		if g == Baseline {
			col = ColorBaseline
		}
		v := WritesPerK(r.Calls, g)
		calls.Bars = append(calls.Bars, Bar{Label: "TOTAL " + g, Value: v, Text: fmt.Sprintf("%.0f", v), Color: col})
	}
	hops := Panel{Title: "CPU US PER RECORD PER HOP (DASHED LINE: GOAL 15 US)", Goal: GoalNsPerRecord / 1000}
	for _, h := range r.Hops {
		if !h.WritePath() {
			continue
		}
		v := h.PerRecordNs() / 1000
		col := ColorMet
		if v > GoalNsPerRecord/1000 {
			col = ColorNotMet
		}
		hops.Bars = append(hops.Bars, Bar{Label: h.Name, Value: v, Text: fmt.Sprintf("%.1f us, %.0f allocs", v, h.Allocs), Color: col})
	}
	cost := Panel{Title: "USD PER MILLION 1 KB RECORDS"}
	cost.Bars = []Bar{
		{Label: "floor", Value: r.Floor.Total, Text: fmt.Sprintf("$%.3f", r.Floor.Total), Color: ColorMet},
		{Label: Design, Value: r.Design.Total, Text: fmt.Sprintf("$%.3f", r.Design.Total), Color: ColorDesign},
		{Label: Baseline, Value: r.Baseline.Total, Text: fmt.Sprintf("$%.3f", r.Baseline.Total), Color: ColorBaseline},
	}
	return []Panel{calls, hops, cost}
}
