package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/api"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/local/runner"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
	"github.com/stream-to-events/stream-to-events/test/docblock"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestDemo runs the demo's own path (start the whole flow from template.yaml with the bootstraps
// the Makefile builds, send generated records to Firehose, wait hop by hop) on 200 records with
// raw, invalid and duplicate ones among them, and then checks each record where a user would
// look for it: the lake, the error prefix, the event store, the bus, the projection, the API,
// the DLQs, the AWS calls the functions made and one record's trace.
func TestDemo(t *testing.T) {
	mototest.Require(t)
	cfg := defaultDemo // the records make demo sends, whose report the README shows
	// The stack outlives t.Context(), which ends before the cleanups run.
	ctx := context.Background()
	var progress bytes.Buffer
	d, err := runDemo(ctx, runner.Options{
		Template:         filepath.Join("..", "..", "template.yaml"),
		BuildDir:         t.TempDir(),
		BufferInterval:   time.Second,
		FailedVisibility: demoFailedVisibility,
		Logs:             io.Discard,
		Logger:           slog.New(slog.DiscardHandler),
	}, cfg, &progress)
	if d != nil && d.Runner != nil {
		t.Cleanup(func() { _ = stopRunner(d.Runner, io.Discard) })
	}
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, progress.String())
	}
	var report bytes.Buffer
	d.print(ctx, &report)
	t.Logf("demo report:\n%s", report.String())
	if len(d.Missing) > 0 {
		t.Fatalf("after %s not every record crossed every hop: %s", d.Crossed.Round(time.Second), strings.Join(d.Missing, "; "))
	}
	d.printCrossed(&report)
	t.Run("the README shows this report", func(t *testing.T) { checkREADME(t, report.String()) })
	want := d.Want
	if len(want.Raw) == 0 || want.Invalid == 0 || countDuplicates(d.Records) == 0 {
		t.Fatalf("the generated records hold %d raw, %d invalid and %d duplicates; the test needs some of each",
			len(want.Raw), want.Invalid, countDuplicates(d.Records))
	}
	s := readStack(t, d.Runner)

	// Raw records carry no producer id: the transformer derives one, which the lake shows
	// beside the record's data. Each raw record is then followed by that id.
	rawIDs := map[string]string{} // canonical data -> id
	for _, r := range want.Raw {
		k := canonicalJSON(t, r.Data)
		if len(s.lakeRaw[k]) != 1 {
			t.Errorf("raw record %d (%s) is in the lake %d times, want once", r.Seq, r.Data, len(s.lakeRaw[k]))
			continue
		}
		rawIDs[k] = s.lakeRaw[k][0]
	}
	unique := maps.Clone(want.SentByID)
	for _, id := range rawIDs {
		unique[id] = 1
	}

	t.Run("lake holds every valid record as often as it was sent", func(t *testing.T) {
		for id, n := range want.SentByID {
			if s.lake[id] != n {
				t.Errorf("record %s: %d lines under records/, sent %d times", id, s.lake[id], n)
			}
		}
		if s.lakeLines != want.Valid {
			t.Errorf("records/ holds %d lines, want %d (the valid records sent)", s.lakeLines, want.Valid)
		}
	})

	t.Run("error prefix holds every bad record with its original bytes", func(t *testing.T) {
		wantBad := map[string]int{}
		for _, r := range want.Failed {
			wantBad[string(r.Data)]++
		}
		if !maps.Equal(s.failed, wantBad) {
			for data, n := range wantBad {
				if s.failed[data] != n {
					t.Errorf("bad record %q: %d times under errors/, sent %d times", data, s.failed[data], n)
				}
			}
			for data, n := range s.failed {
				if wantBad[data] == 0 {
					t.Errorf("errors/ holds %d records %q that were not sent as bad ones", n, data)
				}
			}
		}
	})

	t.Run("event store holds every record once", func(t *testing.T) {
		for id := range unique {
			if s.store[id] != 1 {
				t.Errorf("record %s: %d items in EventStoreTable, want 1", id, s.store[id])
			}
		}
		if len(s.store) != want.Unique {
			t.Errorf("EventStoreTable holds %d records, want %d", len(s.store), want.Unique)
		}
	})

	t.Run("every record is emitted", func(t *testing.T) {
		// The responder opens a span for every record its batches delivered (the one written for
		// its entity and each one a newer record of the batch overtook), annotated with the
		// record's id: the responder's spans are the events delivered from the bus. (Their count
		// is one of the demo's hop checks, which Missing reports.)
		seen := s.traced["EventResponderFunction"]
		for id := range unique {
			if seen[id] == 0 {
				t.Errorf("record %s: no event reached the responder", id)
			}
		}
	})

	t.Run("projection holds the newest record of every entity", func(t *testing.T) {
		for k, r := range want.Newest {
			if got := s.projection[k]; got != r.ID {
				t.Errorf("projection %s holds %q, want the newest record %s", k, got, r.ID)
			}
		}
		for _, id := range rawIDs {
			if got := s.projection[record.RawType+"#"+id]; got != id {
				t.Errorf("projection of raw record %s holds %q", id, got)
			}
		}
		if len(s.projection) != len(want.Newest)+len(rawIDs) {
			t.Errorf("ProjectionTable holds %d entities, want %d", len(s.projection), len(want.Newest)+len(rawIDs))
		}
	})

	t.Run("API serves the projection", func(t *testing.T) {
		base := d.Runner.APIURL()
		keys := slices.Sorted(maps.Keys(want.Newest))
		for i := 0; i < len(keys); i += 7 { // a sample across the types
			w := want.Newest[keys[i]]
			var got record.Record
			if status := getJSON(t, base+"/records/"+url.PathEscape(w.Type)+"/"+url.PathEscape(w.Key), &got); status != http.StatusOK {
				t.Errorf("GET %s/%s: status %d", w.Type, w.Key, status)
				continue
			}
			if got.ID != w.ID || got.Time != w.Time || got.Key != w.Key {
				t.Errorf("GET %s/%s = record %s at %s, want %s at %s", w.Type, w.Key, got.ID, got.Time, w.ID, w.Time)
			}
		}
		var missing api.Error
		if status := getJSON(t, base+"/records/"+generate.TypeOrder+"/no-such-order", &missing); status != http.StatusNotFound || missing.Message == "" {
			t.Errorf("GET an unknown order: status %d, message %q; want 404 with a message", status, missing.Message)
		}

		// Every order, a page of 4 at a time through the next token.
		listed := map[string]string{}
		pages := 0
		for next := ""; pages == 0 || next != ""; pages++ {
			if pages > 100 {
				t.Fatal("the listing does not end")
			}
			var page api.Page
			u := base + "/records/" + generate.TypeOrder + "?limit=4"
			if next != "" {
				u += "&next=" + url.QueryEscape(next)
			}
			if status := getJSON(t, u, &page); status != http.StatusOK {
				t.Fatalf("GET %s: status %d", u, status)
			}
			for _, r := range page.Items {
				if _, dup := listed[r.Key]; dup {
					t.Errorf("the listing gives order %s twice", r.Key)
				}
				listed[r.Key] = r.ID
			}
			next = page.Next
		}
		wantOrders := map[string]string{}
		for _, r := range want.Newest {
			if r.Type == generate.TypeOrder {
				wantOrders[r.Key] = r.ID
			}
		}
		if !maps.Equal(listed, wantOrders) {
			t.Errorf("listing the orders in %d pages gave %d (key: id) %v, want %d %v", pages, len(listed), listed, len(wantOrders), wantOrders)
		}
		if pages < 2 {
			t.Errorf("%d orders came in %d page, want several pages of 4", len(listed), pages)
		}
	})

	t.Run("DLQs are empty", func(t *testing.T) {
		sum, err := d.Runner.Summary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"IngestQueue", "IngestDLQ", "EmitterDLQ", "ResponderDLQ"} {
			n, ok := sum.QueueDepths[q]
			if !ok || n != 0 {
				t.Errorf("%s holds %d messages (known: %t), want 0", q, n, ok)
			}
		}
	})

	t.Run("report ends with the alarms, none of a waiting place in ALARM", func(t *testing.T) {
		i := strings.Index(report.String(), "\nAlarms, as ")
		if i < 0 {
			t.Fatal("the report has no alarm table")
		}
		table := report.String()[i:]
		for _, id := range []string{"IngestDLQDepth", "EmitterDLQDepth", "ResponderDLQDepth", "EmitterIteratorAge"} {
			line := lineOf(table, id)
			if !strings.Contains(line, " OK ") {
				t.Errorf("alarm table: %q, want %s OK", line, id)
			}
		}
		// The demo sends invalid records on purpose: the transform hop reports them failed.
		if line := lineOf(table, "TransformRecordsFailed"); !strings.Contains(line, " ALARM ") {
			t.Errorf("alarm table: %q, want TransformRecordsFailed ALARM for the invalid records", line)
		}
	})

	t.Run("functions' write calls are batched", func(t *testing.T) {
		writes := map[string]int{}
		total := 0
		for _, c := range d.Summary.Calls {
			switch c.Caller + " " + c.Operation {
			case "TransformerFunction SendMessageBatch", "EventStorerFunction BatchWriteItem", "EventEmitterFunction PutEvents":
				writes[c.Caller+" "+c.Operation] += c.Calls
				total += c.Calls
			}
		}
		// The goal is at most 300 write calls per 1,000 records on the pipeline's three hops
		// (the responder's projection PutItem is one per event by design and not one of them).
		// 300 is exactly the floor that full batches give (SendMessageBatch 10, BatchWriteItem
		// one per SQS batch of at most 10, PutEvents 10), so every partial batch goes over it,
		// and how full a batch is depends on timing: the storer gets what the FIFO queue holds
		// when it polls, which on moto, slower than SQS, is often fewer than 10. What the design
		// promises, and what a function falling back to a call per record would break, is that
		// each invocation fills its calls up to the limit: at most one partial call per
		// invocation on each hop. The figure against the goal is logged for the report.
		stats := d.Runner.Lambda.Stats()
		stored := d.Summary.Mappings["EventStorerFunction.IngestQueue"]
		emitted := d.Summary.Mappings["EventEmitterFunction.EventStoreStream"]
		bounds := []struct {
			call          string
			got, n, limit int
			invocations   int
		}{
			{"TransformerFunction SendMessageBatch", writes["TransformerFunction SendMessageBatch"], want.Valid, 10, stats["TransformerFunction"].Invocations},
			{"EventStorerFunction BatchWriteItem", writes["EventStorerFunction BatchWriteItem"], 0, 25, int(stored.Batches)},
			{"EventEmitterFunction PutEvents", writes["EventEmitterFunction PutEvents"], int(emitted.Records), 10, int(emitted.Batches)},
		}
		for _, b := range bounds {
			// n records in invocations batches need at most ceil(n/limit) + invocations - 1
			// calls; a storer batch (at most 10 messages) is one BatchWriteItem of at most 25.
			most := (b.n+b.limit-1)/b.limit + b.invocations - 1
			if b.n == 0 {
				most = b.invocations
			}
			if b.got == 0 || b.got > most {
				t.Errorf("%s: %d calls, want 1 to %d (%d records in %d invocations, %d a call)", b.call, b.got, most, b.n, b.invocations, b.limit)
			}
		}
		t.Logf("write calls for %d records: %d (%v): %.0f per 1,000, goal %d", want.Sent, total, writes, 1000*float64(total)/float64(want.Sent), goalPer1000)
	})

	t.Run("one trace covers every hop of a record", func(t *testing.T) {
		checkTrace(t, d, s)
	})
}

