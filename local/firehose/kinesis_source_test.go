package firehose

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/stack"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// The real template's ChangeDeliveryStream reads ChangeStream in moto: what is put to the
// Kinesis stream reaches the processor with Firehose's Kinesis-source event (the source stream's
// ARN, each record's shard, partition key and sequence number) and lands under changes/; the
// stream refuses PutRecord, as Firehose does for a Kinesis-sourced stream.
func TestKinesisSourcedStream(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Skipf("no template.yaml: %v", err)
	}
	moto := mototest.Start(t)
	st, err := stack.New(tmpl, stack.Options{BuildDir: t.TempDir(), Endpoint: moto.URL, APIURL: "http://127.0.0.1:3000"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Provision(t.Context(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	inv := &transformer{}
	svc, err := New(st, inv, Options{RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(t.Context()) })
	resolve := func(v any) string {
		t.Helper()
		out, err := st.Resolve(v)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(out)
	}
	deliveryStream := resolve(map[string]any{"Ref": "ChangeDeliveryStream"})
	kinesisStream := resolve(map[string]any{"Ref": "ChangeStream"})
	kinesisARN := resolve(map[string]any{"Fn::GetAtt": []any{"ChangeStream", "Arn"}})
	bucket := resolve(map[string]any{"Ref": "LakeBucket"})

	kc := kinesis.NewFromConfig(cfg)
	const n = 7
	var entries []kintypes.PutRecordsRequestEntry
	for i := range n {
		entries = append(entries, kintypes.PutRecordsRequestEntry{Data: fmt.Appendf(nil, "change-%d", i), PartitionKey: aws.String(fmt.Sprint(i))})
	}
	entries = append(entries, kintypes.PutRecordsRequestEntry{Data: []byte("fail-me"), PartitionKey: aws.String("x")})
	out, err := kc.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(kinesisStream), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("put to Kinesis: %v %+v", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for svc.Counts()[deliveryStream].In < n+1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := svc.Counts()[deliveryStream]; c.In != n+1 || c.Delivered != n || c.Failed != 1 {
		t.Errorf("counts %+v, want %d in, %d delivered, 1 failed", c, n+1, n)
	}

	h := &harness{s3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })}
	objs := h.objectsIn(t, bucket)
	now := time.Now().UTC()
	lake := underPrefix(objs, now.Format("changes/year=2006/month=01/day=02/"))
	if got := strings.Count(strings.Join(lake, ""), "\n"); got != n {
		t.Errorf("%d lines under changes/, want %d; objects %v", got, n, keys(objs))
	}
	if errs := underPrefix(objs, now.Format("errors/changes/processing-failed/year=2006/month=01/day=02/")); len(errs) != 1 {
		t.Errorf("error objects %d, want 1; objects %v", len(errs), keys(objs))
	}

	inv.mu.Lock()
	evs := inv.events
	inv.mu.Unlock()
	if len(evs) == 0 {
		t.Fatal("processor never called")
	}
	for _, ev := range evs {
		if ev.SourceKinesisStreamARN != kinesisARN || !strings.HasSuffix(ev.DeliveryStreamARN, "/"+deliveryStream) {
			t.Errorf("event names source %q and stream %q, want %q and %q", ev.SourceKinesisStreamARN, ev.DeliveryStreamARN, kinesisARN, deliveryStream)
		}
		for _, r := range ev.Records {
			m := r.KinesisRecordMetadata
			if m == nil || !strings.HasPrefix(m.ShardID, "shardId-") || m.SequenceNumber == "" || m.PartitionKey == "" || m.ApproximateArrivalTimestamp != r.ApproximateArrivalTimestamp {
				t.Errorf("record %s metadata %+v", r.RecordID, m)
			}
		}
	}

	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	_, err = fh.NewFromConfig(clientConfig(srv.URL)).PutRecord(t.Context(), &fh.PutRecordInput{DeliveryStreamName: aws.String(deliveryStream), Record: &fhtypes.Record{Data: []byte("x")}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidArgumentException" {
		t.Errorf("PutRecord to a Kinesis-sourced stream: %v, want InvalidArgumentException", err)
	}
}
