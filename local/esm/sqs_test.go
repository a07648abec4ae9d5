package esm

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// createQueue makes a queue (with a DLQ after maxReceive receives when maxReceive > 0) and
// returns its URL, its ARN and the DLQ's URL.
func createQueue(t *testing.T, c *sqs.Client, name string, maxReceive int) (url, arn, dlqURL string) {
	t.Helper()
	attrs := map[string]string{"VisibilityTimeout": "1"}
	fifo := strings.HasSuffix(name, ".fifo")
	if fifo {
		attrs["FifoQueue"] = "true"
		attrs["ContentBasedDeduplication"] = "true"
	}
	if maxReceive > 0 {
		dlqName := "dlq-" + name
		dlqAttrs := map[string]string{}
		if fifo {
			dlqAttrs["FifoQueue"] = "true"
		}
		d, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(dlqName), Attributes: dlqAttrs})
		if err != nil {
			t.Fatal(err)
		}
		dlqURL = aws.ToString(d.QueueUrl)
		attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:%s","maxReceiveCount":"%d"}`, dlqName, maxReceive)
	}
	q, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(q.QueueUrl), "arn:aws:sqs:us-east-1:123456789012:" + name, dlqURL
}

func depth(t *testing.T, c *sqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	var n, m int
	fmt.Sscan(out.Attributes["ApproximateNumberOfMessages"], &n)
	fmt.Sscan(out.Attributes["ApproximateNumberOfMessagesNotVisible"], &m)
	return n + m
}

func startRunner(t *testing.T, st spec.Stack, fn spec.Invoker, traces spec.TraceHeaders, opts Options) *Runner {
	t.Helper()
	if opts.PollWait == 0 {
		opts.PollWait = time.Second
	}
	r, err := New(t.Context(), st, fn, traces, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return r
}

func sqsBodies(t *testing.T, payload []byte) []events.SQSMessage {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Records
}

// A message the function reports as failed comes back until the queue redrives it to the DLQ
// after maxReceiveCount receives; the others are deleted after one delivery.
func TestSQSPartialFailureAndRedrive(t *testing.T) {
	moto := mototest.Start(t)
	c := sqs.NewFromConfig(spec.ClientConfig(moto.URL, "test"))
	url, arn, dlqURL := createQueue(t, c, "ingest", 5)
	fn := &fakeFunction{answer: func(_ int, inv spec.Invocation) (spec.Result, error) {
		var ev events.SQSEvent
		_ = json.Unmarshal(inv.Payload, &ev)
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			if r.Body == "bad" {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		b, _ := json.Marshal(resp)
		return spec.Result{Payload: b}, nil
	}}
	st := newFakeStack(t, stacktest.ReadTemplate(t, "testdata/sqs.yaml", 10), moto.URL, map[string]any{"IngestQueue.Arn": arn})
	for _, body := range []string{"ok-1", "ok-2", "bad", "ok-3"} {
		if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("test")}}}); err != nil {
			t.Fatal(err)
		}
	}
	r := startRunner(t, st, fn, nil, Options{})
	eventually(t, "bad message in the DLQ", func() bool { return depth(t, c, dlqURL) == 1 })
	eventually(t, "queue drained", func() bool { return depth(t, c, url) == 0 })

	delivered := map[string]int{}
	for _, cl := range fn.snapshot() {
		for _, m := range sqsBodies(t, cl.payload) {
			delivered[m.Body]++
			sum := md5.Sum([]byte(m.Body))
			if m.EventSource != "aws:sqs" || m.EventSourceARN != arn || m.AWSRegion != "us-east-1" || m.Md5OfBody != hex.EncodeToString(sum[:]) ||
				m.Attributes["ApproximateReceiveCount"] == "" || m.Attributes["SentTimestamp"] == "" || m.ReceiptHandle == "" ||
				aws.ToString(m.MessageAttributes["kind"].StringValue) != "test" {
				t.Errorf("record = %+v", m)
			}
		}
	}
	want := map[string]int{"ok-1": 1, "ok-2": 1, "ok-3": 1, "bad": 5}
	if fmt.Sprint(delivered) != fmt.Sprint(want) {
		t.Errorf("deliveries per body = %v, want %v", delivered, want)
	}
	if got := r.Counts()["EventStorerFunction.IngestQueue"]; got.Failed != 5 || got.Records != 8 {
		t.Errorf("counts = %+v", got)
	}
}

