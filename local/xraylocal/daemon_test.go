package xraylocal

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/xray"

	"github.com/stream-to-events/stream-to-events/test/mototest"
)

const header = `{"format": "json", "version": 1}` + "\n"

func startDaemon(t *testing.T, forwardTo string) *Daemon {
	t.Helper()
	d := NewDaemon("", forwardTo)
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d
}

func send(t *testing.T, addr string, docs ...string) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, doc := range docs {
		if _, err := conn.Write([]byte(header + doc)); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, d *Daemon, traceID, name string) Trace {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	tr, err := d.WaitFor(ctx, traceID, name)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestDaemonAssemblesTree(t *testing.T) {
	d := startDaemon(t, "")
	const traceID = "1-6741a2b3-0123456789abcdef01234567"
	// The function segment as the runner writes it, and the SDK's subsegments as the X-Ray SDK
	// sends them from inside Lambda: each top-level subsegment on its own, with parent_id.
	fn := `{"id":"aaaaaaaaaaaaaaaa","trace_id":"` + traceID + `","name":"TransformerFunction","origin":"AWS::Lambda::Function",` +
		`"start_time":1700000000.000,"end_time":1700000000.080,"fault":true}`
	transform := `{"id":"bbbbbbbbbbbbbbbb","trace_id":"` + traceID + `","parent_id":"aaaaaaaaaaaaaaaa","type":"subsegment",` +
		`"name":"transform","start_time":1700000000.010,"end_time":1700000000.022,` +
		`"annotations":{"record_id":"r-1","type":"order"},` +
		`"subsegments":[{"id":"cccccccccccccccc","name":"SQS","namespace":"aws","start_time":1700000000.012,"end_time":1700000000.018,` +
		`"aws":{"operation":"SendMessageBatch"},"throttle":true}]}`
	later := `{"id":"dddddddddddddddd","trace_id":"` + traceID + `","parent_id":"aaaaaaaaaaaaaaaa","type":"subsegment",` +
		`"name":"respond","start_time":1700000000.030,"end_time":1700000000.031,"error":true}`
	// Subsegments may arrive before their segment: the tree must not depend on the order.
	send(t, d.Addr(), later, transform, fn)

	waitFor(t, d, traceID, "TransformerFunction")
	waitFor(t, d, traceID, "respond")
	tr := waitFor(t, d, traceID, "SQS")

	var b strings.Builder
	if err := Print(&b, tr); err != nil {
		t.Fatal(err)
	}
	want := "trace " + traceID + "  80.0 ms\n" +
		"  TransformerFunction  AWS::Lambda::Function  80.0 ms  FAULT\n" +
		"    transform  12.0 ms  record_id=r-1  type=order\n" +
		"      SQS  SendMessageBatch  6.0 ms  THROTTLE\n" +
		"    respond  1.0 ms  ERROR\n"
	if b.String() != want {
		t.Errorf("printed tree:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := d.TracesWithAnnotation("record_id", "r-1"); len(got) != 1 || got[0].ID != traceID {
		t.Errorf("TracesWithAnnotation(record_id, r-1) = %v, want %s", ids(got), traceID)
	}
	if got := d.TracesWithAnnotation("record_id", "r-2"); len(got) != 0 {
		t.Errorf("TracesWithAnnotation(record_id, r-2) = %v, want none", ids(got))
	}
}

func TestDaemonKeepsFinishedOverInProgress(t *testing.T) {
	tests := []struct {
		name  string
		order []string
	}{
		{"in progress then done", []string{"progress", "done"}},
		{"done then a late in-progress copy", []string{"done", "progress"}},
	}
	const traceID = "1-6741a2b3-00000000000000000000000a"
	docs := map[string]string{
		"progress": `{"id":"1111111111111111","trace_id":"` + traceID + `","name":"fn","start_time":1,"in_progress":true}`,
		"done":     `{"id":"1111111111111111","trace_id":"` + traceID + `","name":"fn","start_time":1,"end_time":1.5}`,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDaemon("", "")
			for _, k := range tt.order {
				d.Add([]byte(header + docs[k]))
			}
			tr, ok := d.Trace(traceID)
			if !ok || len(tr.Roots) != 1 {
				t.Fatalf("trace = %+v, want one root", tr)
			}
			if got := tr.Roots[0]; got.InProgress || got.DurationMS() != 500 {
				t.Errorf("root in progress %v, %.1f ms; want finished, 500 ms", got.InProgress, got.DurationMS())
			}
		})
	}
}

