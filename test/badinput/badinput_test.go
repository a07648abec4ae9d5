package badinput

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	fhsdk "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/local/runner"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// firehoseLimit is the largest record the Firehose API takes (1,000 KiB): a bigger one is refused
// by the PutRecord or PutRecordBatch call itself and never reaches the transformer.
const firehoseLimit = 1000 << 10

// refusedFiles says why the transformer must refuse each file of the corpus: the sentinel error
// of the record package its reason must carry. Every file in testdata/corpus must be named here
// or in acceptedFiles, so a new file cannot be added without saying what it must become.
var refusedFiles = map[string]error{
	"not-json-truncated.json":        record.ErrNotJSON,
	"not-json-text.txt":              record.ErrNotJSON,
	"not-json-two-objects.json":      record.ErrNotJSON,
	"not-json-single-quotes.json":    record.ErrNotJSON,
	"not-json-trailing-comma.json":   record.ErrNotJSON,
	"bom.json":                       record.ErrNotJSON,
	"trailing-nul.json":              record.ErrNotJSON,
	"empty.bin":                      record.ErrNotJSON,
	"whitespace.txt":                 record.ErrNotJSON,
	"invalid-utf8-latin1.json":       record.ErrInvalidUTF8,
	"invalid-utf8-surrogate.json":    record.ErrInvalidUTF8,
	"invalid-utf8-overlong.json":     record.ErrInvalidUTF8,
	"array-of-envelope.json":         record.ErrNotObject,
	"array-empty.json":               record.ErrNotObject,
	"scalar-string.json":             record.ErrNotObject,
	"scalar-number.json":             record.ErrNotObject,
	"scalar-null.json":               record.ErrNotObject,
	"scalar-true.json":               record.ErrNotObject,
	"huge-number-exponent.json":      record.ErrUnstorable,
	"huge-number-digits.json":        record.ErrUnstorable,
	"tiny-number.json":               record.ErrUnstorable,
	"empty-member-name.json":         record.ErrUnstorable,
	"schema-price-string.json":       record.ErrSchema,
	"schema-missing-member.json":     record.ErrSchema,
	"envelope-unknown-member.json":   record.ErrEnvelope,
	"envelope-empty-key.json":        record.ErrEnvelope,
	"envelope-key-number.json":       record.ErrEnvelope,
	"envelope-bad-time.json":         record.ErrEnvelope,
	"envelope-duplicate-member.json": record.ErrEnvelope,
}

// acceptedFiles are the corpus files the design accepts: types without a schema (validated by
// nothing but the envelope) and a raw object. Each must land everywhere.
var acceptedFiles = map[string]struct {
	typ, key string // "" key: derived (raw)
	contains string // a piece of the data the API must give back byte for byte
}{
	"accept-no-schema-widget.json":         {"widget", "w-1", `"colour":"blue"`},
	"accept-no-schema-precise-number.json": {"gadget", "g-1", `"n":12345678901234567890123456789012345678`},
	"accept-raw-object.json":               {record.RawType, "", ""},
}

// input is one record sent, and what it must become.
type input struct {
	name   string
	data   []byte
	refuse error  // the reason's sentinel when the transformer must refuse it
	typ    string // the canonical type when accepted
	key    string
	id     string
	want   string // for accepted corpus records: what the API's answer must contain
}

// builtInputs are the bad records too large to keep as files.
func builtInputs() []input {
	deep := func(open, leaf, close string, n int) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	pad := func(n int) []byte { // a raw object of exactly n bytes
		return []byte(`{"pad":"` + strings.Repeat("x", n-len(`{"pad":""}`)) + `"}`)
	}
	return []input{
		{name: "nesting 10,000 objects deep", data: []byte(deep(`{"a":`, `1`, `}`, 10_000)), refuse: record.ErrUnstorable},
		{name: "nesting 10,000 arrays deep", data: []byte(deep(`[`, ``, `]`, 10_000)), refuse: record.ErrNotObject},
		{name: "envelope data nested 10,000 deep", data: []byte(`{"type":"widget","key":"w-deep","data":` + deep(`{"a":`, `null`, `}`, 10_000) + `}`), refuse: record.ErrUnstorable},
		// The parser stops at DynamoDB's depth before it reaches the missing end, so the work a
		// record can cost is bounded by its size, not its nesting.
		{name: "nesting 10,000 deep, never closed", data: []byte(strings.Repeat(`{"a":[`, 10_000)), refuse: record.ErrUnstorable},
		{name: "record of exactly 1,000 KiB (Firehose's limit)", data: pad(firehoseLimit), refuse: record.ErrTooLarge},
		{name: "envelope of 300 KiB (over one SQS message)", data: []byte(`{"type":"widget","key":"w-big","data":{"s":"` + strings.Repeat("é", 150<<10) + `"}}`), refuse: record.ErrTooLarge},
	}
}

