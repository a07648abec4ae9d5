// Package benchreport turns the measurements of `make bench` into one report: the Go
// benchmarks' output per hop, the local run's AWS call counts per design, Lambda's REPORT lines,
// and the cost per million records from a cited price list. Each piece is a plain function of
// its input, so the arithmetic is tested without a run.
package report

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Benchmark is one result line of `go test -bench`: its package, its name without the -GOMAXPROCS
// suffix, the iterations, and every metric by unit ("ns/op", "allocs/op", "cpu-ns/record", …).
type Benchmark struct {
	Package string
	Name    string
	N       int
	Metrics map[string]float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseGoBench reads the output of `go test -bench` (any number of packages and -count runs).
// Lines that are not results (logs, PASS, ok) are skipped.
func ParseGoBench(r io.Reader) ([]Benchmark, error) {
	var out []Benchmark
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		// name, N, then value-unit pairs
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue // a benchmark's own log line that starts with its name
		}
		b := Benchmark{Package: pkg, Name: procsSuffix.ReplaceAllString(f[0], ""), N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: value %q: %w", line, f[i], err)
			}
			b.Metrics[f[i+1]] = v
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return out, nil
}

// Median is the median of a metric over the runs of one benchmark (-count), and whether any
// run reported it. pkg matches the end of the import path, so "internal/store" finds
// ".../internal/store".
func Median(bs []Benchmark, pkg, name, unit string) (float64, bool) {
	var vs []float64
	for _, b := range bs {
		if b.Name != name || !(b.Package == pkg || strings.HasSuffix(b.Package, "/"+pkg)) {
			continue
		}
		if v, ok := b.Metrics[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	return median(vs), true
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Hop names a hop's benchmark and how its metrics turn into per-record figures: benchmarks that
// report ns/record and allocs/record are used as they are; others run one record per op.
type Hop struct {
	Name      string // "transformer"
	Package   string // "internal/transform"
	Benchmark string // "BenchmarkTransform/sender=sqs/records=500"
}

// HopResult is a hop's per-record figures. CPUNs is the process CPU time per record where the
// benchmark reports it (cpu-ns/record), 0 where it does not.
type HopResult struct {
	Hop
	Ns, CPUNs, Allocs, BytesPerOp float64
	Found                         bool
}

// ResponderFloor names the responder's floor: its PutItem calls made bare, with nothing else.
const ResponderFloor = "responder floor (bare PutItem)"

// Hops are the pipeline's hops as `make bench` measures them.
var Hops = []Hop{
	{"transformer", "internal/transform", "BenchmarkTransform/sender=sqs/records=500"},
	{"storer", "internal/store", "BenchmarkStore"},
	{"emitter", "internal/emit", "BenchmarkEmit"},
	{"responder", "functions/eventresponder", "BenchmarkRespond"},
	{ResponderFloor, "functions/eventresponder", "BenchmarkBarePutItem"},
	{"records API (GET one)", "functions/recordsapi", "BenchmarkAPIGet"},
}

// WritePath reports whether the hop is one of the pipeline's write path, the hops the per-record
// goals hold: not the records API (per request) nor the responder's floor (a reference).
func (h HopResult) WritePath() bool {
	return h.Found && !strings.HasPrefix(h.Name, "records API") && h.Name != ResponderFloor
}

// ResponderOverFloor is the responder's cost per event over its floor's, with both, when the
// run measured both.
func ResponderOverFloor(hops []HopResult) (respond, floor HopResult, ratio float64, ok bool) {
	for _, h := range hops {
		switch h.Name {
		case "responder":
			respond = h
		case ResponderFloor:
			floor = h
		}
	}
	if !respond.Found || !floor.Found || floor.PerRecordNs() <= 0 {
		return respond, floor, 0, false
	}
	return respond, floor, respond.PerRecordNs() / floor.PerRecordNs(), true
}

// HopResults reads each hop's medians from the parsed benchmarks.
func HopResults(bs []Benchmark, hops []Hop) []HopResult {
	out := make([]HopResult, 0, len(hops))
	for _, h := range hops {
		r := HopResult{Hop: h}
		get := func(units ...string) float64 {
			for _, u := range units {
				if v, ok := Median(bs, h.Package, h.Benchmark, u); ok {
					r.Found = true
					return v
				}
			}
			return 0
		}
		r.Ns = get("ns/record", "ns/request", "ns/op")
		r.Allocs = get("allocs/record", "allocs/op")
		r.CPUNs, _ = Median(bs, h.Package, h.Benchmark, "cpu-ns/record")
		r.BytesPerOp, _ = Median(bs, h.Package, h.Benchmark, "B/op")
		out = append(out, r)
	}
	return out
}

// PerRecordNs is the figure the goal is judged on: the CPU time per record where the benchmark
// measures it (what a Lambda core pays; a shared machine's wall clock also counts the
// neighbours), else the wall-clock time.
func (h HopResult) PerRecordNs() float64 {
	if h.CPUNs > 0 {
		return h.CPUNs
	}
	return h.Ns
}

// MedianOf is the median of vs (0 for none).
func MedianOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	return median(vs)
}
