package firehose

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// shards is a fake Kinesis stream: shard-0 holds two records and is closed (as after a split),
// shard-1, its child, appears in ListShards once shard-0 is read to its end, with one record.
type shards struct {
	split     bool
	iterators []*kinesis.GetShardIteratorInput
}

func (f *shards) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	out := &kinesis.ListShardsOutput{Shards: []kintypes.Shard{{ShardId: aws.String("shardId-0")}}}
	if f.split {
		out.Shards = append(out.Shards, kintypes.Shard{ShardId: aws.String("shardId-1"), ParentShardId: aws.String("shardId-0")})
	}
	return out, nil
}

func (f *shards) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	f.iterators = append(f.iterators, in)
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(aws.ToString(in.ShardId) + "/start")}, nil
}

func (f *shards) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	at := time.UnixMilli(1795428000123)
	rec := func(data, seq string) kintypes.Record {
		return kintypes.Record{Data: []byte(data), SequenceNumber: aws.String(seq), PartitionKey: aws.String("pk-" + data), ApproximateArrivalTimestamp: &at}
	}
	switch aws.ToString(in.ShardIterator) {
	case "shardId-0/start":
		f.split = true
		return &kinesis.GetRecordsOutput{Records: []kintypes.Record{rec("a", "1"), rec("b", "2")}}, nil // closed: no next iterator
	case "shardId-1/start":
		return &kinesis.GetRecordsOutput{Records: []kintypes.Record{rec("c", "3")}, NextShardIterator: aws.String("shardId-1/end")}, nil
	}
	return &kinesis.GetRecordsOutput{NextShardIterator: in.ShardIterator}, nil
}

// TestKinesisSourceFollowsShards: a closed shard is read to its end once, its child is read
// next, from the start time, and every record keeps its shard, sequence number, partition key
// and arrival.
func TestKinesisSourceFollowsShards(t *testing.T) {
	f := &shards{}
	cfg := streamConfig{Name: "changes", SourceStreamARN: "arn:aws:kinesis:us-east-1:123456789012:stream/s", BufferSize: 1 << 20,
		Processor: &processorConfig{BufferSize: 1 << 20, BufferInterval: time.Hour}}
	st := newStream(cfg, nil, nil, Options{Logger: slog.New(slog.DiscardHandler)})
	start := time.Now()
	src := &kinesisSource{st: st, client: f, stream: "s", start: start, log: slog.New(slog.DiscardHandler),
		iterators: map[string]string{}, lastSeq: map[string]string{}, closed: map[string]bool{}}
	for range 4 {
		if _, err := src.poll(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range st.in {
		m := r.kinesis
		got = append(got, string(r.data)+"@"+m.ShardID+"#"+m.SequenceNumber+"/"+m.PartitionKey)
		if !r.arrival.Equal(time.UnixMilli(1795428000123)) || m.ApproximateArrivalTimestamp != 1795428000123 {
			t.Errorf("record %s arrival %v / %d, want the Kinesis arrival", r.data, r.arrival, m.ApproximateArrivalTimestamp)
		}
	}
	want := []string{"a@shardId-0#1/pk-a", "b@shardId-0#2/pk-b", "c@shardId-1#3/pk-c"}
	if !slices.Equal(got, want) {
		t.Errorf("buffered %v, want %v", got, want)
	}
	if len(f.iterators) != 2 {
		t.Fatalf("%d iterators asked, want one per shard: %+v", len(f.iterators), f.iterators)
	}
	for _, in := range f.iterators {
		if in.ShardIteratorType != kintypes.ShardIteratorTypeAtTimestamp || !aws.ToTime(in.Timestamp).Equal(start) {
			t.Errorf("iterator of %s: %s at %v, want AT_TIMESTAMP at the start", aws.ToString(in.ShardId), in.ShardIteratorType, aws.ToTime(in.Timestamp))
		}
	}
}