func corpus(t *testing.T) []input {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("corpus files: %v (%d found)", err, len(files))
	}
	var in []input
	for _, f := range files {
		name := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if sentinel, ok := refusedFiles[name]; ok {
			in = append(in, input{name: name, data: data, refuse: sentinel})
			continue
		}
		a, ok := acceptedFiles[name]
		if !ok {
			t.Fatalf("corpus file %s is in neither refusedFiles nor acceptedFiles: say what it must become", name)
		}
		var env struct{ ID string }
		_ = json.Unmarshal(data, &env)
		in = append(in, input{name: name, data: data, typ: a.typ, key: a.key, id: env.ID, want: a.contains})
	}
	if n := len(refusedFiles) + len(acceptedFiles); len(files) != n {
		t.Fatalf("%d corpus files, %d named in the test: a named file is missing", len(files), n)
	}
	return append(in, builtInputs()...)
}

// startFlow starts the whole local flow from the repository's template, as `s2e-local start`
// does, on free ports, with Firehose's buffering cut to half a second.
func startFlow(t *testing.T, logs io.Writer) *runner.Runner {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole local flow")
	}
	mototest.Require(t)
	root := filepath.Join("..", "..")
	r, err := runner.Start(t.Context(), runner.Options{
		Template:       filepath.Join(root, "template.yaml"),
		Root:           root,
		BuildDir:       t.TempDir(),
		Parts:          runner.All,
		BufferInterval: 500 * time.Millisecond,
		Logs:           logs,
		LogFilter:      []string{"TransformerFunction"},
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop the local flow: %v", err)
		}
	})
	return r
}

// TestBadInput sends the corpus through Firehose beside good records, then bad requests to the
// API, on one running flow (starting it is most of the time).
func TestBadInput(t *testing.T) {
	logs := &stacktest.LogBuffer{}
	r := startFlow(t, logs)
	t.Run("firehose", func(t *testing.T) { testFirehose(t, r, logs) })
	t.Run("api", func(t *testing.T) { testAPI(t, r) })
	for id, s := range r.Lambda.Stats() {
		if s.Crashes > 0 || s.Timeouts > 0 || s.Errors > 0 {
			t.Errorf("%s: %d crashes, %d timeouts, %d errors in %d invocations; bad input must be answered, not crash the function",
				id, s.Crashes, s.Timeouts, s.Errors, s.Invocations)
		}
	}
}