// On a FIFO queue no two batches of one message group are in flight at once, order within a
// group holds, and the first message's AWSTraceHeader continues into the invocation.
func TestSQSFIFOOneBatchPerGroup(t *testing.T) {
	moto := mototest.Start(t)
	c := sqs.NewFromConfig(spec.ClientConfig(moto.URL, "test"))
	url, arn, _ := createQueue(t, c, "ingest.fifo", 0)
	const header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	var mu sync.Mutex
	inFlight := map[string]bool{}
	var overlaps []string
	order := map[string][]string{}
	fn := &fakeFunction{answer: func(_ int, inv spec.Invocation) (spec.Result, error) {
		var ev events.SQSEvent
		_ = json.Unmarshal(inv.Payload, &ev)
		groups := map[string]bool{}
		mu.Lock()
		for _, r := range ev.Records {
			g := r.Attributes["MessageGroupId"]
			if inFlight[g] {
				overlaps = append(overlaps, g)
			}
			groups[g] = true
			order[g] = append(order[g], r.Body)
		}
		for g := range groups {
			inFlight[g] = true
		}
		mu.Unlock()
		time.Sleep(150 * time.Millisecond)
		mu.Lock()
		for g := range groups {
			delete(inFlight, g)
		}
		mu.Unlock()
		return spec.Result{Payload: []byte(`{"batchItemFailures":[]}`)}, nil
	}}
	var sent int
	for i := range 4 {
		for _, g := range []string{"a", "b", "c"} {
			in := &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(fmt.Sprintf("%s-%d", g, i)), MessageGroupId: aws.String(g)}
			if g == "a" && i == 0 {
				in.MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(header)}}
			}
			if _, err := c.SendMessage(t.Context(), in); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	st := newFakeStack(t, stacktest.ReadTemplate(t, "testdata/sqs.yaml", 2), moto.URL, map[string]any{"IngestQueue.Arn": arn})
	startRunner(t, st, fn, nil, Options{SQSPollers: 5})
	// Delivered first, then drained: moto's counts (approximate, as on AWS) may lag the sends by
	// a moment, so an empty queue alone could be read before the runner has received anything.
	eventually(t, "every message delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order["a"])+len(order["b"])+len(order["c"]) >= sent
	})
	eventually(t, "queue drained", func() bool { return depth(t, c, url) == 0 })

	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Errorf("batches of one group in flight together: %v", overlaps)
	}
	for _, g := range []string{"a", "b", "c"} {
		want := []string{g + "-0", g + "-1", g + "-2", g + "-3"}
		if !slices.Equal(order[g], want) {
			t.Errorf("group %s delivered as %v, want %v", g, order[g], want)
		}
	}
	traced := false
	for _, cl := range fn.snapshot() {
		if recs := sqsBodies(t, cl.payload); recs[0].Body == "a-0" {
			traced = cl.trace == header
		}
	}
	if !traced {
		t.Errorf("the batch led by a-0 did not carry its AWSTraceHeader %q", header)
	}
}

// Messages a filter leaves out are deleted without an invocation, as Lambda does; a JSON body is
// matched as an object.
func TestSQSFilterDeletesWhatItLeavesOut(t *testing.T) {
	moto := mototest.Start(t)
	c := sqs.NewFromConfig(spec.ClientConfig(moto.URL, "test"))
	url, arn, _ := createQueue(t, c, "ingest", 0)
	tmpl := strings.Replace(stacktest.ReadTemplate(t, "testdata/sqs.yaml", 10), "            FunctionResponseTypes:",
		"            FilterCriteria:\n              Filters:\n                - Pattern: '{\"body\": {\"kind\": [\"keep\"]}}'\n            FunctionResponseTypes:", 1)
	st := newFakeStack(t, tmpl, moto.URL, map[string]any{"IngestQueue.Arn": arn})
	for _, body := range []string{`{"kind":"keep"}`, `{"kind":"drop"}`, "not json"} {
		if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	fn := &fakeFunction{}
	r := startRunner(t, st, fn, nil, Options{})
	// Handled first, then drained: moto's counts may lag the sends by a moment (see above).
	eventually(t, "every message delivered or filtered", func() bool {
		return len(fn.snapshot()) > 0 && r.Counts()["EventStorerFunction.IngestQueue"].Filtered == 2
	})
	eventually(t, "queue drained", func() bool { return depth(t, c, url) == 0 })
	var got []string
	for _, cl := range fn.snapshot() {
		for _, m := range sqsBodies(t, cl.payload) {
			got = append(got, m.Body)
		}
	}
	if !slices.Equal(got, []string{`{"kind":"keep"}`}) {
		t.Errorf("delivered %q, want only the kept message", got)
	}
	if c := r.Counts()["EventStorerFunction.IngestQueue"]; c.Filtered != 2 {
		t.Errorf("counts = %+v", c)
	}
}

// Stop lets the batch in flight finish and deletes its messages, so nothing is processed twice.
func TestStopFinishesTheBatchInFlight(t *testing.T) {
	moto := mototest.Start(t)
	c := sqs.NewFromConfig(spec.ClientConfig(moto.URL, "test"))
	url, arn, _ := createQueue(t, c, "ingest", 0)
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("slow")}); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once sync.Once
	fn := &fakeFunction{answer: func(int, spec.Invocation) (spec.Result, error) {
		once.Do(func() { close(started) })
		time.Sleep(time.Second)
		return spec.Result{}, nil
	}}
	r := startRunner(t, newFakeStack(t, stacktest.ReadTemplate(t, "testdata/sqs.yaml", 10), moto.URL, map[string]any{"IngestQueue.Arn": arn}), fn, nil, Options{})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("not invoked within 30s")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := depth(t, c, url); n != 0 {
		t.Errorf("%d messages left after Stop, want the one in flight deleted", n)
	}
	if got := r.Counts()["EventStorerFunction.IngestQueue"]; got.Batches != 1 || got.Failed != 0 {
		t.Errorf("counts = %+v", got)
	}
}
