package edge

import (
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stack"
)

// sdkConfig is a config for real SDK clients signed with accessKey, pointed at url, without
// retries so that each injected fault reaches the test.
func sdkConfig(url, accessKey string) aws.Config {
	cfg := spec.ClientConfig(url, accessKey)
	cfg.RetryMaxAttempts = 1
	return cfg
}

// upstream is a fake moto that records what reached it.
type upstream struct {
	mu     sync.Mutex
	bodies map[string][]string // target → bodies
	answer func(target string, body []byte) string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	if target == "" {
		target = r.Method + " " + r.URL.Path
	}
	u.mu.Lock()
	if u.bodies == nil {
		u.bodies = map[string][]string{}
	}
	u.bodies[target] = append(u.bodies[target], string(body))
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if u.answer != nil {
		_, _ = w.Write([]byte(u.answer(target, body)))
		return
	}
	_, _ = w.Write([]byte("{}"))
}

func (u *upstream) got(target string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.bodies[target]
}

// sequence returns the values in turn, then repeats them.
func sequence(values ...float64) func() float64 {
	var mu sync.Mutex
	i := 0
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		v := values[i%len(values)]
		i++
		return v
	}
}

func newEdge(t *testing.T, up http.Handler, opts Options) (*Edge, string) {
	t.Helper()
	fake := httptest.NewServer(up)
	t.Cleanup(fake.Close)
	opts.Upstream = fake.URL
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv.URL
}