func testFirehose(t *testing.T, r *runner.Runner, logs *stacktest.LogBuffer) {
	ctx := t.Context()
	stream, ok := r.Stack.PhysicalID("IngestDeliveryStream")
	if !ok {
		t.Fatal("the stack has no IngestDeliveryStream")
	}
	fh := fhsdk.NewFromConfig(spec.ClientConfig(r.Endpoint(), "badinput"))

	bad := corpus(t)
	good, err := generate.Generate(generate.Options{Seed: 6, Raw: 0.1, Duplicates: 0.05}, 80)
	if err != nil {
		t.Fatal(err)
	}
	want := generate.Expect(good)
	if want.Invalid != 0 {
		t.Fatalf("the generator made %d invalid records; the good side must be all good", want.Invalid)
	}
	all := slices.Clone(bad)
	for _, g := range good {
		all = append(all, input{name: fmt.Sprintf("generated #%d", g.Seq), data: g.Data, typ: g.Type, key: g.Key, id: g.ID})
	}
	// Bad and good records share batches, as a producer's would: a batch with bad records in it
	// must still deliver its good ones.
	rand.New(rand.NewPCG(6, 6)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })

	t.Run("over the Firehose limit", func(t *testing.T) { overLimit(t, fh, stream, r) })

	byRecordID := map[string]*input{}
	for batch := range batches(all) {
		entries := make([]fhtypes.Record, len(batch))
		for i, in := range batch {
			entries[i] = fhtypes.Record{Data: in.data}
		}
		out, err := fh.PutRecordBatch(ctx, &fhsdk.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: entries})
		if err != nil {
			t.Fatalf("PutRecordBatch of %d records: %v", len(batch), err)
		}
		if n := aws.ToInt32(out.FailedPutCount); n != 0 {
			t.Fatalf("Firehose refused %d records of a batch it must take whole: %+v", n, out.RequestResponses)
		}
		for i, resp := range out.RequestResponses {
			byRecordID[aws.ToString(resp.RecordId)] = batch[i]
		}
	}

	var refused, accepted []*input
	for i := range all {
		if all[i].refuse != nil {
			refused = append(refused, &all[i])
		} else if strings.HasPrefix(all[i].name, "accept-") {
			accepted = append(accepted, &all[i])
		}
	}
	rawCount := len(want.Raw) + 1 // the generator's and the corpus's raw object
	goal := hops{
		lake:       want.Valid + len(accepted),
		errors:     len(refused),
		store:      want.Unique + len(accepted),
		projection: len(want.Newest) + rawCount + len(accepted) - 1,
	}
	got := waitFor(t, r, goal, 2*time.Minute)
	if got != goal {
		t.Fatalf("after waiting, the flow holds %+v, want %+v", got, goal)
	}

	lake := readLake(t, r)
	reasons := refusals(t, logs.String())
	t.Run("each bad record is ProcessingFailed with its bytes and a reason", func(t *testing.T) {
		kept := map[string]int{}
		for _, e := range lake.errors {
			kept[string(e.RawData)]++
			if e.ErrorCode != "Lambda.ProcessingFailed" || e.AttemptsMade < 1 || e.ArrivalTimestamp == 0 ||
				!strings.Contains(e.LambdaARN, ":function:") {
				t.Errorf("error record %+v is not in Firehose's error format", e.errorHeader)
			}
		}
		var table []string
		for id, in := range byRecordID {
			reason, wasRefused := reasons[id]
			switch {
			case in.refuse == nil && wasRefused:
				t.Errorf("%s: refused (%s), but it is good", in.name, reason)
			case in.refuse == nil:
			case !wasRefused:
				t.Errorf("%s: no 'record refused' log line for record %s", in.name, id)
			case !strings.Contains(reason, in.refuse.Error()):
				t.Errorf("%s: refused because %q, want a reason citing %q", in.name, reason, in.refuse)
			case kept[string(in.data)] == 0:
				t.Errorf("%s: refused, but its %d bytes are not under errors/", in.name, len(in.data))
			default:
				kept[string(in.data)]--
				table = append(table, fmt.Sprintf("\n  %-50s ProcessingFailed: %s", in.name, clip(reason, 110)))
			}
		}
		for data, n := range kept {
			if n != 0 {
				t.Errorf("errors/ holds %q %d times more than it was refused", clip(data, 60), n)
			}
		}
		slices.Sort(table)
		t.Logf("bad records (input → result):%s", strings.Join(table, ""))
	})

	t.Run("every good record lands in the lake", func(t *testing.T) {
		lines := map[string]int{}
		types := map[string]int{}
		for _, rec := range lake.records {
			lines[rec.ID]++
			types[rec.Type]++
		}
		for id, n := range want.SentByID {
			if lines[id] != n {
				t.Errorf("record %s: %d lines in records/, sent %d times", id, lines[id], n)
			}
		}
		for _, in := range accepted {
			if in.typ != record.RawType && lines[in.id] != 1 {
				t.Errorf("%s: %d lines in records/, want 1", in.name, lines[in.id])
			}
		}
		if types[record.RawType] != rawCount {
			t.Errorf("%d raw records in records/, want %d", types[record.RawType], rawCount)
		}
	})

	t.Run("every good record is stored once and projected", func(t *testing.T) {
		stored := scanTable(t, r, "EventStoreTable")
		ids := map[string]int{}
		for _, item := range stored {
			ids[item["id"]]++
		}
		for id := range want.SentByID {
			if ids[id] != 1 {
				t.Errorf("record %s: %d items in the event store, want 1", id, ids[id])
			}
		}
		projected := map[string]string{}
		for _, item := range scanTable(t, r, "ProjectionTable") {
			projected[item["pk"]+"#"+item["sk"]] = item["id"]
		}
		for entity, newest := range want.Newest {
			if projected[entity] != newest.ID {
				t.Errorf("projection of %s holds %q, want the newest record %s", entity, projected[entity], newest.ID)
			}
		}
		for _, in := range accepted {
			if in.typ == record.RawType {
				continue
			}
			if ids[in.id] != 1 || projected[in.typ+"#"+in.key] != in.id {
				t.Errorf("%s: %d items in the store, projection holds %q; want it stored once and projected",
					in.name, ids[in.id], projected[in.typ+"#"+in.key])
			}
			status, body := get(t, r.APIURL()+"/records/"+in.typ+"/"+in.key)
			if status != 200 || !strings.Contains(body, in.want) {
				t.Errorf("GET /records/%s/%s = %d %s, want 200 with %s", in.typ, in.key, status, body, in.want)
			}
		}
	})

	sum, err := r.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range sum.QueueDepths {
		if n != 0 {
			t.Errorf("queue %s holds %d messages; bad input must stop at Firehose and good input pass through", id, n)
		}
	}
}

