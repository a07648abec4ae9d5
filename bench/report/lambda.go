package report

import (
	"bufio"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Invocation is what one REPORT line of Lambda (or the local runtime, which prints the same
// lines) says about one invocation.
type Invocation struct {
	Function     string  // the logical ID the local runtime prefixes the line with
	DurationMS   float64 // Duration
	BilledMS     float64 // Billed Duration (init included on provided runtimes' cold starts)
	MemorySizeMB int
	MaxMemoryMB  int
	InitMS       float64 // Init Duration, 0 on a warm start
}

// ParseReport reads one log line, "<Function> REPORT RequestId: …\tDuration: 1.23 ms\t…";
// ok is false for any other line.
func ParseReport(line string) (Invocation, bool) {
	fn, rest, found := strings.Cut(line, " ")
	if !found || !strings.HasPrefix(rest, "REPORT RequestId:") {
		return Invocation{}, false
	}
	inv := Invocation{Function: fn}
	for field := range strings.SplitSeq(rest, "\t") {
		name, value, ok := strings.Cut(field, ": ")
		if !ok {
			continue
		}
		num := strings.Fields(value)
		if len(num) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(num[0], 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(name) {
		case "Duration":
			inv.DurationMS = v
		case "Billed Duration":
			inv.BilledMS = v
		case "Memory Size":
			inv.MemorySizeMB = int(v)
		case "Max Memory Used":
			inv.MaxMemoryMB = int(v)
		case "Init Duration":
			inv.InitMS = v
		}
	}
	return inv, true
}

// Reports collects the REPORT lines written to it (an io.Writer for the local runtime's Logs)
// and drops every other line.
type Reports struct {
	mu      sync.Mutex
	pending []byte
	list    []Invocation
}

// Write implements io.Writer; lines may arrive in pieces.
func (r *Reports) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, p...)
	for {
		i := slices.Index(r.pending, '\n')
		if i < 0 {
			break
		}
		if inv, ok := ParseReport(string(r.pending[:i])); ok {
			r.list = append(r.list, inv)
		}
		r.pending = r.pending[i+1:]
	}
	return len(p), nil
}

// ReadFrom reads lines until EOF.
func (r *Reports) ReadFrom(rd io.Reader) (int64, error) {
	sc := bufio.NewScanner(rd)
	var n int64
	for sc.Scan() {
		n += int64(len(sc.Bytes()) + 1)
		if inv, ok := ParseReport(sc.Text()); ok {
			r.mu.Lock()
			r.list = append(r.list, inv)
			r.mu.Unlock()
		}
	}
	return n, sc.Err()
}

// Invocations returns what was collected.
func (r *Reports) Invocations() []Invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// FunctionStats sums one function's invocations.
type FunctionStats struct {
	Function     string
	Invocations  int
	ColdStarts   int
	MeanMS       float64 // mean Duration
	MeanBilledMS float64
	MaxMemoryMB  int
	MemorySizeMB int
	InitMedianMS float64 // median Init Duration of the cold starts
}

// Summarise groups invocations by function, sorted by name.
func Summarise(invs []Invocation) []FunctionStats {
	by := map[string][]Invocation{}
	for _, inv := range invs {
		by[inv.Function] = append(by[inv.Function], inv)
	}
	var out []FunctionStats
	for _, fn := range slices.Sorted(maps.Keys(by)) {
		s := FunctionStats{Function: fn}
		var dur, billed float64
		var inits []float64
		for _, inv := range by[fn] {
			s.Invocations++
			dur += inv.DurationMS
			billed += inv.BilledMS
			s.MaxMemoryMB = max(s.MaxMemoryMB, inv.MaxMemoryMB)
			s.MemorySizeMB = max(s.MemorySizeMB, inv.MemorySizeMB)
			if inv.InitMS > 0 {
				s.ColdStarts++
				inits = append(inits, inv.InitMS)
			}
		}
		s.MeanMS = dur / float64(s.Invocations)
		s.MeanBilledMS = billed / float64(s.Invocations)
		if len(inits) > 0 {
			s.InitMedianMS = median(inits)
		}
		out = append(out, s)
	}
	return out
}

// FullBatch is one invocation with the largest batch its trigger hands a function.
type FullBatch struct {
	Function string
	Records  int
	Bytes    int
	Default  bool // the template's default setting, which the goal is judged on
	Invocation
}