// goalPer1000 is the batching goal: write calls of the pipeline's functions per 1,000
// records.
const goalPer1000 = 300

// checkTrace follows one record through X-Ray. Batches annotate their first record only, so the
// record followed is one that the storer and the emitter both named. The transformer's trace
// header travels with the record (SQS AWSTraceHeader to the storer, the stored traceHeader in
// PutEvents to the responder), so the transformer, the storer and the responder must be in one
// trace. The emitter's segment is in a trace of its own: Lambda starts a new trace for a
// DynamoDB stream batch, as it does on AWS, where a stream record carries no trace header and a
// Lambda function cannot put its segment into another trace (the batch mixes records of many
// traces anyway). The emitter hands the stored header on to PutEvents, which is what joins the
// responder to the ingest's trace.
func checkTrace(t *testing.T, d *demoRun, s stackState) {
	stored, emitted := s.traced["EventStorerFunction"], s.traced["EventEmitterFunction"]
	var id string
	for _, candidate := range slices.Sorted(maps.Keys(stored)) {
		if emitted[candidate] > 0 {
			id = candidate
			break
		}
	}
	if id == "" {
		t.Fatalf("no record is named by both a storer and an emitter segment (storer %d records, emitter %d)", len(stored), len(emitted))
	}
	names := functionNames(d.Runner)
	var found []string
	for _, tr := range d.Runner.XRay.TracesWithAnnotation("record_id", id) {
		hops := map[string]bool{}
		walkFunctions(tr, names, func(fn string, n *xraylocal.Node) {
			if fn == "TransformerFunction" || recordID(n) == id {
				hops[fn] = true
			}
		})
		if hops["TransformerFunction"] && hops["EventStorerFunction"] && hops["EventResponderFunction"] {
			if hops["EventEmitterFunction"] {
				t.Errorf("trace %s holds the emitter's segment too: a stream batch starts a trace of its own on AWS", tr.ID)
			}
			t.Logf("record %s crossed the transformer, the storer and the responder in trace %s", id, tr.ID)
			return
		}
		found = append(found, fmt.Sprintf("%s: %v", tr.ID, slices.Sorted(maps.Keys(hops))))
	}
	t.Errorf("no trace of record %s holds the transformer, the storer and the responder; its traces: %v", id, found)
}

