package report

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/stream-to-events/stream-to-events/internal/store
cpu: AMD EPYC
BenchmarkStore         	    5000	    250000 ns/op	      1800 cpu-ns/record	        30.00 allocs/record	      2500 ns/record	   50000 B/op	     300 allocs/op
BenchmarkStore         	    5000	    260000 ns/op	      2200 cpu-ns/record	        30.00 allocs/record	      2600 ns/record	   50000 B/op	     300 allocs/op
BenchmarkStore         	    5000	    255000 ns/op	      2000 cpu-ns/record	        31.00 allocs/record	      2550 ns/record	   50000 B/op	     300 allocs/op
PASS
ok  	github.com/stream-to-events/stream-to-events/internal/store	5.1s
pkg: github.com/stream-to-events/stream-to-events/functions/eventresponder
BenchmarkRespond-2     	   30000	     40000 ns/op	     40000 ns/record	    9000 B/op	      95 allocs/op
BenchmarkRespond-2 logs a line that is not a result
ok  	github.com/stream-to-events/stream-to-events/functions/eventresponder	2.0s
`

func TestParseGoBenchAndHopResults(t *testing.T) {
	bs, err := ParseGoBench(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 4 {
		t.Fatalf("parsed %d results, want 4: %+v", len(bs), bs)
	}
	if bs[3].Name != "BenchmarkRespond" || bs[3].Package != "github.com/stream-to-events/stream-to-events/functions/eventresponder" {
		t.Errorf("the -2 suffix should go and the package follow pkg: lines; got %+v", bs[3])
	}
	hops := HopResults(bs, []Hop{
		{"storer", "internal/store", "BenchmarkStore"},
		{"responder", "functions/eventresponder", "BenchmarkRespond"},
		{"emitter", "internal/emit", "BenchmarkEmit"},
	})
	for _, tc := range []struct {
		hop                      HopResult
		found                    bool
		ns, cpu, allocs, perRecN float64
	}{
		{hops[0], true, 2550, 2000, 30, 2000}, // medians of three runs; the goal reads CPU time
		{hops[1], true, 40000, 0, 95, 40000},  // one record per op: allocs/op, wall time
		{hops[2], false, 0, 0, 0, 0},          // not run
	} {
		h := tc.hop
		if h.Found != tc.found || h.Ns != tc.ns || h.CPUNs != tc.cpu || h.Allocs != tc.allocs || h.PerRecordNs() != tc.perRecN {
			t.Errorf("%s = %+v (per record %v), want found %v ns %v cpu %v allocs %v per record %v", h.Name, h, h.PerRecordNs(), tc.found, tc.ns, tc.cpu, tc.allocs, tc.perRecN)
		}
	}
}

func TestParseGoBenchRefusesBadNumbers(t *testing.T) {
	if _, err := ParseGoBench(strings.NewReader("BenchmarkX 10 abc ns/op\n")); err == nil {
		t.Error("a result line with a value that is not a number must be an error, not a zero")
	}
}

func TestPerThousandSplitsByCaller(t *testing.T) {
	calls := []Call{
		{"TransformerFunction", "sqs", "SendMessageBatch", 50},
		{"EventStorerFunction", "dynamodb", "BatchWriteItem", 20},
		{"EventEmitterFunction", "events", "PutEvents", 50},
		{"EventResponderFunction", "dynamodb", "PutItem", 500},
		{"baseline", "sqs", "SendMessage", 500},
		{"baseline", "dynamodb", "PutItem", 500},
		{"baseline", "events", "PutEvents", 500},
		{"runner", "sqs", "ReceiveMessage", 70},
		{"TransformerFunction", "xray", "PutTraceSegments", 9},
		{"generator", "firehose", "PutRecordBatch", 1},
	}
	groups := Groups{
		"TransformerFunction": Design, "EventStorerFunction": Design, "EventEmitterFunction": Design,
		"EventResponderFunction": Consumer, "baseline": Baseline, "runner": Platform,
	}
	got := PerThousand(calls, groups, 500)
	if w := WritesPerK(got, Design); w != 240 {
		t.Errorf("design writes per 1,000 = %v, want 240 (100 + 40 + 100)", w)
	}
	if w := WritesPerK(got, Baseline); w != 3000 {
		t.Errorf("baseline writes per 1,000 = %v, want 3000", w)
	}
	if w := WritesPerK(got, Consumer); w != 1000 {
		t.Errorf("consumer writes per 1,000 = %v, want 1000", w)
	}
	if n := CallsOf(got, Platform, "ReceiveMessage"); n != 70 {
		t.Errorf("platform receives = %d, want 70", n)
	}
	if n := CallsOf(got, Other, "PutRecordBatch"); n != 1 {
		t.Errorf("an unknown caller's calls = %d, want 1 under %q", n, Other)
	}
	for _, c := range got {
		if c.Service == "xray" {
			t.Errorf("X-Ray uploads are not data-path calls: %+v", c)
		}
	}
}

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		want Invocation
	}{
		{"TransformerFunction REPORT RequestId: 1f\tDuration: 812.50 ms\tBilled Duration: 826 ms\tMemory Size: 128 MB\tMax Memory Used: 31 MB\tInit Duration: 13.20 ms\tXRAY TraceId: 1-2-3\tSegmentId: a\tSampled: true",
			true, Invocation{Function: "TransformerFunction", DurationMS: 812.5, BilledMS: 826, MemorySizeMB: 128, MaxMemoryMB: 31, InitMS: 13.2}},
		{"EventStorerFunction REPORT RequestId: 2f\tDuration: 5.00 ms\tBilled Duration: 5 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB",
			true, Invocation{Function: "EventStorerFunction", DurationMS: 5, BilledMS: 5, MemorySizeMB: 128, MaxMemoryMB: 20}},
		{"EventStorerFunction START RequestId: 2f Version: $LATEST", false, Invocation{}},
		{`EventStorerFunction {"level":"INFO","msg":"REPORT RequestId: fake"}`, false, Invocation{}},
	} {
		got, ok := ParseReport(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseReport(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestReportsCollectsSplitWritesAndSummarises(t *testing.T) {
	var r Reports
	lines := "A REPORT RequestId: 1\tDuration: 10.00 ms\tBilled Duration: 25 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 14.00 ms\n" +
		"A some log line\n" +
		"A REPORT RequestId: 2\tDuration: 20.00 ms\tBilled Duration: 20 ms\tMemory Size: 128 MB\tMax Memory Used: 24 MB\n" +
		"A REPORT RequestId: 3\tDuration: 30.00 ms\tBilled Duration: 45 ms\tMemory Size: 128 MB\tMax Memory Used: 22 MB\tInit Duration: 15.00 ms\n"
	for _, part := range []string{lines[:17], lines[17:90], lines[90:]} {
		if _, err := r.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	s := Summarise(r.Invocations())
	if len(s) != 1 {
		t.Fatalf("summaries %+v", s)
	}
	want := FunctionStats{Function: "A", Invocations: 3, ColdStarts: 2, MeanMS: 20, MeanBilledMS: 30, MaxMemoryMB: 24, MemorySizeMB: 128, InitMedianMS: 14.5}
	if s[0] != want {
		t.Errorf("summary = %+v, want %+v", s[0], want)
	}
}

func TestCostArithmetic(t *testing.T) {
	prices := writePrices(t)
	p, err := LoadPrices(prices)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"1 KB record is billed as 5 KB", FirehoseGB(1, 1024), 5.0 / (1024 * 1024)},
		{"5 KB record stays 5 KB", FirehoseGB(1, 5120), 5.0 / (1024 * 1024)},
		{"5 KB + 1 byte is 10 KB", FirehoseGB(1, 5121), 10.0 / (1024 * 1024)},
		{"1,300 B item is 2 WRU", WRU(1300), 2},
		{"1,024 B item is 1 WRU", WRU(1024), 1},
		{"empty item still 1 WRU", WRU(0), 1},
		{"64 KB is one chunk", Chunks64K(65536), 1},
		{"64 KB + 1 is two", Chunks64K(65537), 2},
		{"GB-s of 1,000 × 100 ms at 128 MB", GBSeconds(1000, 100, 128), 12.5},
	} {
		if math.Abs(tc.got-tc.want) > 1e-12 {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	floor := p.Bill(Floor(1e6, Sizes{RecordBytes: 1024, StoreItemBytes: 1300, ProjectionBytes: 1200, EventBytes: 1500}))
	// Firehose 1e6×5 KB = 4.768 GB × $0.029, 4e6 WRU × $0.625/M, 1e6 events × $1/M.
	want := 5e6/(1024*1024)*0.029 + 4*0.625 + 1.0
	if got := Total(floor); math.Abs(got-want) > 1e-9 {
		t.Errorf("floor = %v, want %v (%+v)", got, want, floor)
	}
	bill := p.Bill(Usage{LambdaGBs: map[string]float64{PriceLambdaArmGBs: 1000}, LambdaRequests: 2e6, SQSRequests: 3e5, S3Puts: 2000})
	want = 1000*0.0000133334 + 2*0.20 + 0.3*0.50 + 2*0.005
	if got := Total(bill); math.Abs(got-want) > 1e-9 {
		t.Errorf("bill = %v, want %v (%+v)", got, want, bill)
	}
}

func TestLoadPricesRefusesUncitedOrMissing(t *testing.T) {
	for _, tc := range []struct{ name, json string }{
		{"missing prices", `{"prices":{}}`},
		{"no source", strings.Replace(pricesJSON, `"source": "https://aws.amazon.com/eventbridge/pricing/"`, `"source": ""`, 1)},
		{"zero price", strings.Replace(pricesJSON, `"usd": 1.00`, `"usd": 0`, 1)},
	} {
		path := filepath.Join(t.TempDir(), "prices.json")
		if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPrices(path); err == nil {
			t.Errorf("%s: LoadPrices accepted it", tc.name)
		}
	}
}

func TestRepoPricesLoad(t *testing.T) {
	if _, err := LoadPrices("../../bench/prices.json"); err != nil {
		t.Fatalf("bench/prices.json: %v", err)
	}
}

func TestPercentiles(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := Percentiles(s)
	want := Latency{Samples: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("Percentiles = %+v, want %+v", got, want)
	}
	if (Percentiles(nil) != Latency{}) {
		t.Error("no samples must give no figures")
	}
}

func TestGoalsAndChart(t *testing.T) {
	r := Report{
		Hops: []HopResult{
			{Hop: Hop{Name: "storer"}, Found: true, Ns: 3000, CPUNs: 2000, Allocs: 30},
			{Hop: Hop{Name: "responder"}, Found: true, Ns: 40000, Allocs: 95},
		},
		Calls: PerThousand([]Call{{"T", "sqs", "SendMessageBatch", 100}, {"b", "sqs", "SendMessage", 1000}}, Groups{"T": Design, "b": Baseline}, 1000),
		Floor: Bill{Total: 3.0}, Design: Bill{Total: 3.3}, Baseline: Bill{Total: 4},
	}
	met := map[string]bool{}
	for _, g := range r.Goals() {
		met[g.Name] = g.Met
	}
	for name, want := range map[string]bool{
		"Write calls per 1,000 records (pipeline hops)": true,
		"CPU per record: storer":                        true,
		"CPU per record: responder":                     false,
		"Allocations per record: responder":             false,
		"Cost per million 1 KB records vs the floor":    true,
	} {
		if got, ok := met[name]; !ok || got != want {
			t.Errorf("goal %q met = %v (present %v), want %v", name, got, ok, want)
		}
	}
	var md bytes.Buffer
	r.Markdown(&md)
	if !strings.Contains(md.String(), "| CPU per record: responder | ≤ 15 µs | 40.0 µs | **not met** |") {
		t.Errorf("report lacks the responder's goal row:\n%s", md.String())
	}
	var img bytes.Buffer
	if err := DrawChart(&img, r.Panels()); err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(&img)
	if err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
	if b := decoded.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("chart is %v, too small to read", b)
	}
}

const pricesJSON = `{
  "region": "us-east-1", "currency": "USD", "taken": "test",
  "prices": {
    "firehose_ingest_gb": {"usd": 0.029, "per": 1, "unit": "GB", "source": "https://aws.amazon.com/firehose/pricing/"},
    "lambda_arm64_gb_second": {"usd": 0.0000133334, "per": 1, "unit": "GB-s", "source": "https://aws.amazon.com/lambda/pricing/"},
    "lambda_x86_64_gb_second": {"usd": 0.0000166667, "per": 1, "unit": "GB-s", "source": "https://aws.amazon.com/lambda/pricing/"},
    "lambda_requests": {"usd": 0.20, "per": 1000000, "unit": "requests", "source": "https://aws.amazon.com/lambda/pricing/"},
    "sqs_fifo_requests": {"usd": 0.50, "per": 1000000, "unit": "requests", "source": "https://aws.amazon.com/sqs/pricing/"},
    "sqs_standard_requests": {"usd": 0.40, "per": 1000000, "unit": "requests", "source": "https://aws.amazon.com/sqs/pricing/"},
    "dynamodb_write_request_units": {"usd": 0.625, "per": 1000000, "unit": "WRU", "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/"},
    "eventbridge_custom_events": {"usd": 1.00, "per": 1000000, "unit": "events", "source": "https://aws.amazon.com/eventbridge/pricing/"},
    "s3_put_requests": {"usd": 0.005, "per": 1000, "unit": "requests", "source": "https://aws.amazon.com/s3/pricing/"}
  }
}`

func writePrices(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(pricesJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestItemSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		item map[string]types.AttributeValue
		want int
	}{
		{"strings count names and bytes", map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "order#1"}}, 2 + 7},
		{"a number is half its digits plus one", map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "1299.99"}}, 1 + 4},
		{"a map adds 3 and 1 per element", map[string]types.AttributeValue{"data": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"a": &types.AttributeValueMemberS{Value: "xy"}, "b": &types.AttributeValueMemberBOOL{Value: true}}}}, 4 + 3 + (1 + 2 + 1) + (1 + 1 + 1)},
		{"a list adds 3 and 1 per element", map[string]types.AttributeValue{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "abc"}, &types.AttributeValueMemberNULL{Value: true}}}}, 1 + 3 + (3 + 1) + (1 + 1)},
	} {
		if got := ItemSize(tc.item); got != tc.want {
			t.Errorf("%s: ItemSize = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestJSONResultsChoosesTheFastest(t *testing.T) {
	out := `pkg: github.com/stream-to-events/stream-to-events/bench/report