func TestDaemonTracesNewestFirstAndBounded(t *testing.T) {
	d := NewDaemon("", "")
	d.max = 3
	for i := range 5 {
		doc := fmt.Sprintf(`{"id":"%016x","trace_id":"1-00000000-%024x","name":"fn","start_time":%d,"end_time":%d}`, i+1, i, 100+i, 101+i)
		d.Add([]byte(header + doc))
	}
	got := d.Traces(2)
	if len(got) != 2 || got[0].ID != fmt.Sprintf("1-00000000-%024x", 4) || got[1].ID != fmt.Sprintf("1-00000000-%024x", 3) {
		t.Errorf("Traces(2) = %v, want traces 4 and 3", ids(got))
	}
	if all := d.Traces(0); len(all) != 3 {
		t.Errorf("kept %d traces, want the newest 3: %v", len(all), ids(all))
	}
}

func ids(ts []Trace) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

type fakePutter struct {
	mu    sync.Mutex
	calls [][]string
}

func (f *fakePutter) PutTraceSegments(_ context.Context, in *xray.PutTraceSegmentsInput, _ ...func(*xray.Options)) (*xray.PutTraceSegmentsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in.TraceSegmentDocuments)
	return &xray.PutTraceSegmentsOutput{}, nil
}

func TestForwarderBatches(t *testing.T) {
	api := &fakePutter{}
	f := newForwarder(api, slog.New(slog.DiscardHandler))
	for i := range forwardBatch + 3 {
		f.add(fmt.Sprintf(`{"id":"%d"}`, i))
	}
	// stop flushes what is left without waiting for the interval.
	go f.run()
	f.stop()
	api.mu.Lock()
	defer api.mu.Unlock()
	var sizes []int
	for _, c := range api.calls {
		sizes = append(sizes, len(c))
	}
	if len(sizes) != 2 || sizes[0] != forwardBatch || sizes[1] != 3 {
		t.Errorf("batch sizes %v, want [%d 3]", sizes, forwardBatch)
	}
	if api.calls[0][0] != `{"id":"0"}` {
		t.Errorf("first document %s, want the first added, as it was", api.calls[0][0])
	}
}

func TestDaemonForwardsToXRayAPI(t *testing.T) {
	mototest.Start(t)
	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	d := startDaemon(t, endpoint)
	now := float64(time.Now().UnixNano()) / 1e9
	traceID := fmt.Sprintf("1-%08x-0123456789abcdef01234567", int64(now))
	send(t, d.Addr(),
		fmt.Sprintf(`{"id":"aaaaaaaaaaaaaaaa","trace_id":"%s","name":"EventStorerFunction","origin":"AWS::Lambda::Function","start_time":%f,"end_time":%f}`, traceID, now, now+0.05),
		fmt.Sprintf(`{"id":"bbbbbbbbbbbbbbbb","trace_id":"%s","parent_id":"aaaaaaaaaaaaaaaa","type":"subsegment","name":"store","start_time":%f,"end_time":%f}`, traceID, now+0.01, now+0.02))
	waitFor(t, d, traceID, "store")

	// The Go SDK cannot decode moto's GetTraceSummaries answer ("Users": {} where a list is
	// due); the AWS CLI, which is what a user runs, can.
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cmd := exec.CommandContext(t.Context(), awsCLI, "xray", "get-trace-summaries",
			"--start-time", strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10),
			"--end-time", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10),
			"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json")
		cmd.Env = cliEnv()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws xray get-trace-summaries: %v", err)
		}
		var summaries struct{ TraceSummaries []struct{ Id string } }
		if err := json.Unmarshal(out, &summaries); err != nil {
			t.Fatalf("get-trace-summaries output %s: %v", out, err)
		}
		found := false
		for _, s := range summaries.TraceSummaries {
			found = found || s.Id == traceID
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("get-trace-summaries does not find %s in %s", traceID, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	api := newXRayClient(endpoint)
	got, err := api.BatchGetTraces(t.Context(), &xray.BatchGetTracesInput{TraceIds: []string{traceID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Traces) != 1 || len(got.Traces[0].Segments) != 2 {
		t.Fatalf("batch-get-traces = %+v, want the trace with both documents", got.Traces)
	}

}

// cliEnv is the test's environment without the empty AWS_PROFILE and AWS_SESSION_TOKEN that
// mototest.Start sets: the AWS CLI takes an empty profile as a profile named "".
func cliEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if kv == "AWS_PROFILE=" || kv == "AWS_SESSION_TOKEN=" {
			continue
		}
		env = append(env, kv)
	}
	return env
}
