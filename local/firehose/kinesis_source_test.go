package firehose

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/stream-to-events/stream-to-events/local/stacktest"
)

// The real template's ChangeDeliveryStream reads ChangeStream in moto: what is put to the
// Kinesis stream reaches the processor with Firehose's Kinesis-source event (the source stream's
// ARN, each record's shard, partition key and sequence number) and lands under changes/; the
// stream refuses PutRecord, as Firehose does for a Kinesis-sourced stream.
func TestKinesisSourcedStream(t *testing.T) {
	rt := startRealTemplate(t)
	deliveryStream := rt.name(t, map[string]any{"Ref": "ChangeDeliveryStream"})
	kinesisStream := rt.name(t, map[string]any{"Ref": "ChangeStream"})
	kinesisARN := rt.name(t, map[string]any{"Fn::GetAtt": []any{"ChangeStream", "Arn"}})

	kc := kinesis.NewFromConfig(rt.cfg)
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
	stacktest.WaitUntil(20*time.Second, func() bool { return rt.svc.Counts()[deliveryStream].In >= n+1 })
	if err := rt.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := rt.svc.Counts()[deliveryStream]; c.In != n+1 || c.Delivered != n || c.Failed != 1 {
		t.Errorf("counts %+v, want %d in, %d delivered, 1 failed", c, n+1, n)
	}

	objs := rt.lake(t)
	now := time.Now().UTC()
	lake := underPrefix(objs, now.Format("changes/year=2006/month=01/day=02/"))
	if got := strings.Count(strings.Join(lake, ""), "\n"); got != n {
		t.Errorf("%d lines under changes/, want %d; objects %v", got, n, keys(objs))
	}
	if errs := underPrefix(objs, now.Format("errors/changes/processing-failed/year=2006/month=01/day=02/")); len(errs) != 1 {
		t.Errorf("error objects %d, want 1; objects %v", len(errs), keys(objs))
	}

	rt.inv.mu.Lock()
	evs := rt.inv.events
	rt.inv.mu.Unlock()
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

	_, err = rt.fh.PutRecord(t.Context(), &fh.PutRecordInput{DeliveryStreamName: aws.String(deliveryStream), Record: &fhtypes.Record{Data: []byte("x")}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidArgumentException" {
		t.Errorf("PutRecord to a Kinesis-sourced stream: %v, want InvalidArgumentException", err)
	}
}
