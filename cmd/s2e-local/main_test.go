package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/test/mototest"
)

func TestRunUsage(t *testing.T) {
	app := filepath.Join("..", "..", "local", "runner", "testdata", "app", "template.yaml")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no command", nil, 2, "Usage:"},
		{"help", []string{"--help"}, 0, "s2e-local start"},
		{"unknown command", []string{"deploy"}, 2, `unknown command "deploy"`},
		{"command help", []string{"start", "-h"}, 0, "-buffer-interval"},
		{"invoke without function", []string{"invoke"}, 2, "LogicalId"},
		{"invoke unknown function", []string{"invoke", "Nope", "--template", app}, 1, "the functions are: EchoFunction"},
		{"missing template", []string{"start", "--template", "nope.yaml"}, 1, "run from the repository root"},
		{"bad faults", []string{"start", "--template", app, "--faults", "sqs:SendMessageBatch:explode:0.1"}, 1, "--faults"},
		{"bad param", []string{"start", "--param", "novalue"}, 2, "want Name=Value"},
		{"demo with a stray argument", []string{"demo", "now"}, 2, "Flags:"},
		{"start-api with a stray argument", []string{"start-api", "now"}, 2, "Flags:"},
		{"traces with a stray argument", []string{"traces", "now"}, 2, "Flags:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.wantCode, tt.wantStderr)
			}
		})
	}
}

// TestInvoke runs `s2e-local invoke` on a one-function app: the response goes to stdout, the
// function's Lambda lines to stderr.
func TestInvoke(t *testing.T) {
	mototest.Require(t)
	event := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(event, []byte(`{"hello":"world"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join("..", "..", "local", "runner", "testdata", "app", "template.yaml")
	var stdout, stderr bytes.Buffer
	code := run([]string{"invoke", "EchoFunction", "-e", event, "--template", app, "--build-dir", t.TempDir(), "--log-level", "warn"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var got struct{ Echo map[string]string }
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || got.Echo["hello"] != "world" {
		t.Errorf("stdout = %q, want the function's response echoing the event", stdout.String())
	}
	for _, want := range []string{"EchoFunction START RequestId:", "EchoFunction REPORT RequestId:"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
