package redrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

type streamReader interface {
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

var _ streamReader = (*dynamodbstreams.Client)(nil)

// storeClient reads the event store: an item by its key for a stream range, pages of items for
// a replay.
type storeClient interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ storeClient = (*dynamodb.Client)(nil)

// streamBatchInfo is the part of a stream mapping's OnFailure record that says where the
// failed records are: Lambda sends no records, only their range on the stream.
type streamBatchInfo struct {
	ShardID             string `json:"shardId"`
	StartSequenceNumber string `json:"startSequenceNumber"`
	EndSequenceNumber   string `json:"endSequenceNumber"`
	BatchSize           int    `json:"batchSize"`
	StreamARN           string `json:"streamArn"`
	// When the stream received the range's first and last records (ISO 8601).
	FirstArrival string `json:"approximateArrivalOfFirstRecord"`
	LastArrival  string `json:"approximateArrivalOfLastRecord"`
}

// ErrNoBatchInfo is wrapped by the error of an EmitterDLQ message that names no stream range.
var ErrNoBatchInfo = errors.New("no DDBStreamBatchInfo")

// ErrUnreplayable is wrapped by the error of a range that cannot be read again (the stream
// trimmed it, or the stream is gone) or an item no longer in the store.
var ErrUnreplayable = errors.New("cannot be replayed")

func batchInfo(body string) (streamBatchInfo, error) {
	var f struct {
		Info *streamBatchInfo `json:"DDBStreamBatchInfo"`
	}
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		return streamBatchInfo{}, fmt.Errorf("%w: %w", ErrNoBatchInfo, err)
	}
	if f.Info == nil || f.Info.StreamARN == "" || f.Info.ShardID == "" || f.Info.StartSequenceNumber == "" || f.Info.EndSequenceNumber == "" {
		return streamBatchInfo{}, ErrNoBatchInfo
	}
	return *f.Info, nil
}

// Emitter re-emits the records named by EmitterDLQ's OnFailure records. Each record's range is
// read from the stream again for the keys of the inserted items; each item is read from the
// event store (consistently) and emitted as the emitter emits it. A message whose range cannot
// be read or whose items are gone stays in the DLQ and is reported.
func (r *Redriver) Emitter(ctx context.Context) (Counts, []string, error) {
	var c Counts
	var unreplayable []string
	svc := r.emitService()
	err := r.drain(ctx, r.Names.EmitterDLQURL, &c, func(ctx context.Context, msgs []sqstypes.Message) []sqstypes.Message {
		var done []sqstypes.Message
		for _, m := range msgs {
			n, err := r.reemit(ctx, svc, aws.ToString(m.Body))
			if errors.Is(err, errRangeGone) {
				n, err = r.replayRange(ctx, aws.ToString(m.Body), err)
			}
			if err != nil {
				if errors.Is(err, ErrNoBatchInfo) || errors.Is(err, ErrUnreplayable) {
					unreplayable = append(unreplayable, fmt.Sprintf("EmitterDLQ message %s: %v", aws.ToString(m.MessageId), err))
				}
				r.log().Warn("emitter redrive: message left in the DLQ", "messageId", aws.ToString(m.MessageId), "error", err)
				continue
			}
			c.Records += n
			done = append(done, m)
		}
		return done
	})
	return c, unreplayable, err
}

// emitService emits as the emitter does, onto the stack's bus.
func (r *Redriver) emitService() *emit.Service {
	return &emit.Service{Publisher: r.publisher(), Logger: r.log()}
}

// publisher puts events on the stack's bus as the emitter does, with the redrive's retries.
func (r *Redriver) publisher() *emit.Publisher {
	return emit.NewPublisher(r.Clients.Events, r.Names.EventBusName, r.Names.EventSource, r.Names.EventStoreTableARN).WithPolicy(policy)
}

// reemit replays one OnFailure record and returns how many events it put.
func (r *Redriver) reemit(ctx context.Context, svc *emit.Service, body string) (int, error) {
	info, err := batchInfo(body)
	if err != nil {
		return 0, err
	}
	keys, err := r.insertedKeys(ctx, info)
	if err != nil {
		return 0, err
	}
	recs := make([]emit.StreamRecord, 0, len(keys))
	for _, k := range keys {
		out, err := r.Clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(r.Names.EventStoreTable), Key: k.key, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return 0, fmt.Errorf("read item of stream record %s from %s: %w", k.seq, r.Names.EventStoreTable, err)
		}
		if len(out.Item) == 0 {
			return 0, fmt.Errorf("item of stream record %s: %w: no longer in %s", k.seq, ErrUnreplayable, r.Names.EventStoreTable)
		}
		recs = append(recs, emit.StreamRecord{SequenceNumber: k.seq, EventName: emit.Insert, NewImage: out.Item})
	}
	if len(recs) == 0 {
		return 0, nil
	}
	res := svc.Emit(ctx, recs)
	if res.FailedSequenceNumber != "" {
		return 0, fmt.Errorf("re-emit %s..%s: %d of %d events not put (first at %s)", info.StartSequenceNumber, info.EndSequenceNumber,
			res.Failed, len(recs), res.FailedSequenceNumber)
	}
	r.log().Info("re-emitted", "shard", info.ShardID, "from", info.StartSequenceNumber, "to", info.EndSequenceNumber, "events", res.Emitted)
	return res.Emitted, nil
}

