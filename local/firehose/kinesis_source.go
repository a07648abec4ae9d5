package firehose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// kinesisRecordMetadata is where a Kinesis-sourced stream read a record, as Firehose passes it
// to the processor (aws-lambda-go's events.KinesisFirehoseRecordMetadata reads it).
type kinesisRecordMetadata struct {
	ShardID                     string `json:"shardId"`
	PartitionKey                string `json:"partitionKey"`
	ApproximateArrivalTimestamp int64  `json:"approximateArrivalTimestamp"`
	SequenceNumber              string `json:"sequenceNumber"`
	SubsequenceNumber           int64  `json:"subsequenceNumber"`
}

type kinesisReader interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

var _ kinesisReader = (*kinesis.Client)(nil)

// kinesisPoll is how often each shard is read: Firehose calls GetRecords once a second per shard
// (an on-demand stream in moto has 4 shards, so 4 calls a second, counted under the runner).
var kinesisPoll = time.Second

// maxGetRecords is the most records one GetRecords call returns.
const maxGetRecords = 10000

func (c streamConfig) streamType() string {
	if c.SourceStreamARN != "" {
		return "KinesisStreamAsSource"
	}
	return "DirectPut"
}

// startKinesisSources starts one reader per Kinesis-sourced delivery stream. Firehose starts
// reading at LATEST when the delivery stream is created; locally that is now, taken as a
// timestamp so that a record written while the reader is still getting its iterators counts.
func (s *Service) startKinesisSources(client kinesisReader) {
	start := time.Now()
	for _, name := range s.order {
		st := s.streams[name]
		if st.cfg.SourceStreamARN == "" {
			continue
		}
		src := &kinesisSource{st: st, client: client, stream: streamNameOf(st.cfg.SourceStreamARN), start: start,
			log:       st.log.With("kinesisStream", st.cfg.SourceStreamARN),
			iterators: map[string]string{}, lastSeq: map[string]string{}, closed: map[string]bool{}}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			src.run(s.stop)
		}()
	}
}

// streamNameOf takes the name out of arn:aws:kinesis:REGION:ACCOUNT:stream/NAME.
func streamNameOf(arn string) string {
	if _, name, ok := strings.Cut(arn, ":stream/"); ok {
		return name
	}
	return arn
}

// kinesisSource reads one Kinesis stream into one delivery stream's buffers.
type kinesisSource struct {
	st     *stream
	client kinesisReader
	stream string
	start  time.Time
	log    *slog.Logger

	iterators map[string]string // next iterator by shard ID, of the shards being read
	lastSeq   map[string]string // sequence number of the last record read, by shard ID
	closed    map[string]bool   // shards read to their end
	listed    bool
}

// run reads every shard until stop, then reads what is left, so that what the stream held when
// the runner stopped still reaches the lake.
func (k *kinesisSource) run(stop <-chan struct{}) {
	ctx := context.Background()
	t := time.NewTicker(kinesisPoll)
	defer t.Stop()
	for {
		select {
		case <-stop:
			for range 10 { // bounded: a writer that never stops must not hold the runner
				if n, err := k.poll(ctx); err != nil || n == 0 {
					return
				}
			}
			return
		case <-t.C:
			if _, err := k.poll(ctx); err != nil {
				k.log.Warn("reading the Kinesis source failed; retrying", "error", err)
			}
		}
	}
}

// poll reads each open shard once and buffers what it got; it returns how many records.
func (k *kinesisSource) poll(ctx context.Context) (int, error) {
	if !k.listed {
		if err := k.list(ctx); err != nil {
			return 0, err
		}
	}
	total := 0
	var errs []error
	for shard, it := range k.iterators {
		out, err := k.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(maxGetRecords)})
		var expired *kintypes.ExpiredIteratorException
		if errors.As(err, &expired) {
			k.listed = false // the next poll asks for iterators again
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %s: %w", shard, err))
			continue
		}
		if len(out.Records) > 0 {
			k.add(shard, out.Records)
			total += len(out.Records)
		}
		if out.NextShardIterator == nil {
			delete(k.iterators, shard) // closed (split or merged): its children are listed anew
			k.closed[shard] = true
			k.listed = false
			continue
		}
		k.iterators[shard] = *out.NextShardIterator
		if len(out.Records) > 0 {
			// Continue after the last record read, should the iterator expire before the next poll.
			k.lastSeq[shard] = aws.ToString(out.Records[len(out.Records)-1].SequenceNumber)
		}
	}
	return total, errors.Join(errs...)
}

// list gets an iterator for every shard not being read yet: after the last record read when
// there is one, else at the start time.
func (k *kinesisSource) list(ctx context.Context) error {
	var shards []kintypes.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(k.stream)}
	for {
		out, err := k.client.ListShards(ctx, in)
		if err != nil {
			return fmt.Errorf("list shards of %s: %w", k.stream, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if _, reading := k.iterators[id]; reading || k.closed[id] {
			continue
		}
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(k.stream), ShardId: aws.String(id),
			ShardIteratorType: kintypes.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(k.start)}
		if seq := k.lastSeq[id]; seq != "" {
			in.ShardIteratorType, in.Timestamp, in.StartingSequenceNumber = kintypes.ShardIteratorTypeAfterSequenceNumber, nil, aws.String(seq)
		}
		out, err := k.client.GetShardIterator(ctx, in)
		if err != nil {
			return fmt.Errorf("iterator of %s %s: %w", k.stream, id, err)
		}
		k.iterators[id] = aws.ToString(out.ShardIterator)
	}
	k.listed = true
	return nil
}

// add buffers records read from shard, with Firehose's Kinesis metadata and their arrival in
// Kinesis as their arrival in Firehose (what the prefix's timestamp and the event show).
func (k *kinesisSource) add(shard string, records []kintypes.Record) {
	recs := make([]inRecord, len(records))
	for i, r := range records {
		arrival := time.Now()
		if r.ApproximateArrivalTimestamp != nil {
			arrival = *r.ApproximateArrivalTimestamp
		}
		recs[i] = inRecord{data: r.Data, arrival: arrival, kinesis: &kinesisRecordMetadata{
			ShardID:                     shard,
			PartitionKey:                aws.ToString(r.PartitionKey),
			ApproximateArrivalTimestamp: arrival.UnixMilli(),
			SequenceNumber:              aws.ToString(r.SequenceNumber),
		}}
	}
	k.st.add(recs)
}
