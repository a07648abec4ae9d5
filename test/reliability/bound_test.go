package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/transform"
	"github.com/stream-to-events/stream-to-events/local/edge"
	"github.com/stream-to-events/stream-to-events/local/lake"
)

// oneBufferChanges are what both buffer cases change in the test template: the processors keep
// the template's timeout and record bound, the processor buffer is Firehose's largest, and
// buffers wait long enough for each case's records to arrive in one (await's flushes process
// them as soon as they are in).
var oneBufferChanges = [][2]string{
	{"      Timeout: 10\n", "      Timeout: 60\n"},
	{`          MAX_RECORDS: "400"` + "\n", `          MAX_RECORDS: "2500"` + "\n"},
	{"  ProcessorBufferSizeMB:\n    Type: Number\n    Default: 1\n", "  ProcessorBufferSizeMB:\n    Type: Number\n    Default: 3\n"},
}

// TestOneBufferOfTinyRecords sends one Firehose buffer of 20,000 records of 26 bytes, whose
// answer once outgrew Lambda's 6 MB response limit and whose queue sends outlasted the function's
// timeout. The transformer answers what fits and puts the rest back into the stream as Dropped,
// so every record must be in the lake's records/ exactly once, none under errors/, and each in
// the event store once. What it proves ends at the store: the table's stream trigger and its
// Kinesis destination are off, so that moto spends the case's minutes on the hops it is about;
// the 3 MiB case below carries its records on to the consumer.
func TestOneBufferOfTinyRecords(t *testing.T) {
	f := startFlowBuffering(t, append(slices.Clone(oneBufferChanges),
		[2]string{"            StartingPosition: TRIM_HORIZON\n", "            StartingPosition: TRIM_HORIZON\n            Enabled: false\n"},
		[2]string{"      KinesisStreamSpecification:\n        StreamArn: !GetAtt ChangeStream.Arn\n        ApproximateCreationDateTimePrecision: MILLISECOND\n", ""},
	), time.Minute)
	tiny := make([][]byte, 20_000)
	for i := range tiny {
		tiny[i] = fmt.Appendf(nil, `{"sensor":"%06d","t":21}`, i)
	}
	f.oneBuffer(t, "20,000 records of 26 bytes", tiny, false)
}

