package firehose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

const streamName = "s2e-ingestdeliverystream"

type harness struct {
	svc *Service
	fh  *fh.Client
	s3  *s3.Client
}

// start runs the service against moto S3 (or against put when given) behind an HTTP server.
func start(t *testing.T, inv *transformer, opts Options, put objectPutter) *harness {
	t.Helper()
	endpoint := "http://127.0.0.1:1"
	var s3c *s3.Client
	if put == nil {
		moto := mototest.Start(t)
		endpoint = moto.URL
		s3c = s3.NewFromConfig(spec.ClientConfig(endpoint, "test"), func(o *s3.Options) { o.UsePathStyle = true })
		if _, err := s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("s2e-lakebucket")}); err != nil {
			t.Fatal(err)
		}
	}
	opts.RetryBackoff = time.Millisecond
	opts.S3Policy = batch.Policy{Attempts: 5, Base: time.Millisecond, Max: 5 * time.Millisecond}
	st := newFakeStack(t, stacktest.ReadTemplate(t, "testdata/template.yaml"), endpoint)
	var svc *Service
	var err error
	if put == nil {
		svc, err = New(st, inv, opts)
	} else {
		svc, err = newService(st, inv, put, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return &harness{svc: svc, s3: s3c, fh: fh.NewFromConfig(spec.ClientConfig(srv.URL, "test"))}
}

func (h *harness) putBatch(t *testing.T, data ...string) *fh.PutRecordBatchOutput {
	t.Helper()
	in := &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(streamName)}
	for _, d := range data {
		in.Records = append(in.Records, fhtypes.Record{Data: []byte(d)})
	}
	out, err := h.fh.PutRecordBatch(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objects reads every object of the lake, gunzipped, by key.
func (h *harness) objects(t *testing.T) map[string]string {
	t.Helper()
	return mototest.Objects(t, h.s3, "s2e-lakebucket", "")
}

func underPrefix(objs map[string]string, prefix string) []string {
	var out []string
	for k, v := range objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, v)
		}
	}
	return out
}

func errorRecords(t *testing.T, bodies []string) []errorRecord {
	t.Helper()
	var out []errorRecord
	for _, b := range bodies {
		dec := json.NewDecoder(strings.NewReader(b))
		for dec.More() {
			var r errorRecord
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("error object line: %v in %q", err, b)
			}
			out = append(out, r)
		}
	}
	return out
}