BenchmarkJSON/codec=scanner/op=decode 1000 1600 ns/op 141 B/op 6 allocs/op
BenchmarkJSON/codec=scanner/op=encode 1000 150 ns/op 0 B/op 0 allocs/op
BenchmarkJSON/codec=encoding-json/op=decode 1000 4200 ns/op 744 B/op 12 allocs/op
BenchmarkJSON/codec=encoding-json/op=encode 1000 2200 ns/op 640 B/op 2 allocs/op
BenchmarkJSON/codec=json-v2/op=decode 1000 2100 ns/op 384 B/op 2 allocs/op
BenchmarkJSON/codec=json-v2/op=encode 1000 2900 ns/op 768 B/op 3 allocs/op
`
	bs, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	res, choice := JSONResults(bs)
	if len(res) != 6 || !res[5].Found || res[5].Ns != 2900 {
		t.Fatalf("results %+v", res)
	}
	if !strings.Contains(choice, "Choice: **record.Parser") || !strings.Contains(choice, "encoding/json/v2 (GOEXPERIMENT=jsonv2) 5000 ns") {
		t.Errorf("choice = %s", choice)
	}
	_, choice = JSONResults(bs[:4])
	if !strings.Contains(choice, "needs GOEXPERIMENT=jsonv2") {
		t.Errorf("a missing v2 run must be said: %s", choice)
	}
}

func TestJSONResultsNamesTheSecondValidation(t *testing.T) {
	bs, err := ParseGoBench(strings.NewReader("pkg: x/bench/report\n" +
		"BenchmarkJSON/codec=scanner/op=decode 1 1600 ns/op 6 allocs/op\n" +
		"BenchmarkJSON/codec=scanner/op=encode 1 150 ns/op 0 allocs/op\n" +
		"BenchmarkJSON/codec=encoding-json/op=valid 1 1200 ns/op 0 allocs/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, choice := JSONResults(bs)
	if !strings.Contains(choice, "json.Valid (1200 ns here)") {
		t.Errorf("choice = %s", choice)
	}
	if last := res[len(res)-1]; last.Op != "valid (syntax check only)" || last.Ns != 1200 {
		t.Errorf("the validation row = %+v", last)
	}
}
