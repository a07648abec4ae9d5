package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestEmitDefinesWhatTheLineHolds checks that the store's counts are metrics only in the lines
// that hold them, so the other hops make no series of zeros.
func TestEmitDefinesWhatTheLineHolds(t *testing.T) {
	for _, tt := range []struct {
		c    Counts
		want []string
	}{
		{Counts{In: 3, Out: 3}, []string{"RecordsIn", "RecordsOut", "RecordsFailed"}},
		{Counts{In: 3, Out: 2, Conflicts: 1}, []string{"RecordsIn", "RecordsOut", "RecordsFailed", "RecordsConflicted"}},
		{Counts{In: 3, Out: 3, Unchanged: 2}, []string{"RecordsIn", "RecordsOut", "RecordsFailed", "RecordsUnchanged"}},
	} {
		var b bytes.Buffer
		if err := Emit(&b, HopStore, tt.c); err != nil {
			t.Fatal(err)
		}
		var line map[string]any
		if err := json.Unmarshal(b.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		var e envelope
		_ = json.Unmarshal(b.Bytes(), &e)
		var got []string
		for _, m := range e.AWS.CloudWatchMetrics[0].Metrics {
			got = append(got, m.Name)
			if _, ok := line[m.Name]; !ok {
				t.Errorf("%+v: metric %s defined but not in the line %s", tt.c, m.Name, b.String())
			}
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%+v: metrics %v, want %v", tt.c, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%+v: metrics %v, want %v", tt.c, got, tt.want)
			}
		}
	}
	if len(defs[0].Metrics) != 3 {
		t.Errorf("Emit changed the shared definitions: %v", defs[0].Metrics)
	}
}
