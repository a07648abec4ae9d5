package template

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/metrics"
)

// TestDashboardPlotsTheHops: the flow dashboard plots each hop that emits metrics, by the name
// the functions emit it under, and no name that no function emits.
func TestDashboardPlotsTheHops(t *testing.T) {
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	emitted := []string{metrics.HopTransform, metrics.HopStore, metrics.HopEmit, metrics.HopRespond, metrics.HopArchive}
	var plotted []string
	for _, m := range regexp.MustCompile(`"`+metrics.Namespace+`",\s*"RecordsIn",\s*"Hop",\s*"([^"]+)"`).FindAllSubmatch(b, -1) {
		plotted = append(plotted, string(m[1]))
	}
	for _, hop := range plotted {
		if !slices.Contains(emitted, hop) {
			t.Errorf("the dashboard plots hop %q, which no function emits metrics under (want one of %v)", hop, emitted)
		}
	}
	for _, hop := range emitted {
		if !slices.Contains(plotted, hop) {
			t.Errorf("the dashboard does not plot hop %q (it plots %v)", hop, plotted)
		}
	}
}
