package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestTrend(t *testing.T) {
	line := func(n int, slope float64, y func(i int, x float64) float64) ([]float64, []float64) {
		var xs, ys []float64
		for i := range n {
			x := float64(i) * 0.1
			xs = append(xs, x)
			ys = append(ys, slope*x+y(i, x))
		}
		return xs, ys
	}
	for _, tc := range []struct {
		name string
		x, y []float64
		want float64
	}{
		{"none", nil, nil, 0},
		{"one point", []float64{1}, []float64{2}, 0},
		{"same x", []float64{1, 1}, []float64{2, 3}, 0},
	} {
		if got := Trend(tc.x, tc.y); got != tc.want {
			t.Errorf("%s: Trend = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A rise of 0.5 under a sawtooth of period 1 (a Firehose buffer's wait) and a burst of
	// outliers 3 s high on a tenth of the points.
	x, y := line(200, 0.5, func(i int, x float64) float64 {
		v := 1 - math.Mod(x, 1)
		if i >= 150 && i < 170 {
			v += 3
		}
		return v
	})
	if got := Trend(x, y); math.Abs(got-0.5) > 0.05 {
		t.Errorf("Trend of a rising sawtooth with outliers = %.3f, want 0.5", got)
	}
	x, y = line(200, 0, func(_ int, x float64) float64 { return 1 - math.Mod(x, 1) })
	if got := Trend(x, y); math.Abs(got) > 0.05 {
		t.Errorf("Trend of a flat sawtooth = %.3f, want 0", got)
	}
	// A long series is thinned, not refused.
	x, y = line(5*trendPoints, 2, func(int, float64) float64 { return 0 })
	if got := Trend(x, y); math.Abs(got-2) > 1e-9 {
		t.Errorf("Trend of a long line = %v, want 2", got)
	}
}

func TestHotStepGrowing(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    HotStep
		want bool
	}{
		{"steady", HotStep{Sent: 30, Stored: 30, Growth: 0.01, GrowthEarly: 0.02, GrowthLate: -0.01, Rise: 150 * time.Millisecond}, false},
		{"grows throughout", HotStep{Sent: 300, Stored: 300, Growth: 1.08, GrowthEarly: 1.05, GrowthLate: 1.1, Rise: 16 * time.Second}, true},
		{"one half only: a slow answer", HotStep{Sent: 75, Stored: 75, Growth: 0.15, GrowthEarly: 0.0, GrowthLate: 0.4, Rise: 2 * time.Second}, false},
		{"grows, but less than a second over the step", HotStep{Sent: 20, Stored: 20, Growth: 0.2, GrowthEarly: 0.2, GrowthLate: 0.2, Rise: 800 * time.Millisecond}, false},
		{"records never stored", HotStep{Sent: 300, Stored: 290}, true},
		{"nothing sent", HotStep{}, false},
	} {
		if got := tc.s.Growing(); got != tc.want {
			t.Errorf("%s: Growing = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// hotEntityRun is a case as the bench records it: steady at 2 and 10 records/s, growing at 20.
func hotEntityRun() HotEntity {
	return HotEntity{
		Entity: "order#SKU-1234-0000", Step: 15 * time.Second, Poll: 250 * time.Millisecond, BufferInterval: time.Second, BatchSize: 10,
		StoreCallsPerBatch: map[string]float64{"BatchWriteItem": 1, "BatchGetItem": 1},
		Steps: []HotStep{
			{Rate: 2, Sent: 30, Offered: 2, Stored: 30, Served: 2, Latency: Latency{Samples: 30, P50: 760 * time.Millisecond, P90: 1260 * time.Millisecond, Max: 1260 * time.Millisecond},
				Growth: -0.01, GrowthEarly: 0.01, GrowthLate: -0.02, Rise: -130 * time.Millisecond, Backlog: 3, Drain: 300 * time.Millisecond,
				Batches: 10, BatchRecords: 30, StorerMS: 25, Transforms: 10, TransformerMS: 10},
			{Rate: 10, Sent: 150, Offered: 10, Stored: 150, Served: 9.5, Latency: Latency{Samples: 150, P50: 1850 * time.Millisecond, P90: 2290 * time.Millisecond, Max: 2570 * time.Millisecond},
				Growth: 0.05, GrowthEarly: 0.04, GrowthLate: 0.06, Rise: 770 * time.Millisecond, Backlog: 19, Queued: 14, Drain: 1800 * time.Millisecond,
				Batches: 16, BatchRecords: 150, StorerMS: 59, Transforms: 13, TransformerMS: 82},
			{Rate: 20, Sent: 300, Offered: 20, Stored: 300, Served: 9.6, Latency: Latency{Samples: 300, P50: 8800 * time.Millisecond, P90: 15360 * time.Millisecond, Max: 16860 * time.Millisecond},
				Growth: 1.08, GrowthEarly: 1.05, GrowthLate: 1.1, Rise: 16 * time.Second, Backlog: 170, Queued: 151, Drain: 16400 * time.Millisecond,
				Batches: 30, BatchRecords: 300, StorerMS: 91, Transforms: 14, TransformerMS: 168, InvokeMS: 120, SettleMS: 30},
		},
	}
}

func TestHotEntityFindsTheKneeAndComparesTheModel(t *testing.T) {
	h := hotEntityRun()
	steady, growing := h.Knee()
	if steady == nil || growing == nil || steady.Rate != 10 || growing.Rate != 20 || h.Loaded() != growing {
		t.Fatalf("knee %v / %v, want 10 and 20 records/s, the model compared at 20", steady, growing)
	}
	// 10 records per 91 ms batch; one batch of 10 every 10 / 9.6 s.
	if m := h.ModelRate(); math.Abs(m-10/0.091) > 1e-9 {
		t.Errorf("model rate %v, want %v", m, 10/0.091)
	}
	if c := h.Cycle(); c.Round(time.Millisecond) != 1042*time.Millisecond {
		t.Errorf("cycle %v, want 1.042s", c)
	}

	var md bytes.Buffer
	h.markdown(&md)
	doc := md.String()
	for _, want := range []string{
		"| 20 | 20.0 | 9.6 | 8.80s / 15.36s / 16.86s | +1.08 (+1.05, +1.10) | 170 (151) | 16.4s | 30 (10.0, 91) | 14 (168) | **grows** |",
		"| 10 | 10.0 | 9.5 | 1.85s / 2.29s / 2.57s | +0.05 (+0.04, +0.06) | 19 (14) | 1.8s | 16 (9.4, 59) | 13 (82) | keeps up |",
		"grows without bound past 10 records/s", "**9.6 records/s** with 170 waiting",
		"gives 10 / 91 ms = **110 records/s**", "every 1.042s, of which the storer took 91 ms",
		"BatchGetItem 1.0, BatchWriteItem 1.0", "at 20 records/s one batch of the entity followed another every 1.042s",
		"waited 120ms on each invocation (the function reported 91ms of it", "then 30ms deleting the batch's messages",
		"and 892ms went to its next ReceiveMessage", "from 25ms a batch at 2 records/s to 91ms here",
		"151 were in IngestQueue",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the section lacks %q:\n%s", want, doc)
		}
	}

	name, value := hotEntityRow(h)
	if name != "One busy entity, local run: keeps up to / stored at past it / model at the local storer batch" || value != "10 / 9.6 / 110 records/s" {
		t.Errorf("summary row %q | %q", name, value)
	}
}

func TestHotEntityWithoutAKnee(t *testing.T) {
	steadyOnly := hotEntityRun()
	steadyOnly.Steps = steadyOnly.Steps[:2]
	if !strings.Contains(steadyOnly.Verdict(), "kept steady at every rate sent, up to 10 records/s") || steadyOnly.Loaded().Rate != 10 {
		t.Errorf("no step grew: %q, loaded %v", steadyOnly.Verdict(), steadyOnly.Loaded())
	}
	if _, value := hotEntityRow(steadyOnly); value != "≥ 10 / 169 records/s" {
		t.Errorf("summary %q, want the highest steady rate and the model at 59 ms", value)
	}
	growingOnly := hotEntityRun()
	growingOnly.Steps = growingOnly.Steps[2:]
	if !strings.Contains(growingOnly.Verdict(), "grew at the lowest rate sent, 20 records/s") {
		t.Errorf("every step grew: %q", growingOnly.Verdict())
	}
	if (HotEntity{}).Verdict() != "The hot-entity case sent nothing." || (HotEntity{}).ModelRate() != 0 || (HotEntity{}).Cycle() != 0 {
		t.Error("an empty case must say so and model nothing")
	}
}

// The section and the summary row come from report.json like every other figure: a report
// with the case renders the same after a round trip through JSON.
func TestHotEntityRoundTripsThroughJSON(t *testing.T) {
	h := hotEntityRun()
	r := Report{Generated: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), HotEntity: &h}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	r.Markdown(&a)
	back.Markdown(&b)
	if a.String() != b.String() || !strings.Contains(a.String(), "## One busy entity (local)") {
		t.Error("the hot-entity section does not survive report.json")
	}
	a.Reset()
	b.Reset()
	r.Summary(&a)
	back.Summary(&b)
	if a.String() != b.String() || !strings.Contains(a.String(), "One busy entity, local run") {
		t.Errorf("the summary row does not survive report.json:\n%s", b.String())
	}
	var none bytes.Buffer
	Report{}.Markdown(&none)
	if strings.Contains(none.String(), "One busy entity") {
		t.Error("a report without the case must not render its section")
	}
}