// callTarget sends body to the edge at url as a call of the JSON protocol (DynamoDB, SQS,
// EventBridge, Firehose) to target, the X-Amz-Target an SDK would send, and returns the answer.
func callTarget(t *testing.T, url, target, body string) []byte {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassify(t *testing.T) {
	sig := func(key, service string) string {
		return "AWS4-HMAC-SHA256 Credential=" + key + "/20261123/us-east-1/" + service + "/aws4_request, SignedHeaders=host, Signature=abc"
	}
	tests := []struct {
		name                      string
		method, path, target, aut string
		form                      string
		want                      call
	}{
		{"JSON target", "POST", "/", "DynamoDB_20120810.BatchWriteItem", sig("EventStorerFunction", "dynamodb"), "",
			call{"EventStorerFunction", "dynamodb", "BatchWriteItem"}},
		{"SQS JSON", "POST", "/", "AmazonSQS.SendMessageBatch", sig("TransformerFunction", "sqs"), "",
			call{"TransformerFunction", "sqs", "SendMessageBatch"}},
		{"SQS query", "POST", "/", "", sig("runner", "sqs"), "Action=ReceiveMessage&QueueUrl=x",
			call{"runner", "sqs", "ReceiveMessage"}},
		{"DynamoDB Streams, signed as dynamodb", "POST", "/", "DynamoDBStreams_20120810.GetRecords", sig("runner", "dynamodb"), "",
			call{"runner", "dynamodbstreams", "GetRecords"}},
		{"unsigned target", "POST", "/", "AWSEvents.PutEvents", "", "", call{"anonymous", "events", "PutEvents"}},
		{"S3 put", "PUT", "/lake/records/2026/a.gz", "", sig("runner", "s3"), "", call{"runner", "s3", "PutObject"}},
		{"S3 list v2", "GET", "/lake?list-type=2&prefix=records/", "", sig("runner", "s3"), "", call{"runner", "s3", "ListObjectsV2"}},
		{"S3 get", "GET", "/lake/records/a.gz", "", sig("runner", "s3"), "", call{"runner", "s3", "GetObject"}},
		{"S3 create bucket", "PUT", "/lake", "", sig("runner", "s3"), "", call{"runner", "s3", "CreateBucket"}},
		{"X-Ray", "POST", "/TraceSegments", "", sig("runner", "xray"), "", call{"runner", "xray", "PutTraceSegments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.form))
			if tt.target != "" {
				r.Header.Set("X-Amz-Target", tt.target)
			}
			if tt.aut != "" {
				r.Header.Set("Authorization", tt.aut)
			}
			var form map[string][]string
			if tt.form != "" {
				form = map[string][]string{}
				for _, kv := range strings.Split(tt.form, "&") {
					k, v, _ := strings.Cut(kv, "=")
					form[k] = []string{v}
				}
			}
			got, _ := classify(r, form)
			if got != tt.want {
				t.Errorf("classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPartialBatchWriteItemWritesOnlyTheSucceedingItems(t *testing.T) {
	up := &upstream{answer: func(string, []byte) string { return `{"UnprocessedItems":{}}` }}
	// Rand per item: 0.1 fails (< 0.5), 0.9 succeeds.
	e, url := newEdge(t, up, Options{
		Faults: []Fault{{Service: "dynamodb", Operation: "BatchWriteItem", Kind: PartialBatch, Rate: 0.5}},
		Rand:   sequence(0.9, 0.1, 0.9),
	})
	db := dynamodb.NewFromConfig(sdkConfig(url, "EventStorerFunction"))
	in := batchInput("t", "a", "b", "c")
	out, err := db.BatchWriteItem(t.Context(), &in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.UnprocessedItems["t"]); n != 1 {
		t.Errorf("UnprocessedItems = %d items, want 1", n)
	}
	bodies := up.got("DynamoDB_20120810.BatchWriteItem")
	if len(bodies) != 1 || strings.Contains(bodies[0], `"b"`) || !strings.Contains(bodies[0], `"a"`) || !strings.Contains(bodies[0], `"c"`) {
		t.Errorf("moto got %q, want items a and c only", bodies)
	}
	calls := e.Calls()
	if len(calls) != 1 || calls[0] != (CallCount{Caller: "EventStorerFunction", Service: "dynamodb", Operation: "BatchWriteItem", Calls: 1, Injected: 1}) {
		t.Errorf("calls = %+v", calls)
	}
}

func TestPartialPutEventsKeepsPositionsAndTraceHeaders(t *testing.T) {
	up := &upstream{answer: func(_ string, body []byte) string {
		var req struct{ Entries []struct{ Detail string } }
		_ = json.Unmarshal(body, &req)
		var entries []string
		for _, e := range req.Entries {
			entries = append(entries, `{"EventId":"id-`+e.Detail[6:7]+`"}`)
		}
		return `{"FailedEntryCount":0,"Entries":[` + strings.Join(entries, ",") + `]}`
	}}
	e, url := newEdge(t, up, Options{
		Faults: []Fault{{Service: "events", Operation: "PutEvents", Kind: PartialBatch, Rate: 0.5}},
		Rand:   sequence(0.1, 0.9, 0.9),
	})
	body := `{"Entries":[{"Detail":"{\"n\":\"1\"}","TraceHeader":"Root=1"},{"Detail":"{\"n\":\"2\"}","TraceHeader":"Root=2"},{"Detail":"{\"n\":\"3\"}","TraceHeader":"Root=3"}]}`
	var got struct {
		FailedEntryCount int
		Entries          []struct{ EventId, ErrorCode string }
	}
	if err := json.Unmarshal(callTarget(t, url, "AWSEvents.PutEvents", body), &got); err != nil {
		t.Fatal(err)
	}
	if got.FailedEntryCount != 1 || got.Entries[0].ErrorCode == "" || got.Entries[1].EventId != "id-2" || got.Entries[2].EventId != "id-3" {
		t.Errorf("answer = %+v, want entry 1 failed and 2, 3 with their IDs in place", got)
	}
	if h := e.TraceHeaderOfEvent("id-3"); h != "Root=3" {
		t.Errorf("TraceHeaderOfEvent(id-3) = %q, want Root=3", h)
	}
	if bodies := up.got("AWSEvents.PutEvents"); len(bodies) != 1 || strings.Contains(bodies[0], "Root=1") {
		t.Errorf("upstream got %q, want entries 2 and 3 only", bodies)
	}
}

func TestThrottleAnswersInTheServiceProtocol(t *testing.T) {
	up := &upstream{}
	_, url := newEdge(t, up, Options{
		Faults: []Fault{
			{Service: "dynamodb", Operation: "*", Kind: Throttle, Rate: 1},
			{Service: "s3", Operation: "PutObject", Kind: Throttle, Rate: 1},
		},
	})
	cfg := sdkConfig(url, "runner")
	_, err := dynamodb.NewFromConfig(cfg).GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String("t"), Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}},
	})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ProvisionedThroughputExceededException" {
		t.Errorf("DynamoDB error = %v, want ProvisionedThroughputExceededException", err)
	}
	_, err = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String("lake"), Key: aws.String("k"), Body: strings.NewReader("x"),
	})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SlowDown" {
		t.Errorf("S3 error = %v, want SlowDown", err)
	}
	if len(up.got("DynamoDB_20120810.GetItem")) != 0 {
		t.Error("a throttled call reached moto")
	}
}

func batchInput(table string, pks ...string) dynamodb.BatchWriteItemInput {
	var writes []ddbtypes.WriteRequest
	for _, pk := range pks {
		writes = append(writes, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{
			Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}},
		}})
	}
	return dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: writes}}
}

type fakeStack struct{}