// overLimit sends a record one byte over Firehose's limit: the API refuses the call with a
// ValidationException that names the limit, and nothing of a refused batch is taken.
func overLimit(t *testing.T, fh *fhsdk.Client, stream string, r *runner.Runner) {
	big := bytes.Repeat([]byte("x"), firehoseLimit+1)
	_, err := fh.PutRecord(t.Context(), &fhsdk.PutRecordInput{DeliveryStreamName: aws.String(stream), Record: &fhtypes.Record{Data: big}})
	checkValidation(t, "PutRecord", err)

	companion := []byte(`{"type":"widget","key":"w-refused-call","id":"badinput-refused-call","data":{}}`)
	_, err = fh.PutRecordBatch(t.Context(), &fhsdk.PutRecordBatchInput{
		DeliveryStreamName: aws.String(stream),
		Records:            []fhtypes.Record{{Data: companion}, {Data: big}},
	})
	checkValidation(t, "PutRecordBatch", err)
	if c := r.Firehose.Counts()[stream]; c.In != 0 {
		t.Errorf("Firehose took %d records from calls it refused", c.In)
	}
}

func checkValidation(t *testing.T, op string, err error) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || !strings.Contains(ae.ErrorMessage(), fmt.Sprint(firehoseLimit)) {
		t.Errorf("%s of %d bytes: %v, want a ValidationException naming the %d-byte limit", op, firehoseLimit+1, err, firehoseLimit)
		return
	}
	t.Logf("%-50s refused by the Firehose API: %s: %s", fmt.Sprintf("%s of 1,000 KiB + 1 byte", op), ae.ErrorCode(), ae.ErrorMessage())
}

// batches cuts records into PutRecordBatch calls within Firehose's limits (500 records, 4 MiB).
func batches(all []input) func(yield func([]*input) bool) {
	return func(yield func([]*input) bool) {
		var batch []*input
		size := 0
		for i := range all {
			n := len(all[i].data)
			if len(batch) == 500 || size+n > 4<<20 {
				if !yield(batch) {
					return
				}
				batch, size = nil, 0
			}
			batch = append(batch, &all[i])
			size += n
		}
		if len(batch) > 0 {
			yield(batch)
		}
	}
}

// hops are the counts the flow must reach.
type hops struct {
	lake, errors, store, projection int
}