// stackState is what the stack holds, read straight from its resources and X-Ray daemon.
type stackState struct {
	lake       map[string]int      // producer id -> lines under records/
	lakeRaw    map[string][]string // raw record's canonical data -> ids of its lines
	lakeLines  int
	failed     map[string]int            // original bytes -> error records under errors/
	store      map[string]int            // id -> EventStoreTable items
	projection map[string]string         // "type#key" -> id held
	traced     map[string]map[string]int // function logical ID -> record id -> segments naming it
}

func readStack(t *testing.T, r *runner.Runner) stackState {
	t.Helper()
	// Through the edge, signed as the runner: the calls count as the runner's, apart from the
	// functions' that the batching check counts (and d.Summary holds the counts before these).
	cfg := spec.RunnerConfig(r.Endpoint())
	s := stackState{
		lake: map[string]int{}, lakeRaw: map[string][]string{}, failed: map[string]int{},
		store: map[string]int{}, projection: map[string]string{}, traced: map[string]map[string]int{},
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := physicalID(t, r, "LakeBucket")
	mototest.EachLine(t, s3c, bucket, "records/", func(_ string, line []byte) {
		var rec record.Record
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("a records/ line is no canonical record: %v: %s", err, line)
		}
		s.lakeLines++
		if rec.Type == record.RawType {
			k := canonicalJSON(t, rec.Data)
			s.lakeRaw[k] = append(s.lakeRaw[k], rec.ID)
			return
		}
		s.lake[rec.ID]++
	})
	mototest.EachLine(t, s3c, bucket, "errors/processing-failed/", func(_ string, line []byte) {
		var e struct {
			ErrorCode string `json:"errorCode"`
			RawData   []byte `json:"rawData"`
		}
		if err := json.Unmarshal(line, &e); err != nil || e.ErrorCode == "" {
			t.Fatalf("an errors/ line is no Firehose error record (%v): %s", err, line)
		}
		s.failed[string(e.RawData)]++
	})

	db := dynamodb.NewFromConfig(cfg)
	scanTable(t, db, physicalID(t, r, "EventStoreTable"), func(item map[string]ddbtypes.AttributeValue) {
		s.store[attr(item["id"])]++
	})
	scanTable(t, db, physicalID(t, r, "ProjectionTable"), func(item map[string]ddbtypes.AttributeValue) {
		s.projection[attr(item["pk"])+"#"+attr(item["sk"])] = attr(item["id"])
	})

	names := functionNames(r)
	for _, tr := range r.XRay.Traces(0) {
		walkFunctions(tr, names, func(fn string, n *xraylocal.Node) {
			if id := recordID(n); id != "" {
				if s.traced[fn] == nil {
					s.traced[fn] = map[string]int{}
				}
				s.traced[fn][id]++
			}
		})
	}
	return s
}

