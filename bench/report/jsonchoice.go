package report

import (
	"fmt"
	"strings"
)

// The codecs BenchmarkJSON compares.
var jsonCodecs = []struct{ name, label string }{
	{"scanner", "record.Parser / Record.AppendJSON (this repo)"},
	{"encoding-json", "encoding/json"},
	{"json-v2", "encoding/json/v2 (GOEXPERIMENT=jsonv2)"},
}

// JSONResults reads BenchmarkJSON's medians and says which codec the hot path should use, by
// the sum of decode and encode time with allocations as the tie-break.
func JSONResults(bs []Benchmark) ([]JSONResult, string) {
	var out []JSONResult
	type total struct {
		label      string
		ns, allocs float64
		found      bool
	}
	var totals []total
	for _, c := range jsonCodecs {
		t := total{label: c.label, found: true}
		for _, op := range []string{"decode", "encode"} {
			name := "BenchmarkJSON/codec=" + c.name + "/op=" + op
			ns, ok := Median(bs, "bench/report", name, "ns/op")
			allocs, _ := Median(bs, "bench/report", name, "allocs/op")
			out = append(out, JSONResult{Codec: c.label, Op: op, Ns: ns, Allocs: allocs, Found: ok})
			t.found = t.found && ok
			t.ns += ns
			t.allocs += allocs
		}
		if t.found {
			totals = append(totals, t)
		}
	}
	// Validation alone, where measured: contracts.Check validates a document the parser has
	// already scanned.
	for _, c := range jsonCodecs {
		name := "BenchmarkJSON/codec=" + c.name + "/op=valid"
		if ns, ok := Median(bs, "bench/report", name, "ns/op"); ok {
			allocs, _ := Median(bs, "bench/report", name, "allocs/op")
			out = append(out, JSONResult{Codec: c.label, Op: "valid (syntax check only)", Ns: ns, Allocs: allocs, Found: true})
		}
	}
	if len(totals) == 0 {
		return out, "The JSON benchmarks did not run."
	}
	best := totals[0]
	for _, t := range totals[1:] {
		if t.ns < best.ns || (t.ns == best.ns && t.allocs < best.allocs) {
			best = t
		}
	}
	var others []string
	for _, t := range totals {
		if t.label != best.label {
			others = append(others, fmt.Sprintf("%s %.0f ns and %.0f allocations (%.1f×)", t.label, t.ns, t.allocs, t.ns/best.ns))
		}
	}
	choice := fmt.Sprintf("Decode plus encode of one generated order: %s takes %.0f ns and %.0f allocations; %s. Choice: **%s**.",
		best.label, best.ns, best.allocs, strings.Join(others, "; "), best.label)
	if len(totals) < len(jsonCodecs) {
		choice += " (Not every codec ran: encoding/json/v2 needs GOEXPERIMENT=jsonv2 in this Go version.)"
	}
	if best.label == jsonCodecs[0].label {
		choice += " The pipeline keeps its own scanner, which also checks UTF-8, member names and depth in the same pass; no third-party JSON module is added (the AWS SDK's own serialisers are not replaceable anyway)."
	} else {
		choice += " The pipeline's own scanner is slower here than " + best.label + ": worth moving the hot path to it."
	}
	if ns, ok := Median(bs, "bench/report", "BenchmarkJSON/codec=encoding-json/op=valid", "ns/op"); ok {
		choice += fmt.Sprintf(" The transformer also runs json.Valid (%.0f ns here) inside contracts.Check on a record that record.Parser has already scanned: skipping that second pass for parsed records saves about as much per record on the transformer hop.", ns)
	}
	return out, choice
}
