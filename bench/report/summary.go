package report

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
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
		if !h.Found || strings.HasPrefix(h.Name, "records API") {
			continue
		}
		names = append(names, h.Name)
		cpu = append(cpu, trimFloat(h.PerRecordNs()/1000))
		allocs = append(allocs, fmt.Sprintf("%.0f", h.Allocs))
	}
	p("| CPU per record: %s | %s µs | – | ≤ %d µs |\n", strings.Join(names, " / "), strings.Join(cpu, " / "), GoalNsPerRecord/1000)
	p("| Allocations per record, same hops | %s | – | ≤ %d |\n", strings.Join(allocs, " / "), GoalAllocs)

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
	if r.Floor.Total > 0 && r.Design.Total > 0 {
		over := r.Design.Total/r.Floor.Total - 1
		p("| Cost per million 1 KB records (us-east-1) | $%.2f | $%.2f | within %.0f %% of the $%.2f floor: %+.0f %% |\n",
			r.Design.Total, r.Baseline.Total, GoalOverFloorPart*100, r.Floor.Total, over*100)
	}
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

// The README shows the summary table between these lines.
const (
	SummaryBegin = "<!-- performance figures: written by make bench, from bench/report.json as bench/report.md -->\n"
	SummaryEnd   = "<!-- end of performance figures -->\n"
)

// SummaryIn returns the part of readme between the markers, and where it starts and ends.
func SummaryIn(readme string) (table string, start, end int, err error) {
	start = strings.Index(readme, SummaryBegin)
	end = strings.Index(readme, SummaryEnd)
	if start < 0 || end < start {
		return "", 0, 0, fmt.Errorf("the README lacks the lines %q and %q around the performance table", SummaryBegin, SummaryEnd)
	}
	start += len(SummaryBegin)
	return readme[start:end], start, end, nil
}

// WriteSummary puts r's summary table into the README at path, between the markers.
func WriteSummary(path string, r Report) error {
	b, err := os.ReadFile(path) // #nosec G304 -- the repository's README, named by the bench's flag
	if err != nil {
		return fmt.Errorf("read the README: %w", err)
	}
	_, start, end, err := SummaryIn(string(b))
	if err != nil {
		return err
	}
	var t strings.Builder
	r.Summary(&t)
	out := string(b[:start]) + t.String() + string(b[end:])
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil { // #nosec G306 G703 -- a committed document, named by the bench's own flag
		return fmt.Errorf("write the README: %w", err)
	}
	return nil
}
