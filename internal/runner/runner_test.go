package runner

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/runner/edge"
	"github.com/stream-to-events/stream-to-events/internal/runner/spec"
)

// TestStartInvokeStop builds a function with make, provisions its queue, and invokes it: the
// function sees the queue through the edge, with the template's environment, and the edge counts
// its call under its own name.
func TestStartInvokeStop(t *testing.T) {
	needMoto(t)
	r, err := Start(t.Context(), Options{
		Template: filepath.Join("testdata", "app", "template.yaml"),
		BuildDir: t.TempDir(),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(t.Context()) })

	res, err := r.Lambda.Invoke(t.Context(), "EchoFunction", spec.Invocation{Payload: []byte(`{"hello":"world"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != "" {
		t.Fatalf("function error %s: %s", res.Error, res.Payload)
	}
	var got struct {
		Echo     map[string]string
		Queues   int
		QueueURL string
	}
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := r.Stack.PhysicalID("WorkQueue")
	if got.Echo["hello"] != "world" || got.Queues != 1 || got.QueueURL != want {
		t.Errorf("function answered %s, want the echo, 1 queue and QUEUE_URL %s", res.Payload, want)
	}
	var counted edge.CallCount
	for _, c := range r.Edge.Calls() {
		if c.Caller == "EchoFunction" && c.Operation == "ListQueues" {
			counted = c
		}
	}
	if counted.Calls != 1 || counted.Service != "sqs" {
		t.Errorf("edge counted %+v for the function's ListQueues, want 1 sqs call", counted)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := r.Lambda.Invoke(t.Context(), "EchoFunction", spec.Invocation{Payload: []byte(`{}`)}); err == nil {
		t.Error("invoke after Stop succeeded")
	}
}

// needMoto skips without moto_server (the runner starts its own), except under CI.
func needMoto(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip("moto_server is not installed")
	}
}