// TestOneBufferOf3MiB sends 3 MiB of raw generator records, the largest processor buffer
// Firehose has, through the whole flow: each record in records/ once, in the store once, and its
// event delivered to the consumer.
func TestOneBufferOf3MiB(t *testing.T) {
	f := startFlowBuffering(t, oneBufferChanges, time.Minute)
	gen, err := generate.Generate(generate.Options{Seed: 700, Raw: 1}, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	var raw [][]byte
	for size := 0; size+len(gen[len(raw)].Data) <= 3<<20; size += len(gen[len(raw)].Data) {
		raw = append(raw, gen[len(raw)].Data)
	}
	f.oneBuffer(t, fmt.Sprintf("3 MiB of raw generator records (%d)", len(raw)), raw, true)
}

// oneBuffer sends data in one Firehose buffer, waits until the lake and the store hold every
// record once (and, with downstream, until the rule has delivered each record's event), checks
// that nothing went to errors/ and that the stream took in exactly what was sent plus what was
// put back, and adds the case's figure.
func (f *flow) oneBuffer(t *testing.T, name string, data [][]byte, downstream bool) {
	t.Helper()
	before := f.r.Firehose.Counts()[f.stream]
	start, crossedBefore, callsBefore := time.Now(), f.crossings(t.Context()), f.r.Edge.Calls()
	recs := make([]generate.Record, len(data))
	for i, d := range data {
		recs[i] = generate.Record{Seq: i, Data: d}
	}
	f.send(t.Context(), recs)
	f.awaitBound(t.Context(), data, len(data), 15*time.Minute)
	counts := f.r.Firehose.Counts()[f.stream]
	dropped := counts.Dropped - before.Dropped
	if dropped == 0 {
		t.Errorf("no record was answered Dropped: the case did not pass one invocation's bound")
	}
	// Each record answered Dropped was put back once: the stream took in what the producer sent
	// and, on top, exactly what was put back.
	puts := reputCalls(f.r.Edge.Calls()) - reputCalls(callsBefore)
	if in := counts.In - before.In; in != int64(len(data))+dropped {
		t.Errorf("the stream took in %d records: %d sent and %d put back beyond the %d answered Dropped (%d PutRecordBatch calls from the transformer reached the edge, at least %d needed)",
			in, len(data), in-int64(len(data))-dropped, dropped, puts, (dropped+transform.MaxPutRecords-1)/transform.MaxPutRecords)
	}
	t.Logf("%d PutRecordBatch calls from the transformer put back %d records", puts, dropped)
	// A failed invocation is retried by Firehose and loses nothing (the checks above hold
	// regardless); it is logged with the runner's warnings, which say why.
	if st := f.r.Lambda.Stats()["TransformerFunction"]; st.Errors > 0 {
		t.Logf("%d transformer invocations failed (%d timed out); the runner's last warnings:\n%s", st.Errors, st.Timeouts, f.warnings)
	}
	crossed := f.crossings(t.Context()).since(crossedBefore)
	lost := 0
	if downstream {
		// The bus and the responder run behind the store: the case ends when the rule has
		// delivered every record's event, and counts what it has not as lost.
		crossed = f.awaitDelivered(t.Context(), crossedBefore, len(data), 10*time.Minute)
		if lost = max(0, len(data)-crossed.Delivered); lost > 0 {
			t.Errorf("the rule delivered %d events of %d records (%d on the bus)", crossed.Delivered, len(data), crossed.Emitted)
		}
	}
	label := fmt.Sprintf("one Firehose buffer of %s: %d put back as Dropped", name, dropped)
	if !downstream {
		label += "; to the store only (its stream off)"
	}
	addFigure(t, figure{Case: label,
		Sent: len(data), Valid: len(data), Lost: lost, DupStore: crossed.Written - len(data), DupEmitted: max(0, crossed.Emitted-len(data)),
		Crossed: crossed, Took: time.Since(start)})
	t.Logf("%d records in %s: %d answered Dropped and put back, all in the lake once and the store once", len(data), time.Since(start).Round(time.Second), dropped)
}

// reputCalls counts the transformer's PutRecordBatch calls among the edge's counts.
func reputCalls(calls []edge.CallCount) int {
	n := 0
	for _, c := range calls {
		if c.Caller == "TransformerFunction" && c.Service == "firehose" && c.Operation == "PutRecordBatch" {
			n += c.Calls
		}
	}
	return n
}

// awaitDelivered polls until the rule has delivered at least n events to the responder since
// before, or timeout passes, and returns what crossed each hop since before.
func (f *flow) awaitDelivered(ctx context.Context, before crossed, n int, timeout time.Duration) crossed {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c := f.crossings(context.WithoutCancel(ctx)).since(before)
		if c.Delivered >= n || !sleepCtx(ctx, 2*time.Second) {
			return c
		}
	}
}

