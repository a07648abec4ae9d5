package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedReportsAreOneRun renders bench/report.md and the README's performance table again
// from bench/report.json, the figures make bench measured, and fails when either committed copy
// differs: both come from the same run, and neither is edited by hand.
func TestCommittedReportsAreOneRun(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "bench", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("bench/report.json: %v", err)
	}
	var md bytes.Buffer
	r.Markdown(&md)
	committed, err := os.ReadFile(filepath.Join(root, "bench", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if md.String() != string(committed) {
		t.Errorf("bench/report.md is not what bench/report.json renders; rerun make bench")
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := SummaryBlock.In(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	r.Summary(&want)
	if got != want.String() {
		t.Errorf("README.md's performance table is not what bench/report.json renders; rerun make bench\nREADME:\n%s\nreport.json:\n%s", got, want.String())
	}
}
