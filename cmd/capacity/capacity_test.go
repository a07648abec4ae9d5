package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCapacityDocIsGenerated regenerates docs/capacity.md and its chart from the committed bench
// outputs and quotas, and fails when the committed files differ: they are never edited by hand.
func TestCapacityDocIsGenerated(t *testing.T) {
	root := filepath.Join("..", "..")
	out := t.TempDir()
	if err := run(filepath.Join(root, "bench", "gobench.txt"), filepath.Join(root, "bench", "report.md"),
		filepath.Join(root, "bench", "quotas.json"), out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"capacity.md", "capacity.png"} {
		got, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join(root, "docs", f))
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
	root := filepath.Join("..", "..")
	m, err := load(filepath.Join(root, "bench", "gobench.txt"), filepath.Join(root, "bench", "report.md"), filepath.Join(root, "bench", "quotas.json"))
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

func TestCapacityBadInput(t *testing.T) {
	root := filepath.Join("..", "..")
	bad := filepath.Join(t.TempDir(), "quotas.json")
	if err := os.WriteFile(bad, []byte(`{"quotas": {`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(filepath.Join(root, "bench", "gobench.txt"), filepath.Join(root, "bench", "report.md"), bad, t.TempDir()); err == nil || !strings.Contains(err.Error(), "quotas.json") {
		t.Errorf("a broken quotas file: %v, want an error naming it", err)
	}
}