// awaitBound flushes Firehose and polls until the lake's records/ holds a line with each of
// data's records as its data and the store holds stored items, then checks that the lake holds
// each exactly once, errors/ nothing, and the store each lake record's id once. It returns the
// ids the lake's lines give the records.
func (f *flow) awaitBound(ctx context.Context, data [][]byte, stored int, timeout time.Duration) []string {
	f.t.Helper()
	want := make(map[string]bool, len(data))
	for _, d := range data {
		want[compact(f.t, d)] = true
	}
	if len(want) != len(data) {
		f.t.Fatalf("%d records, %d distinct: the check tells records apart by their data", len(data), len(want))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if err := f.r.Firehose.Flush(ctx); err != nil && ctx.Err() == nil {
			f.t.Fatalf("flush firehose: %v", err)
		}
		lines, err := f.lakeLines(ctx, "records/")
		if err != nil {
			f.t.Fatal(err)
		}
		n, err := f.itemCount(ctx, f.store)
		if err != nil {
			f.t.Fatal(err)
		}
		found := 0
		for _, l := range lines {
			if want[l.data] {
				found++
			}
		}
		if found >= len(want) && n >= stored {
			break
		}
		if !sleepCtx(ctx, 3*time.Second) {
			f.t.Fatalf("after %s the lake holds %d of %d records and the store %d of %d items; where the records are: %s",
				timeout, found, len(want), n, stored, f.diagnose(context.WithoutCancel(ctx)))
		}
	}
	ctx = context.WithoutCancel(ctx)
	time.Sleep(settle)
	if err := f.r.Firehose.Flush(ctx); err != nil {
		f.t.Fatal(err)
	}
	lines, err := f.lakeLines(ctx, "records/")
	if err != nil {
		f.t.Fatal(err)
	}
	ids := map[string]string{} // data -> id
	times := map[string]int{}
	for _, l := range lines {
		if want[l.data] {
			times[l.data]++
			ids[l.data] = l.id
		}
	}
	for d := range want {
		if times[d] != 1 {
			f.t.Errorf("record %s is in records/ %d times, want once", d, times[d])
		}
	}
	if errs, err := f.lakeLines(ctx, "errors/"); err != nil || len(errs) > 0 {
		f.t.Errorf("errors/ holds %d lines (%v), want none", len(errs), err)
	}
	inStore := map[string]int{}
	err = f.scan(ctx, f.store, func(item map[string]ddbtypes.AttributeValue) { inStore[str(item["id"])]++ })
	if err != nil {
		f.t.Fatal(err)
	}
	for d, id := range ids {
		if inStore[id] != 1 {
			f.t.Errorf("record %s (id %s) is in the store %d times, want once", d, id, inStore[id])
		}
	}
	if len(inStore) != stored {
		f.t.Errorf("the store holds %d records, want %d", len(inStore), stored)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, id)
	}
	return out
}

// lakeLine is one line of a lake object: the record's id and its data, compacted; or, for
// Firehose's error records, the errorCode and the record's original bytes.
type lakeLine struct{ id, data, code string }

// lakeLines are the lines of every object under prefix, each object read once (see lake.Reader).
func (f *flow) lakeLines(ctx context.Context, prefix string) ([]lakeLine, error) {
	objects, err := f.lake.Objects(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	var out []lakeLine
	for _, key := range slices.Sorted(maps.Keys(objects)) {
		out = append(out, objects[key]...)
	}
	return out, nil
}

// readLakeLines reads a lake object's lines. Firehose's error records hold the record's bytes in
// rawData rather than data.
func readLakeLines(key string, body []byte) ([]lakeLine, error) {
	var out []lakeLine
	for _, line := range lake.Lines(body) {
		var r struct {
			ID        string          `json:"id"`
			Data      json.RawMessage `json:"data"`
			ErrorCode string          `json:"errorCode"`
			RawData   []byte          `json:"rawData"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("line of %s: %w", key, err)
		}
		if r.ErrorCode != "" {
			out = append(out, lakeLine{code: r.ErrorCode, data: string(r.RawData)})
			continue
		}
		var data bytes.Buffer
		if err := json.Compact(&data, r.Data); err != nil {
			return nil, fmt.Errorf("line of %s: data: %w", key, err)
		}
		out = append(out, lakeLine{id: r.ID, data: data.String()})
	}
	return out, nil
}

// awaitLakeLines flushes Firehose and polls until the lake holds at least n lines under prefix,
// or fails the test after timeout; it returns how many it holds.
func (f *flow) awaitLakeLines(ctx context.Context, prefix string, n int, timeout time.Duration) int {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if err := f.r.Firehose.Flush(ctx); err != nil && ctx.Err() == nil {
			f.t.Fatalf("flush firehose: %v", err)
		}
		lines, err := f.lakeLines(context.WithoutCancel(ctx), prefix)
		if err != nil {
			f.t.Fatal(err)
		}
		if len(lines) >= n {
			return len(lines)
		}
		if !sleepCtx(ctx, 2*time.Second) {
			f.t.Fatalf("after %s the lake holds %d lines under %s, want %d; the runner's last warnings:\n%s", timeout, len(lines), prefix, n, f.warnings)
		}
	}
}

func compact(t *testing.T, b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return out.String()
}