func (fakeStack) Outputs() ([]stack.Output, error) {
	return []stack.Output{{Key: "IngestQueueUrl", Value: "http://127.0.0.1:4566/123456789012/q.fifo", Description: "the <queue>"}}, nil
}
func (fakeStack) ParameterValues() map[string]string { return map[string]string{"EventSource": "s2e"} }
func (fakeStack) StackID() string {
	return "arn:aws:cloudformation:us-east-1:123456789012:stack/stream-to-events/x"
}

func TestDescribeStacks(t *testing.T) {
	_, url := newEdge(t, &upstream{}, Options{Stack: fakeStack{}})
	cf := cloudformation.NewFromConfig(sdkConfig(url, "generator"))
	out, err := cf.DescribeStacks(t.Context(), &cloudformation.DescribeStacksInput{StackName: aws.String("stream-to-events")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Stacks) != 1 || out.Stacks[0].StackStatus != "CREATE_COMPLETE" || len(out.Stacks[0].Outputs) != 1 ||
		aws.ToString(out.Stacks[0].Outputs[0].OutputValue) != "http://127.0.0.1:4566/123456789012/q.fifo" ||
		aws.ToString(out.Stacks[0].Outputs[0].Description) != "the <queue>" {
		t.Errorf("DescribeStacks = %+v", out.Stacks)
	}
	if _, err := cf.DescribeStacks(t.Context(), &cloudformation.DescribeStacksInput{StackName: aws.String("other")}); err == nil {
		t.Error("DescribeStacks of another stack: no error")
	}
	if _, err := cf.DeleteStack(t.Context(), &cloudformation.DeleteStackInput{StackName: aws.String("stream-to-events")}); err == nil {
		t.Error("DeleteStack: no error")
	}
}

func TestLocalAPI(t *testing.T) {
	e, url := newEdge(t, &upstream{}, Options{})
	resp, err := http.Post(url+"/_local/faults", "application/json", strings.NewReader(`[{"service":"sqs","operation":"SendMessageBatch","kind":"partial","rate":0.3}]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if f := e.Faults(); resp.StatusCode != 200 || len(f) != 1 || f[0].Rate != 0.3 {
		t.Errorf("after POST: status %d faults %+v", resp.StatusCode, f)
	}
	resp, err = http.Post(url+"/_local/faults", "application/json", strings.NewReader(`[{"service":"sqs","operation":"GetQueueUrl","kind":"partial","rate":0.3}]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("partial fault on GetQueueUrl: status %d, want 400", resp.StatusCode)
	}
	callTarget(t, url, "AmazonSQS.ListQueues", "{}")
	resp, err = http.Get(url + "/_local/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Total int
		Calls []CallCount
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Total != 1 || got.Calls[0].Operation != "ListQueues" || got.Calls[0].Service != "sqs" {
		t.Errorf("calls = %+v", got)
	}
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"sqs:SendMessageBatch:partial:0.2,dynamodb:*:throttle:0.05", 2, false},
		{"s3:PutObject:5xx:1:TransformerFunction", 1, false},
		{"", 0, false},
		{"sqs:SendMessageBatch:partial", 0, true},
		{"sqs:SendMessageBatch:explode:0.1", 0, true},
		{"sqs:SendMessageBatch:partial:2", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseFaults(tt.in)
		if (err != nil) != tt.wantErr || len(got) != tt.want {
			t.Errorf("ParseFaults(%q) = %v, %v", tt.in, got, err)
		}
	}
}

// TestFirehoseGoesToTheRunnersFirehose checks that Firehose calls reach the handler set with
// SetFirehose, not moto, and that a partial failure of PutRecordBatch hands it only the records
// that succeed.
func TestFirehoseGoesToTheRunnersFirehose(t *testing.T) {
	moto := &upstream{}
	fh := &upstream{answer: func(_ string, body []byte) string {
		var req struct{ Records []json.RawMessage }
		_ = json.Unmarshal(body, &req)
		var rs []string
		for i := range req.Records {
			rs = append(rs, fmt.Sprintf(`{"RecordId":"r%d"}`, i))
		}
		return `{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[` + strings.Join(rs, ",") + `]}`
	}}
	e, url := newEdge(t, moto, Options{
		Faults: []Fault{{Service: "firehose", Operation: "PutRecordBatch", Kind: PartialBatch, Rate: 0.5}},
		Rand:   sequence(0.9, 0.1),
	})
	e.SetFirehose(fh)
	var got struct {
		FailedPutCount   int
		RequestResponses []struct{ RecordId, ErrorCode string }
	}
	answer := callTarget(t, url, "Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"s","Records":[{"Data":"YQ=="},{"Data":"Yg=="},{"Data":"Yw=="},{"Data":"ZA=="}]}`)
	if err := json.Unmarshal(answer, &got); err != nil {
		t.Fatal(err)
	}
	if got.FailedPutCount != 2 || len(got.RequestResponses) != 4 || got.RequestResponses[1].ErrorCode != "ServiceUnavailableException" || got.RequestResponses[2].RecordId != "r1" {
		t.Errorf("answer = %+v, want records 2 and 4 refused, 1 and 3 accepted in place", got)
	}
	if b := fh.got("Firehose_20150804.PutRecordBatch"); len(b) != 1 || strings.Contains(b[0], "Yg==") || !strings.Contains(b[0], "Yw==") {
		t.Errorf("firehose got %q, want records 1 and 3 only", b)
	}
	if len(moto.got("Firehose_20150804.PutRecordBatch")) != 0 {
		t.Error("a Firehose call reached moto")
	}
}

func TestStartOnATakenPortSaysSo(t *testing.T) {
	taken := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(taken.Close)
	e, err := New(Options{Upstream: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Start(strings.TrimPrefix(taken.URL, "http://"))
	if err == nil || !strings.Contains(err.Error(), "--port") {
		t.Errorf("Start on a taken port: %v, want a hint to pick another --port", err)
	}
}

// TestTraceHeadersRaceTheAnswer covers moto's order of work: it delivers an event to the rule's
// queue, or a message to its queue, before it answers the call that sent it, so the trigger
// asks for the trace header before the edge has seen the answer.
func TestTraceHeadersRaceTheAnswer(t *testing.T) {
	var e *Edge
	asked := make(chan string, 1)
	up := &upstream{answer: func(target string, body []byte) string {
		switch target {
		case "AWSEvents.PutEvents":
			go func() { asked <- e.TraceHeaderOfEvent("ev-1") }()
			time.Sleep(50 * time.Millisecond)
			return `{"FailedEntryCount":0,"Entries":[{"EventId":"ev-1"}]}`
		case "AmazonSQS.ReceiveMessage":
			// A message whose send has not been answered: known by its body's MD5 only.
			return `{"Messages":[{"MessageId":"m-unknown","MD5OfBody":"` + fmt.Sprintf("%x", md5.Sum([]byte("hello"))) + `","Body":"hello"}]}`
		}
		return `{}`
	}}
	e, url := newEdge(t, up, Options{})
	callTarget(t, url, "AWSEvents.PutEvents", `{"Entries":[{"Detail":"{}","TraceHeader":"Root=1-ev"}]}`)
	if h := <-asked; h != "Root=1-ev" {
		t.Errorf("trace header asked for during PutEvents = %q, want Root=1-ev", h)
	}
	callTarget(t, url, "AmazonSQS.SendMessageBatch", `{"QueueUrl":"q","Entries":[{"Id":"1","MessageBody":"hello","MessageSystemAttributes":{"AWSTraceHeader":{"DataType":"String","StringValue":"Root=1-sqs"}}}]}`)
	got := callTarget(t, url, "AmazonSQS.ReceiveMessage", `{"QueueUrl":"q"}`)
	if !strings.Contains(string(got), `"AWSTraceHeader":"Root=1-sqs"`) {
		t.Errorf("ReceiveMessage answer %s lacks the message's AWSTraceHeader", got)
	}
}

// TestTraceLookupWaitsForEarlierCalls: a trigger's lookup waits, however long moto takes, for the
// PutEvents calls begun before it (one of them put the event), and not for calls begun after it,
// so a busy emitter cannot hold a delivery up.
func TestTraceLookupWaitsForEarlierCalls(t *testing.T) {
	ts := traceStore{byID: map[string]string{}, max: 10}
	early := ts.begin()
	got := make(chan string, 1)
	go func() { got <- ts.get("ev-1") }()
	time.Sleep(50 * time.Millisecond)
	select {
	case h := <-got:
		t.Fatalf("the lookup returned %q while the call that put the event was in flight", h)
	case <-time.After(100 * time.Millisecond):
	}
	ts.record([]byte(`{"Entries":[{"TraceHeader":"Root=1-ev"}]}`), []byte(`{"Entries":[{"EventId":"ev-1"}]}`))
	ts.end(early)
	if h := <-got; h != "Root=1-ev" {
		t.Errorf("lookup = %q, want Root=1-ev", h)
	}

	// An event no call recorded: the lookup ends with the calls begun before it, though a later
	// one is still in flight.
	before := ts.begin()
	go func() { got <- ts.get("ev-2") }()
	time.Sleep(50 * time.Millisecond)
	after := ts.begin()
	ts.end(before)
	select {
	case h := <-got:
		if h != "" {
			t.Errorf("lookup of an unrecorded event = %q, want none", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lookup waits for a call begun after it")
	}
	ts.end(after)
}