func physicalID(t *testing.T, r *runner.Runner, id string) string {
	t.Helper()
	v, ok := r.Stack.PhysicalID(id)
	if !ok {
		t.Fatalf("the stack has no %s", id)
	}
	return v
}

// scanTable calls each with the keys and the record id of every item of table.
func scanTable(t *testing.T, db *dynamodb.Client, table string, each func(map[string]ddbtypes.AttributeValue)) {
	t.Helper()
	if err := mototest.Scan(t.Context(), db, table, "pk, sk, id", each); err != nil {
		t.Fatal(err)
	}
}

func attr(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// canonicalJSON is data decoded and encoded again, so that a raw record compares with its copy in
// the canonical record whatever the spacing and escaping (numbers kept as written).
func canonicalJSON(t *testing.T, data []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("raw record data %s: %v", data, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// functionNames maps the functions' physical names, which their segments carry, to logical IDs.
func functionNames(r *runner.Runner) map[string]string {
	names := map[string]string{}
	for id, fn := range r.Stack.Functions() {
		names[fn.Name] = id
	}
	return names
}

// walkFunctions calls visit for every node of tr with the logical ID of the function whose
// segment it is in.
func walkFunctions(tr xraylocal.Trace, names map[string]string, visit func(fn string, n *xraylocal.Node)) {
	var walk func(n *xraylocal.Node, fn string)
	walk = func(n *xraylocal.Node, fn string) {
		if n.Origin == "AWS::Lambda::Function" {
			fn = names[n.Name]
		}
		if fn != "" {
			visit(fn, n)
		}
		for _, c := range n.Children {
			walk(c, fn)
		}
	}
	for _, n := range tr.Roots {
		walk(n, "")
	}
}

// getJSON GETs u and decodes the JSON answer into v, returning the status.
func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: status %d, not JSON: %s", u, resp.StatusCode, body)
	}
	return resp.StatusCode
}

// lineOf returns the line of text that starts with prefix, or "".
func lineOf(text, prefix string) string {
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix+" ") {
			return strings.TrimRight(line, "\n")
		}
	}
	return ""
}