type streamKey struct {
	seq string
	key map[string]ddbtypes.AttributeValue
}

// emptyReads is how many empty GetRecords answers in a row end the reading of a range that
// has not reached its end: an open shard answers empty when nothing more has been written.
const emptyReads = 5

// insertedKeys reads the stream from the range's first sequence number to its last and returns
// the keys of the INSERT records.
func (r *Redriver) insertedKeys(ctx context.Context, info streamBatchInfo) ([]streamKey, error) {
	it, err := r.Clients.Streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn: aws.String(info.StreamARN), ShardId: aws.String(info.ShardID),
		ShardIteratorType: streamtypes.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(info.StartSequenceNumber),
	})
	if err != nil {
		return nil, streamErr(info, err)
	}
	iter := it.ShardIterator
	var keys []streamKey
	empty := 0
	for iter != nil {
		out, err := r.Clients.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
		if err != nil {
			return nil, streamErr(info, err)
		}
		if len(out.Records) == 0 {
			if empty++; empty >= emptyReads {
				break
			}
		} else {
			empty = 0
		}
		for _, rec := range out.Records {
			if rec.Dynamodb == nil {
				continue
			}
			seq := aws.ToString(rec.Dynamodb.SequenceNumber)
			if seqLess(info.EndSequenceNumber, seq) {
				return keys, nil
			}
			if rec.EventName == streamtypes.OperationTypeInsert {
				keys = append(keys, streamKey{seq: seq, key: tableKey(rec.Dynamodb.Keys)})
			}
			if seq == info.EndSequenceNumber {
				return keys, nil
			}
		}
		iter = out.NextShardIterator
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("stream %s shard %s %s..%s: %w: the range was not found", info.StreamARN, info.ShardID,
			info.StartSequenceNumber, info.EndSequenceNumber, ErrUnreplayable)
	}
	// The shard ended (or stopped answering) before the range's end: what was read is replayed;
	// the rest cannot have been written, since a range only names records already on the stream.
	r.log().Warn("stream range read short", slog.String("shard", info.ShardID), slog.String("end", info.EndSequenceNumber), slog.Int("inserts", len(keys)))
	return keys, nil
}

// errRangeGone marks a range the stream no longer holds: it keeps records 24 hours, EmitterDLQ
// its messages 14 days.
var errRangeGone = errors.New("the stream no longer holds the range")

// storeWriteLag bounds how long after Firehose received a record the storer writes it: Firehose
// keeps a record up to 24 hours while its processor fails, IngestQueue keeps it 14 days. A
// range's items were all received within this long before the range's first stream record.
const storeWriteLag = 15 * 24 * time.Hour

// replayRange replays, from the event store, a range the stream no longer holds: the message
// names no keys then, only when the stream received the range's records, so every item
// received within storeWriteLag before that and up to its last record is emitted again. That
// is a superset of the range; consumers tolerate the duplicates.
func (r *Redriver) replayRange(ctx context.Context, body string, gone error) (int, error) {
	info, err := batchInfo(body)
	if err != nil {
		return 0, err
	}
	first, ferr := time.Parse(time.RFC3339Nano, info.FirstArrival)
	last, lerr := time.Parse(time.RFC3339Nano, info.LastArrival)
	if ferr != nil || lerr != nil {
		return 0, fmt.Errorf("%w; and the message says no arrival times to replay from the store by", gone)
	}
	sel := Selection{ReceivedFrom: first.Add(-storeWriteLag), ReceivedTo: last}
	r.log().Warn("emitter redrive: the stream range is gone; replaying from the event store",
		"shard", info.ShardID, "receivedFrom", record.FormatTime(sel.ReceivedFrom), "receivedTo", record.FormatTime(sel.ReceivedTo))
	c, err := r.Replay(ctx, sel)
	return c.Emitted, err
}

func streamErr(info streamBatchInfo, err error) error {
	var trimmed *streamtypes.TrimmedDataAccessException
	var expired *streamtypes.ExpiredIteratorException
	var gone *streamtypes.ResourceNotFoundException
	if errors.As(err, &trimmed) || errors.As(err, &expired) || errors.As(err, &gone) {
		return fmt.Errorf("stream %s shard %s %s..%s (%d records): %w: %w: %w", info.StreamARN, info.ShardID,
			info.StartSequenceNumber, info.EndSequenceNumber, info.BatchSize, ErrUnreplayable, errRangeGone, err)
	}
	return fmt.Errorf("read stream %s shard %s: %w", info.StreamARN, info.ShardID, err)
}

// tableKey converts a stream record's key to the table API's type. Key attributes are strings,
// numbers or binary only.
func tableKey(in map[string]streamtypes.AttributeValue) map[string]ddbtypes.AttributeValue {
	out := make(map[string]ddbtypes.AttributeValue, len(in))
	for name, v := range in {
		switch v := v.(type) {
		case *streamtypes.AttributeValueMemberS:
			out[name] = &ddbtypes.AttributeValueMemberS{Value: v.Value}
		case *streamtypes.AttributeValueMemberN:
			out[name] = &ddbtypes.AttributeValueMemberN{Value: v.Value}
		case *streamtypes.AttributeValueMemberB:
			out[name] = &ddbtypes.AttributeValueMemberB{Value: v.Value}
		}
	}
	return out
}

// seqLess compares two stream sequence numbers: decimal strings of up to 40 digits.
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
