package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/bench/report"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
)

// TestCapacityDocIsGenerated regenerates docs/capacity.md and its chart from the committed bench
// outputs and quotas, and fails when the committed files differ: they are never edited by hand.
func TestCapacityDocIsGenerated(t *testing.T) {
	out := t.TempDir()
	if err := run(bench("report.json"), bench("quotas.json"), out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"capacity.md", "capacity.png"} {
		got, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("..", "..", "docs", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, committed) {
			t.Errorf("docs/%s is not what `make capacity` writes from the committed bench outputs: run make capacity", f)
		}
	}
}

// TestCapacityModelAnswers checks what the model must say whatever the bench measured: every
// rate has its cost and binding quota, and the hot-entity ceiling is stated.
func TestCapacityModelAnswers(t *testing.T) {
	m, err := load(bench("report.json"), bench("quotas.json"))
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	m.Markdown(&md)
	doc := md.String()
	for _, want := range []string{"## 1,000 records/s", "## 10,000 records/s", "## 100,000 records/s", "## 1,000,000 records/s", "Monthly cost", "## One busy entity", "records/s of 1 KB"} {
		if !strings.Contains(doc, want) {
			t.Errorf("capacity.md lacks %q", want)
		}
	}
}

// The busy entity's section sets the figure the bench measured locally beside the model's, from
// report.json, and says so when the bench left the case out.
func TestCapacityStatesTheLocalHotEntity(t *testing.T) {
	h := report.HotEntity{Entity: "order#k", Step: 15 * time.Second, BatchSize: 10, Steps: []report.HotStep{
		{Rate: 10, Sent: 150, Stored: 150, Served: 10, Latency: report.Latency{P50: 2 * time.Second}, Batches: 15, BatchRecords: 150, StorerMS: 50},
		{Rate: 20, Sent: 300, Stored: 300, Served: 9.6, Growth: 1, GrowthEarly: 1, GrowthLate: 1, Rise: 15 * time.Second, Backlog: 170, Batches: 30, BatchRecords: 300, StorerMS: 100},
	}}
	for _, tc := range []struct {
		name string
		hot  *report.HotEntity
		want []string
	}{
		{"measured", &h, []string{"Measured by `make bench` on the local run", "grows without bound past 10 records/s", "**9.6 records/s**",
			"gives 10 / 100 ms = **100 records/s**", "The model above takes "}},
		{"left out", nil, []string{"Not measured locally"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			figures := committedFigures(t, func(r *report.Report) { r.HotEntity = tc.hot })
			m, err := load(figures, bench("quotas.json"))
			if err != nil {
				t.Fatal(err)
			}
			var md bytes.Buffer
			m.Markdown(&md)
			_, busy, _ := strings.Cut(md.String(), "## One busy entity")
			busy, _, _ = strings.Cut(busy, "## Quotas")
			for _, want := range tc.want {
				if !strings.Contains(busy, want) {
					t.Errorf("the busy entity's section lacks %q:\n%s", want, busy)
				}
			}
		})
	}
}

func TestCapacityBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "quotas.json")
	if err := os.WriteFile(bad, []byte(`{"quotas": {`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(bench("report.json"), bad, t.TempDir()); err == nil || !strings.Contains(err.Error(), "quotas.json") {
		t.Errorf("a broken quotas file: %v, want an error naming it", err)
	}
	for name, change := range map[string]func(*report.Report){
		"no storer writes": func(r *report.Report) {
			r.Calls = slices.DeleteFunc(r.Calls, func(c report.OpCount) bool { return c.Operation == "BatchWriteItem" })
		},
		"no storer benchmark": func(r *report.Report) {
			r.Hops = slices.DeleteFunc(r.Hops, func(h report.HopResult) bool { return h.Name == "storer" })
		},
		"no bill":  func(r *report.Report) { r.Design.Lines = nil },
		"no sizes": func(r *report.Report) { r.Sizes = report.Sizes{} },
	} {
		figures := committedFigures(t, change)
		if _, err := load(figures, bench("quotas.json")); err == nil || !strings.Contains(err.Error(), figures) {
			t.Errorf("figures with %s: %v, want an error naming %s", name, err, figures)
		}
	}
}

// bench is the path of one of the committed bench outputs.
func bench(name string) string { return filepath.Join("..", "..", "bench", name) }

// committedFigures writes bench/report.json, changed by change, to a file of its own.
func committedFigures(t *testing.T, change func(*report.Report)) string {
	t.Helper()
	raw, err := os.ReadFile(bench("report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	change(&r)
	if raw, err = json.Marshal(r); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The model's batch sizes are assumptions of quotas.json; they must be the template's, or the
// busy entity's ceiling and the responder's invocations are of another stack.
func TestAssumedBatchSizesAreTheTemplates(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := loadQuotas(bench("quotas.json"))
	if err != nil {
		t.Fatal(err)
	}
	for assumption, trigger := range map[string][2]string{
		"storer_batch_size":    {"EventStorerFunction", "IngestQueue"},
		"responder_batch_size": {"EventResponderFunction", "DataInserted"},
	} {
		ev, err := tmpl.Event(trigger[0], trigger[1])
		if err != nil {
			t.Fatal(err)
		}
		if got, want := q.Assumptions[assumption].Value, float64(samtemplate.Int(ev["BatchSize"], 10)); got != want {
			t.Errorf("quotas.json %s = %v, the template's %s.%s BatchSize = %v", assumption, got, trigger[0], trigger[1], want)
		}
	}
}
