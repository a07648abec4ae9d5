package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/stream-to-events/stream-to-events/test/docblock"
)

// Summary writes the README's performance table from the same report as Markdown: the write
// calls, each hop's CPU and allocations, start-up, memory, bootstrap sizes and the cost, against
// the original per-record design and the goals.
func (r Report) Summary(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("| | this design | original per-record design | goal |\n|---|---:|---:|---|\n")

	byService := map[string]float64{}
	for _, c := range r.Calls {
		if c.Group == Design && c.Write {
			byService[c.Service] += c.PerK
		}
	}
	p("| Write calls per 1,000 records (SQS + DynamoDB + EventBridge) | %s (%.0f + %.0f + %.0f) | %s | ≤ %d |\n",
		thousands(WritesPerK(r.Calls, Design)), byService["sqs"], byService["dynamodb"], byService["events"],
		thousands(WritesPerK(r.Calls, Baseline)), GoalWritesPerK)

	var names, cpu, allocs []string
	for _, h := range r.Hops {
		if !h.WritePath() {
			continue
		}
		names = append(names, h.Name)
		cpu = append(cpu, trimFloat(h.PerRecordNs()/1000))
		allocs = append(allocs, fmt.Sprintf("%.0f", h.Allocs))
	}
	p("| CPU per record: %s | %s µs | – | ≤ %d µs |\n", strings.Join(names, " / "), strings.Join(cpu, " / "), GoalNsPerRecord/1000)
	p("| Allocations per record, same hops | %s | – | ≤ %d |\n", strings.Join(allocs, " / "), GoalAllocs)
	if respond, floor, ratio, ok := ResponderOverFloor(r.Hops); ok {
		p("| Responder per event / bare PutItem of the same items | %s / %s µs (%.2f×) | – | ≤ %.1f× |\n",
			trimFloat(respond.PerRecordNs()/1000), trimFloat(floor.PerRecordNs()/1000), ratio, GoalResponderOverFloor)
	}

	var inits, raw, zipped []float64
	for _, b := range r.Bootstraps {
		if len(b.InitMS) > 0 {
			inits = append(inits, b.InitMedianMS)
		}
		raw = append(raw, float64(b.RawBytes)/1e6)
		zipped = append(zipped, float64(b.ZipBytes)/1e6)
	}
	p("| Cold start (Init Duration, median of %d) | %s ms | – | ≤ %d ms |\n", r.initStarts(), span(inits, "%.0f"), GoalInitMS)

	var transformer string
	var others []float64
	for _, f := range r.Functions {
		peak := f.MaxMemoryMB
		for _, fb := range r.FullBatches {
			if fb.Function == f.Function && fb.Default {
				peak = max(peak, fb.MaxMemoryMB)
			}
		}
		if f.Function == "TransformerFunction" {
			transformer = fmt.Sprintf("%d MB", peak)
		} else if peak > 0 {
			others = append(others, float64(peak))
		}
	}
	p("| Peak memory (transformer with a full Firehose batch; others) | %s; %s MB | – | ≤ %d MB |\n", transformer, span(others, "%.0f"), GoalPeakMemoryMB)
	p("| Bootstrap, raw / zipped | %s MB / %s MB | – | |\n", span(raw, "%.0f"), span(zipped, "%.1f"))
	if h := r.HotEntity; h != nil {
		name, value := hotEntityRow(*h)
		p("| %s | %s | – | |\n", name, value)
	}
	if r.Floor.Total > 0 && r.Design.Total > 0 {
		over := r.Design.Total/r.Floor.Total - 1
		p("| Cost per million 1 KB records (us-east-1) | $%.2f | $%.2f | within %.0f %% of the $%.2f floor: %+.0f %% |\n",
			r.Design.Total, r.Baseline.Total, GoalOverFloorPart*100, r.Floor.Total, over*100)
	}
}

// hotEntityRow is the summary's two cells on the hot-entity case: what the local run kept up
// with, what it stored the entity's records at when it did not, and the model at the local
// storer's duration.
func hotEntityRow(h HotEntity) (name, value string) {
	steady, growing := h.Knee()
	var parts, names []string
	switch {
	case growing == nil && steady != nil:
		names, parts = append(names, "keeps up at"), append(parts, fmt.Sprintf("≥ %g", steady.Rate))
	case growing != nil:
		kept := "–"
		if steady != nil {
			kept = fmt.Sprintf("%g", steady.Rate)
		}
		names = append(names, "keeps up to", "stored at past it")
		parts = append(parts, kept, trimFloat(growing.Served))
	}
	if m := h.ModelRate(); m > 0 {
		names, parts = append(names, "model at the local storer batch"), append(parts, thousands(m))
	}
	return "One busy entity, local run: " + strings.Join(names, " / "), strings.Join(parts, " / ") + " records/s"
}

// initStarts is how many starts each bootstrap's median is of.
func (r Report) initStarts() int {
	n := 0
	for _, b := range r.Bootstraps {
		n = max(n, len(b.InitMS))
	}
	return n
}

// span is "a–b" for the smallest and largest of vs, or "a" when they round the same.
func span(vs []float64, format string) string {
	if len(vs) == 0 {
		return "–"
	}
	lo, hi := fmt.Sprintf(format, slices.Min(vs)), fmt.Sprintf(format, slices.Max(vs))
	if lo == hi {
		return lo
	}
	return lo + "–" + hi
}

// trimFloat is v with one decimal below 100 and none from 100 on.
func trimFloat(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// thousands is v rounded, with a comma between thousands.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// SummaryBlock is where the README shows the summary table.
var SummaryBlock = docblock.Block{
	Begin: "<!-- performance figures: written by make bench, from bench/report.json as bench/report.md -->\n",
	End:   "<!-- end of performance figures -->\n",
}

// WriteSummary puts r's summary table into the README at path, between the markers.
func WriteSummary(path string, r Report) error {
	var t strings.Builder
	r.Summary(&t)
	if err := SummaryBlock.Write(path, t.String()); err != nil {
		return fmt.Errorf("write the performance table into the README: %w", err)
	}
	return nil
}
