package runner

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/local/edge"
	"github.com/stream-to-events/stream-to-events/local/esm"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestStartInvokeStop builds a function with make, provisions its queue, and invokes it: the
// function sees the queue through the edge, with the template's environment, and the edge counts
// its call under its own name.
func TestStartInvokeStop(t *testing.T) {
	mototest.Require(t)
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

	checkSummary(t, r)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := r.Lambda.Invoke(t.Context(), "EchoFunction", spec.Invocation{Payload: []byte(`{}`)}); err == nil {
		t.Error("invoke after Stop succeeded")
	}
}

// checkSummary writes to the bucket, table and queue as the pipeline would and expects the
// summary to count it: lines of gzip objects per prefix, items, queue depth.
func checkSummary(t *testing.T, r *Runner) {
	t.Helper()
	ctx := t.Context()
	cfg := spec.RunnerConfig(r.Endpoint())
	bucket, _ := r.Stack.PhysicalID("LakeBucket")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"))
	_ = zw.Close()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for key, body := range map[string][]byte{"records/2026/a.gz": gz.Bytes(), "errors/x/b": []byte("{}\n{}\n")} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	table, _ := r.Stack.PhysicalID("ItemTable")
	if _, err := dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}},
	}); err != nil {
		t.Fatal(err)
	}
	queue, _ := r.Stack.PhysicalID("WorkQueue")
	if _, err := sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	// The functions' X-Ray segments reach the edge from the local daemon whenever it flushes, so
	// X-Ray calls are not the summary's.
	calls := func() map[string]int {
		n := map[string]int{}
		for _, c := range r.Edge.Calls() {
			if c.Service != "xray" {
				n[c.Caller+" "+c.Service+" "+c.Operation] = c.Calls
			}
		}
		return n
	}
	before := calls()
	sum, err := r.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.LakeLines["records/"] != 3 || sum.LakeLines["errors/"] != 2 || sum.LakeObjects["records/"] != 1 {
		t.Errorf("lake lines %v objects %v, want records/ 3 lines in 1 object, errors/ 2", sum.LakeLines, sum.LakeObjects)
	}
	if sum.Items["ItemTable"] != 1 || sum.QueueDepths["WorkQueue"] != 1 {
		t.Errorf("items %v queues %v, want 1 item and 1 message", sum.Items, sum.QueueDepths)
	}
	for k, n := range calls() {
		if n != before[k] {
			t.Errorf("reading the summary added %d calls to the edge's counts of %s", n-before[k], k)
		}
	}
}

// Handled counts what every trigger of a function handed it and it kept, and nothing of another
// function whose name begins the same.
func TestSummaryHandled(t *testing.T) {
	s := Summary{Mappings: map[string]esm.Counts{
		"EventResponderFunction.DataInserted":  {Records: 10, Failed: 2},
		"EventResponderFunction.Other":         {Records: 3},
		"EventResponderFunctionX.DataInserted": {Records: 100},
	}}
	if got := s.Handled("EventResponderFunction"); got != 11 {
		t.Errorf("Handled = %d, want 11", got)
	}
}