// waitFor flushes Firehose and polls until the flow holds goal, and the responder has been
// delivered at least one event per stored item and has none waiting or in flight, or the time is
// up; it returns what it last saw.
// The projection's item count alone is no end: an entity's first event makes its item, and a
// newer one may still be on its way.
func waitFor(t *testing.T, r *runner.Runner, goal hops, limit time.Duration) hops {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	var got hops
	for {
		if err := r.Firehose.Flush(ctx); err != nil && ctx.Err() == nil {
			t.Fatalf("flush Firehose: %v", err)
		}
		sum, err := r.Summary(context.WithoutCancel(ctx))
		if err != nil {
			t.Fatal(err)
		}
		got = hops{sum.LakeLines["records/"], sum.LakeLines["errors/"], sum.Items["EventStoreTable"], sum.Items["ProjectionTable"]}
		settled := sum.Handled("EventResponderFunction") >= goal.store && sum.QueueDepths["ResponderQueue"] == 0
		if got == goal && settled || got.lake > goal.lake || got.errors > goal.errors || got.store > goal.store || got.projection > goal.projection {
			return got
		}
		select {
		case <-ctx.Done():
			return got
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// errorHeader are the fields of Firehose's error record besides the data.
type errorHeader struct {
	AttemptsMade     int    `json:"attemptsMade"`
	ArrivalTimestamp int64  `json:"arrivalTimestamp"`
	ErrorCode        string `json:"errorCode"`
	ErrorMessage     string `json:"errorMessage"`
	LambdaARN        string `json:"lambdaArn"`
}

// errorRecord is one line under the error prefix: rawData is base64 in the JSON, which
// encoding/json decodes into []byte.
type errorRecord struct {
	errorHeader
	RawData []byte `json:"rawData"`
}

type lakeContents struct {
	records []record.Record
	errors  []errorRecord
}

// readLake reads every object of the lake bucket, gunzipped, line by line.
func readLake(t *testing.T, r *runner.Runner) lakeContents {
	t.Helper()
	bucket, ok := r.Stack.PhysicalID("LakeBucket")
	if !ok {
		t.Fatal("no LakeBucket in the stack")
	}
	c := s3.NewFromConfig(spec.ClientConfig(r.Endpoint(), "badinput"), func(o *s3.Options) { o.UsePathStyle = true })
	var lake lakeContents
	mototest.EachLine(t, c, bucket, "", func(key string, line []byte) {
		switch {
		case strings.HasPrefix(key, "records/"):
			var rec record.Record
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Errorf("s3://%s/%s: a line that is not a canonical record: %v", bucket, key, err)
			}
			lake.records = append(lake.records, rec)
		case strings.HasPrefix(key, "errors/processing-failed/"):
			var e errorRecord
			if err := json.Unmarshal(line, &e); err != nil {
				t.Errorf("s3://%s/%s: a line that is not an error record: %v", bucket, key, err)
			}
			lake.errors = append(lake.errors, e)
		case strings.HasPrefix(key, "changes/") || strings.HasPrefix(key, "errors/changes/"):
			// The event store's change archive, a flow of its own.
		default:
			t.Errorf("s3://%s/%s: an object outside the prefixes of the template's delivery streams", bucket, key)
		}
	})
	return lake
}

// refusals reads the transformer's "record refused" log lines: the reason by Firehose record ID.
func refusals(t *testing.T, logs string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for line := range strings.Lines(logs) {
		_, text, _ := strings.Cut(line, " ")
		var l struct {
			Message  string `json:"message"` // Lambda's JSON log field names (internal/logging)
			RecordID string `json:"recordId"`
			Reason   string `json:"reason"`
		}
		if json.Unmarshal([]byte(text), &l) == nil && l.Message == "record refused" {
			out[l.RecordID] = l.Reason
		}
	}
	return out
}

// scanTable reads a table's items, string attributes only (which is all the checks compare).
func scanTable(t *testing.T, r *runner.Runner, logicalID string) []map[string]string {
	t.Helper()
	table, ok := r.Stack.PhysicalID(logicalID)
	if !ok {
		t.Fatalf("no %s in the stack", logicalID)
	}
	db := dynamodb.NewFromConfig(spec.ClientConfig(r.Endpoint(), "badinput"))
	var items []map[string]string
	err := mototest.Scan(t.Context(), db, table, "", func(item map[string]ddbtypes.AttributeValue) {
		m := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(item)) {
			if s, ok := item[k].(*ddbtypes.AttributeValueMemberS); ok {
				m[k] = s.Value
			}
		}
		items = append(items, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