func TestHopVerdicts(t *testing.T) {
	hops := []hop{
		{"exact", 5, 5, false},
		{"short", 5, 3, false},
		{"extra", 5, 7, false},
		{"at least once", 5, 7, true},
	}
	want := []string{"ok", "MISSING 2", "DUPLICATES 2", "ok (2 duplicate deliveries absorbed)"}
	for i, h := range hops {
		if got := h.verdict(); got != want[i] {
			t.Errorf("%s: %q, want %q", h.name, got, want[i])
		}
	}
	if got := excess(hops); len(got) != 1 || !strings.HasPrefix(got[0], "extra:") {
		t.Errorf("excess = %v, want only the extra hop", got)
	}
}

// TestHopChecksCountRawEntities: each raw record is an entity of its own in the projection (its
// key is its derived id), so the projection must hold the newest envelope record of each entity
// and every raw record, no more and no fewer.
func TestHopChecksCountRawEntities(t *testing.T) {
	d, err := generate.Generate(generate.Options{Seed: 7, Raw: 0.1}, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := generate.Expect(d)
	if len(want.Raw) == 0 {
		t.Fatal("the generated records hold no raw record: the check tests nothing")
	}
	for _, extra := range []int{0, 1} {
		s := runner.Summary{Items: map[string]int{"ProjectionTable": len(want.Newest) + len(want.Raw) + extra}}
		var got string
		for _, h := range hopChecks(s, want) {
			if strings.HasPrefix(h.name, "projection") {
				got = h.verdict()
			}
		}
		if wantVerdict := map[int]string{0: "ok", 1: "DUPLICATES 1"}[extra]; got != wantVerdict {
			t.Errorf("projection with %d entries beyond the newest and the raw records: %q, want %q", extra, got, wantVerdict)
		}
	}
}

var updateREADME = flag.Bool("update-readme", false, "write this run's demo report into README.md")

// readmeDemo is where the README shows a demo report.
var readmeDemo = docblock.Block{
	Begin: "<!-- demo report: written by go test ./cmd/s2e-local -run TestDemo -update-readme -->\n```\n",
	End:   "```\n<!-- end of demo report -->\n",
}

// checkREADME holds the README's sample of make demo to what the demo prints for its default
// records: the same records sent and the same expected count at every hop (what was found, the
// names and the timings differ from run to run). -update-readme writes report there.
func checkREADME(t *testing.T, report string) {
	path := filepath.Join("..", "..", "README.md")
	if *updateREADME {
		if err := readmeDemo.Write(path, report); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := readmeDemo.In(string(b))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if got, want := expectedColumn(sample), expectedColumn(report); !slices.Equal(got, want) {
		t.Errorf("README.md's demo report expects\n%s\nthe demo expects\n%s\n(go test ./cmd/s2e-local -run TestDemo -update-readme)", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// expectedColumn is a demo report's first line and its hop table up to the arrows: what the
// records sent must become.
func expectedColumn(report string) []string {
	lines := strings.Split(report, "\n")
	out := lines[:1]
	for _, l := range lines {
		if before, _, ok := strings.Cut(l, "→"); ok && strings.HasPrefix(l, "  ") {
			out = append(out, strings.TrimSpace(before))
		}
	}
	return out
}