func TestDeliveryToS3(t *testing.T) {
	tests := []struct {
		name        string
		inv         *transformer
		records     []string
		wantLines   []string // in the lake, under records/
		wantErrRaw  []string // under errors/processing-failed/
		wantCode    string
		wantCalls   int64
		wantCounts  Counts
		wantAttempt int
	}{
		{
			name:        "ok, dropped and failed records of one batch",
			inv:         &transformer{},
			records:     []string{`{"a":1}`, "fail\x00raw", "drop me", `{"b":2}`},
			wantLines:   []string{`{"A":1}`, `{"B":2}`},
			wantErrRaw:  []string{"fail\x00raw"},
			wantCode:    "Lambda.ProcessingFailed",
			wantCalls:   1,
			wantCounts:  Counts{In: 4, Delivered: 2, Dropped: 1, Failed: 1},
			wantAttempt: 1,
		},
		{
			name:       "function errors twice then succeeds: retried",
			inv:        &transformer{failFirst: 2},
			records:    []string{"x", "y"},
			wantLines:  []string{"X", "Y"},
			wantCalls:  3,
			wantCounts: Counts{In: 2, Delivered: 2},
		},
		{
			name:        "function always errors: whole batch to the error prefix after NumberOfRetries",
			inv:         &transformer{failFirst: 100},
			records:     []string{"x", "y"},
			wantErrRaw:  []string{"x", "y"},
			wantCode:    "Lambda.FunctionError",
			wantCalls:   3,
			wantCounts:  Counts{In: 2, Failed: 2},
			wantAttempt: 3,
		},
		{
			name:        "a record left unanswered fails the whole batch",
			inv:         &transformer{missing: true},
			records:     []string{"x", "y"},
			wantErrRaw:  []string{"x", "y"},
			wantCode:    "Lambda.MissingRecordId",
			wantCalls:   3,
			wantCounts:  Counts{In: 2, Failed: 2},
			wantAttempt: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.inv, Options{}, nil)
			h.putBatch(t, tc.records...)
			if err := h.svc.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			objs := h.objects(t)
			year := time.Now().UTC().Format("2006")
			var lines []string
			for _, body := range underPrefix(objs, "records/"+year+"/"+time.Now().UTC().Format("01/02")+"/"+streamName+"-1-") {
				lines = append(lines, strings.Split(strings.TrimSuffix(body, "\n"), "\n")...)
			}
			slices.Sort(lines)
			if !slices.Equal(lines, tc.wantLines) {
				t.Errorf("lake lines = %q, want %q (objects %v)", lines, tc.wantLines, keys(objs))
			}
			errs := errorRecords(t, underPrefix(objs, "errors/processing-failed/"+year+"/"+streamName+"-1-"))
			var raw []string
			for _, e := range errs {
				raw = append(raw, string(e.RawData))
				if e.ErrorCode != tc.wantCode || e.AttemptsMade != tc.wantAttempt || !strings.HasSuffix(e.LambdaARN, ":function:s2e-transformerfunction:$LATEST") || e.ArrivalTimestamp == 0 {
					t.Errorf("error record = %+v, want code %s after %d attempts", e, tc.wantCode, tc.wantAttempt)
				}
			}
			slices.Sort(raw)
			if !slices.Equal(raw, tc.wantErrRaw) {
				t.Errorf("error records' raw data = %q, want %q", raw, tc.wantErrRaw)
			}
			if got := tc.inv.calls.Load(); got != tc.wantCalls {
				t.Errorf("processor invoked %d times, want %d", got, tc.wantCalls)
			}
			if got := h.svc.Counts()[streamName]; got != tc.wantCounts {
				t.Errorf("counts = %+v, want %+v", got, tc.wantCounts)
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The buffering interval (shortened by the option) delivers without any Flush, and the
// processor gets a Firehose transformation event.
func TestBufferIntervalDelivers(t *testing.T) {
	inv := &transformer{}
	h := start(t, inv, Options{BufferInterval: 200 * time.Millisecond}, nil)
	before := time.Now().UnixMilli()
	h.putBatch(t, "a", "b")
	if _, err := h.fh.PutRecord(t.Context(), &fh.PutRecordInput{DeliveryStreamName: aws.String(streamName), Record: &fhtypes.Record{Data: []byte("c")}}); err != nil {
		t.Fatal(err)
	}
	if !stacktest.WaitUntil(10*time.Second, func() bool { return h.svc.Counts()[streamName].Delivered >= 3 }) {
		t.Fatalf("not delivered within 10s: %+v", h.svc.Counts()[streamName])
	}
	var lines []string
	for _, body := range h.objects(t) {
		lines = append(lines, strings.Fields(body)...)
	}
	slices.Sort(lines)
	if !slices.Equal(lines, []string{"A", "B", "C"}) {
		t.Errorf("lake lines = %q", lines)
	}
	inv.mu.Lock()
	ev := inv.events[0]
	inv.mu.Unlock()
	if ev.DeliveryStreamARN != "arn:aws:firehose:us-east-1:123456789012:deliverystream/"+streamName || ev.Region != "us-east-1" || ev.InvocationID == "" {
		t.Errorf("event = %+v", ev)
	}
	for _, r := range ev.Records {
		if r.RecordID == "" || r.ApproximateArrivalTimestamp < before || r.ApproximateArrivalTimestamp > time.Now().UnixMilli() {
			t.Errorf("event record = %+v", r)
		}
	}
}

// flakyS3 fails the first calls, then keeps what it is given.
type flakyS3 struct {
	failFirst int64
	calls     atomic.Int64
	keys      []string
}

func (f *flakyS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f.calls.Add(1) <= f.failFirst {
		return nil, errors.New("injected 503 SlowDown")
	}
	f.keys = append(f.keys, *in.Key)
	return &s3.PutObjectOutput{}, nil
}

func TestS3FailuresAreRetried(t *testing.T) {
	put := &flakyS3{failFirst: 3}
	h := start(t, &transformer{}, Options{}, put)
	h.putBatch(t, "a")
	if err := h.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(put.keys) != 1 || h.svc.Counts()[streamName].Delivered != 1 {
		t.Errorf("after 3 failed writes: objects %v, counts %+v", put.keys, h.svc.Counts()[streamName])
	}
}

func TestStopDeliversWhatIsBuffered(t *testing.T) {
	put := &flakyS3{}
	h := start(t, &transformer{}, Options{}, put)
	h.putBatch(t, "a", "b")
	if err := h.svc.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := h.svc.Counts()[streamName]; got.Delivered != 2 || len(put.keys) != 1 {
		t.Errorf("after Stop: counts %+v, objects %v", got, put.keys)
	}
	_, err := h.fh.PutRecord(t.Context(), &fh.PutRecordInput{DeliveryStreamName: aws.String(streamName), Record: &fhtypes.Record{Data: []byte("c")}})
	var unavailable *fhtypes.ServiceUnavailableException
	if !errors.As(err, &unavailable) {
		t.Errorf("put after Stop: %v, want ServiceUnavailableException", err)
	}
}

func TestPutRecordBatchLimits(t *testing.T) {
	many := make([]fhtypes.Record, 501)
	for i := range many {
		many[i] = fhtypes.Record{Data: []byte("x")}
	}
	big := fhtypes.Record{Data: bytes.Repeat([]byte("x"), 1000<<10+1)}
	nearly := fhtypes.Record{Data: bytes.Repeat([]byte("x"), 900<<10)}
	tests := []struct {
		name    string
		stream  string
		records []fhtypes.Record
		want    string // error type; "" for success
	}{
		{"500 records", streamName, many[:500], ""},
		{"501 records", streamName, many, "ValidationException"},
		{"a record over 1,000 KiB", streamName, []fhtypes.Record{{Data: []byte("x")}, big}, "ValidationException"},
		{"over 4 MiB in all", streamName, []fhtypes.Record{nearly, nearly, nearly, nearly, nearly}, "InvalidArgumentException"},
		{"unknown stream", "nope", many[:1], "ResourceNotFoundException"},
	}
	h := start(t, &transformer{}, Options{}, &flakyS3{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.fh.PutRecordBatch(t.Context(), &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(tc.stream), Records: tc.records})
			if tc.want == "" {
				if err != nil || aws.ToInt32(out.FailedPutCount) != 0 || len(out.RequestResponses) != len(tc.records) || aws.ToString(out.RequestResponses[0].RecordId) == "" {
					t.Fatalf("PutRecordBatch = %+v, %v", out, err)
				}
				return
			}
			var apiErr interface{ ErrorCode() string }
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.want {
				t.Fatalf("PutRecordBatch error = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestRejectedRecordsAreReportedPerRecord(t *testing.T) {
	var n atomic.Int64
	h := start(t, &transformer{}, Options{RejectRecord: func(string) bool { return n.Add(1)%2 == 0 }}, &flakyS3{})
	out := h.putBatch(t, "a", "b", "c", "d")
	if aws.ToInt32(out.FailedPutCount) != 2 {
		t.Fatalf("FailedPutCount = %d, want 2", aws.ToInt32(out.FailedPutCount))
	}
	for i, r := range out.RequestResponses {
		rejected := i%2 == 1
		if rejected != (aws.ToString(r.ErrorCode) == "ServiceUnavailableException") || rejected == (aws.ToString(r.RecordId) != "") {
			t.Errorf("entry %d = {RecordId %q ErrorCode %q}", i, aws.ToString(r.RecordId), aws.ToString(r.ErrorCode))
		}
	}
	if got := h.svc.Counts()[streamName].In; got != 2 {
		t.Errorf("records in = %d, want 2", got)
	}
}

func TestDescribeAndList(t *testing.T) {
	h := start(t, &transformer{}, Options{}, &flakyS3{})
	d, err := h.fh.DescribeDeliveryStream(t.Context(), &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(streamName)})
	if err != nil {
		t.Fatal(err)
	}
	desc := d.DeliveryStreamDescription
	s3d := desc.Destinations[0].ExtendedS3DestinationDescription
	if desc.DeliveryStreamStatus != fhtypes.DeliveryStreamStatusActive || aws.ToString(s3d.BucketARN) != "arn:aws:s3:::s2e-lakebucket" ||
		s3d.CompressionFormat != fhtypes.CompressionFormatGzip || aws.ToInt32(s3d.BufferingHints.IntervalInSeconds) != 900 {
		t.Errorf("description = %+v / %+v", desc, s3d)
	}
	l, err := h.fh.ListDeliveryStreams(t.Context(), &fh.ListDeliveryStreamsInput{})
	if err != nil || !slices.Equal(l.DeliveryStreamNames, []string{streamName}) {
		t.Errorf("ListDeliveryStreams = %v, %v", l, err)
	}
	_, err = h.fh.DescribeDeliveryStream(t.Context(), &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
	var nf *fhtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("describe unknown stream: %v", err)
	}
}

func TestObjectKey(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 5, 7, 0, time.UTC)
	tests := []struct {
		prefix, errType string
		gz              bool
		want            string
	}{
		{"records/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/", "", true, "records/2026/11/23/s-1-2026-11-23-09-05-07-"},
		{"records/year=!{timestamp:yyyy}/hour=!{timestamp:HH}/", "", false, "records/year=2026/hour=09/s-1-2026-11-23-09-05-07-"},
		{"errors/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/", "processing-failed", true, "errors/processing-failed/2026-11-23/s-1-2026-11-23-09-05-07-"},
		{"legacy/", "", false, "legacy/2026/11/23/09/s-1-2026-11-23-09-05-07-"},
		{"legacy/", "processing-failed", false, "legacy/processing-failed/2026/11/23/09/s-1-2026-11-23-09-05-07-"},
	}
	for _, tc := range tests {
		got := objectKey(tc.prefix, tc.errType, "s", at, tc.gz)
		if !strings.HasPrefix(got, tc.want) || strings.HasSuffix(got, ".gz") != tc.gz || len(got) != len(tc.want)+36+3*btoi(tc.gz) {
			t.Errorf("objectKey(%q) = %q, want %s<uuid>", tc.prefix, got, tc.want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Records that piled up are sent in invocations of at most the processor's buffer size (1 MB by
// default), so no event comes near Lambda's 6 MB.
func TestInvocationsKeepToTheProcessorBuffer(t *testing.T) {
	inv := &transformer{}
	h := start(t, inv, Options{}, &flakyS3{})
	big := strings.Repeat("x", 900<<10)
	h.putBatch(t, big, big, big, "small")
	if err := h.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var sizes []int
	for _, ev := range inv.events {
		sizes = append(sizes, len(ev.Records))
	}
	if !slices.Equal(sizes, []int{1, 1, 2}) {
		t.Errorf("records per invocation = %v, want [1 1 2]", sizes)
	}
	if got := h.svc.Counts()[streamName].Delivered; got != 4 {
		t.Errorf("delivered %d, want 4", got)
	}
}
