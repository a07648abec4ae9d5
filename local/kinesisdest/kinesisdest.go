// Package kinesisdest runs DynamoDB's Kinesis streaming destination locally, since moto lacks it:
// for each table of the template with a KinesisStreamSpecification, it reads the table's DynamoDB
// stream from moto and writes every change to the Kinesis stream in the record format DynamoDB
// itself writes there ({"awsRegion","eventID","eventName","userIdentity","recordFormat",
// "tableName","dynamodb":{…},"eventSource":"aws:dynamodb"}), so that what reads the Kinesis
// stream (the change archive's Firehose) sees what it would see on AWS.
//
// Two differences from AWS are filled in or stated. AWS writes both images whatever the table's
// StreamViewType; moto's stream has what the view type gives (NEW_IMAGE for the event store), so
// the destination remembers the last image it wrote of each item and gives it as the OldImage of
// the next change (an item last written before the runner started has none). And the stream
// records that moto has for an identical rewrite (a MODIFY with nothing changed, which AWS does
// not record) are dropped when the remembered image shows nothing changed.
package kinesisdest

import (
	"bytes"
	"context"
	"crypto/md5" // #nosec G501 -- DynamoDB's partition key format, not a security use
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// Kinesis PutRecords limits.
const (
	maxPutRecords = 500
	maxPutBytes   = 5 << 20
)

// poll is how often an idle shard of a table's stream is read again.
var poll = 200 * time.Millisecond

type streamReader interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

type recordPutter interface {
	PutRecords(context.Context, *kinesis.PutRecordsInput, ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

var (
	_ streamReader = (*dynamodbstreams.Client)(nil)
	_ recordPutter = (*kinesis.Client)(nil)
)

// Options tune the destination. The zero value is what the runner uses.
type Options struct {
	Logger *slog.Logger
	// PutPolicy is how refused Kinesis records are retried (default: 10 calls, up to 1s apart).
	PutPolicy batch.Policy
}

// Destination copies the changes of the template's tables to their Kinesis streams.
type Destination struct {
	tables []*table
	log    *slog.Logger

	mu      sync.Mutex
	started bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// table is one table's streaming destination.
type table struct {
	LogicalID string
	Name      string
	StreamARN string // the table's DynamoDB stream, read
	Kinesis   string // the Kinesis stream's name, written
	Precision string // MILLISECOND or MICROSECOND

	streams streamReader
	kinesis recordPutter
	policy  batch.Policy
	log     *slog.Logger

	iterators map[string]string // next iterator by shard
	lastSeq   map[string]string // last sequence number read, by shard
	closed    map[string]bool
	images    map[string]json.RawMessage // last NewImage written, by the item's keys
	written   atomic.Int64
}

// New finds the template's tables with a KinesisStreamSpecification. Call it after the stack is
// provisioned: a table's stream ARN is moto's to tell.
func New(st spec.Stack, opts Options) (*Destination, error) {
	cfg := spec.RunnerConfig(st.Endpoint())
	return newDestination(st, dynamodbstreams.NewFromConfig(cfg), kinesis.NewFromConfig(cfg), opts)
}

func newDestination(st spec.Stack, streams streamReader, kc recordPutter, opts Options) (*Destination, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PutPolicy.Attempts <= 0 {
		opts.PutPolicy = batch.Policy{Attempts: 10, Base: 50 * time.Millisecond, Max: time.Second}
	}
	d := &Destination{log: opts.Logger, stop: make(chan struct{})}
	tmpl := st.Template()
	for _, id := range tmpl.OfType("AWS::DynamoDB::Table") {
		ks, ok := tmpl.Resources[id].Properties["KinesisStreamSpecification"]
		if !ok {
			continue
		}
		t, err := readTable(st, id, ks)
		if err != nil {
			return nil, fmt.Errorf("kinesis streaming destination of %s: %w", id, err)
		}
		t.streams, t.kinesis, t.policy = streams, kc, opts.PutPolicy
		t.log = opts.Logger.With("table", t.Name, "kinesisStream", t.Kinesis)
		d.tables = append(d.tables, t)
	}
	return d, nil
}

func readTable(st spec.Stack, id string, raw any) (*table, error) {
	resolved, err := st.Resolve(map[string]any{
		"spec":   raw,
		"name":   map[string]any{"Ref": id},
		"stream": map[string]any{"Fn::GetAtt": []any{id, "StreamArn"}},
	})
	if err != nil {
		// Locally the changes come from the table's DynamoDB stream; on AWS the destination
		// needs none.
		return nil, fmt.Errorf("resolve (the local destination reads the table's stream: does it have a StreamSpecification?): %w", err)
	}
	m, _ := resolved.(map[string]any)
	sp, _ := m["spec"].(map[string]any)
	t := &table{LogicalID: id, iterators: map[string]string{}, lastSeq: map[string]string{}, closed: map[string]bool{},
		images: map[string]json.RawMessage{}}
	t.Name, _ = m["name"].(string)
	t.StreamARN, _ = m["stream"].(string)
	arn, _ := sp["StreamArn"].(string)
	if _, name, ok := strings.Cut(arn, ":stream/"); ok {
		t.Kinesis = name
	}
	t.Precision, _ = sp["ApproximateCreationDateTimePrecision"].(string)
	if t.Precision == "" {
		t.Precision = "MICROSECOND" // DynamoDB's default
	}
	switch {
	case t.Name == "" || t.StreamARN == "":
		return nil, fmt.Errorf("no table name or stream ARN (%v, %v): is the stack provisioned?", m["name"], m["stream"])
	case t.Kinesis == "":
		return nil, fmt.Errorf("StreamArn %q is not a Kinesis stream ARN", arn)
	case t.Precision != "MILLISECOND" && t.Precision != "MICROSECOND":
		return nil, fmt.Errorf("ApproximateCreationDateTimePrecision %q", t.Precision)
	}
	return t, nil
}

// Tables are the logical IDs of the tables whose changes are copied.
func (d *Destination) Tables() []string {
	out := make([]string, len(d.tables))
	for i, t := range d.tables {
		out[i] = t.LogicalID
	}
	return out
}

// Written is the number of change records written to Kinesis, by table logical ID.
func (d *Destination) Written() map[string]int64 {
	out := make(map[string]int64, len(d.tables))
	for _, t := range d.tables {
		out[t.LogicalID] = t.written.Load()
	}
	return out
}

// Start reads every table's stream from its start (TRIM_HORIZON): the local table is created
// with the stack, so everything on its stream was written since.
func (d *Destination) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.started = true
	for _, t := range d.tables {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t.run(d.stop)
		}()
	}
}

// Stop copies what the streams hold now, then stops; it returns when that is done or ctx ends.
// Stop it after what writes to the tables and before what reads the Kinesis streams.
func (d *Destination) Stop(ctx context.Context) error {
	d.mu.Lock()
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.mu.Unlock()
	if err := spec.Wait(ctx, &d.wg); err != nil {
		return fmt.Errorf("kinesis streaming destination: stop: %w", err)
	}
	return nil
}

func (t *table) run(stop <-chan struct{}) {
	ctx := context.Background()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	listed := false
	for {
		select {
		case <-stop:
			for range 10 { // bounded: a writer that never stops must not hold the runner
				if n, err := t.pass(ctx, &listed); err != nil || n == 0 {
					return
				}
			}
			return
		case <-tick.C:
			if _, err := t.pass(ctx, &listed); err != nil {
				t.log.Warn("kinesis streaming destination: copy failed; retrying", "error", err)
			}
		}
	}
}

// pass reads each open shard once and copies what it read; it returns how many records.
func (t *table) pass(ctx context.Context, listed *bool) (int, error) {
	if !*listed {
		if err := t.list(ctx); err != nil {
			return 0, err
		}
		*listed = true
	}
	total := 0
	var errs []error
	for shard, it := range t.iterators {
		out, err := t.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			var expired *streamtypes.ExpiredIteratorException
			if errors.As(err, &expired) {
				delete(t.iterators, shard)
				*listed = false
			}
			errs = append(errs, fmt.Errorf("read shard %s: %w", shard, err))
			continue
		}
		if len(out.Records) > 0 {
			if err := t.copy(ctx, out.Records); err != nil {
				// Not advanced: the same records are read again with a new iterator.
				delete(t.iterators, shard)
				*listed = false
				errs = append(errs, err)
				continue
			}
			t.lastSeq[shard] = aws.ToString(out.Records[len(out.Records)-1].Dynamodb.SequenceNumber)
			total += len(out.Records)
		}
		if out.NextShardIterator == nil {
			delete(t.iterators, shard)
			t.closed[shard] = true
			*listed = false
			continue
		}
		t.iterators[shard] = *out.NextShardIterator
	}
	return total, errors.Join(errs...)
}

// list gets an iterator for every shard not being read: after the last record copied, or at the
// stream's start.
func (t *table) list(ctx context.Context) error {
	out, err := t.streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(t.StreamARN)})
	if err != nil {
		return fmt.Errorf("describe %s: %w", t.StreamARN, err)
	}
	for _, sh := range out.StreamDescription.Shards {
		id := aws.ToString(sh.ShardId)
		if _, reading := t.iterators[id]; reading || t.closed[id] {
			continue
		}
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(t.StreamARN), ShardId: aws.String(id),
			ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon}
		if seq := t.lastSeq[id]; seq != "" {
			in.ShardIteratorType, in.SequenceNumber = streamtypes.ShardIteratorTypeAfterSequenceNumber, aws.String(seq)
		}
		it, err := t.streams.GetShardIterator(ctx, in)
		if err != nil {
			return fmt.Errorf("iterator of %s: %w", id, err)
		}
		t.iterators[id] = aws.ToString(it.ShardIterator)
	}
	return nil
}

// copy writes the stream records to Kinesis in DynamoDB's record format, in PutRecords calls
// within Kinesis's limits, retrying the records Kinesis refuses.
func (t *table) copy(ctx context.Context, records []streamtypes.Record) error {
	// The remembered images change only once every record is in Kinesis: records that failed are
	// read again, and must then be encoded against the images as they were.
	staged := map[string]json.RawMessage{}
	entries := make([]kintypes.PutRecordsRequestEntry, 0, len(records))
	for _, r := range records {
		data, key, err := t.encode(r, staged)
		if err != nil {
			return fmt.Errorf("event %s: %w", aws.ToString(r.EventID), err)
		}
		if data == nil {
			continue // an identical rewrite: no change on AWS
		}
		entries = append(entries, kintypes.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(key)})
	}
	size := func(e kintypes.PutRecordsRequestEntry) int { return len(e.Data) + len(aws.ToString(e.PartitionKey)) }
	for _, chunk := range batch.Chunks(entries, maxPutRecords, maxPutBytes, size) {
		left, err := batch.Retry(ctx, t.policy, chunk, func(ctx context.Context, items []kintypes.PutRecordsRequestEntry) ([]kintypes.PutRecordsRequestEntry, error) {
			out, err := t.kinesis.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(t.Kinesis), Records: items})
			if err != nil {
				return nil, err
			}
			var failed []kintypes.PutRecordsRequestEntry
			for i, res := range out.Records {
				if res.ErrorCode != nil && i < len(items) {
					failed = append(failed, items[i])
				}
			}
			return failed, nil
		})
		if err != nil {
			return fmt.Errorf("put %d of %d records to %s: %w", len(left), len(chunk), t.Kinesis, err)
		}
		t.written.Add(int64(len(chunk)))
	}
	for id, image := range staged {
		if image == nil {
			delete(t.images, id)
		} else {
			t.images[id] = image
		}
	}
	return nil
}

// kinesisRecord is the record format of DynamoDB's Kinesis streaming destination.
type kinesisRecord struct {
	AWSRegion    string        `json:"awsRegion"`
	EventID      string        `json:"eventID"`
	EventName    string        `json:"eventName"`
	UserIdentity *userIdentity `json:"userIdentity"`
	RecordFormat string        `json:"recordFormat"`
	TableName    string        `json:"tableName"`
	DynamoDB     changeFields  `json:"dynamodb"`
	EventSource  string        `json:"eventSource"`
}

type userIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
}

type changeFields struct {
	ApproximateCreationDateTime          int64           `json:"ApproximateCreationDateTime"`
	ApproximateCreationDateTimePrecision string          `json:"ApproximateCreationDateTimePrecision"`
	Keys                                 json.RawMessage `json:"Keys"`
	NewImage                             json.RawMessage `json:"NewImage,omitempty"`
	OldImage                             json.RawMessage `json:"OldImage,omitempty"`
	SizeBytes                            int64           `json:"SizeBytes"`
}

// encode gives the Kinesis record of a stream record and its partition key; nil data for a
// MODIFY that changed nothing. The item's image after the change goes to staged (nil: removed).
func (t *table) encode(r streamtypes.Record, staged map[string]json.RawMessage) (data []byte, partitionKey string, err error) {
	d := r.Dynamodb
	if d == nil {
		return nil, "", errors.New("stream record without dynamodb")
	}
	change, err := spec.LambdaChange(d)
	if err != nil {
		return nil, "", err
	}
	keys, err := imageJSON(change.Keys)
	if err != nil {
		return nil, "", fmt.Errorf("keys: %w", err)
	}
	sum := md5.Sum(keys) // #nosec G401 -- the partition key DynamoDB writes is an MD5 of the item's keys; nothing is protected by it
	partitionKey = strings.ToUpper(hex.EncodeToString(sum[:]))
	created := time.Now()
	if d.ApproximateCreationDateTime != nil {
		created = *d.ApproximateCreationDateTime
	}
	rec := kinesisRecord{
		AWSRegion: aws.ToString(r.AwsRegion), EventID: aws.ToString(r.EventID), EventName: string(r.EventName),
		RecordFormat: "application/json", TableName: t.Name, EventSource: "aws:dynamodb",
		DynamoDB: changeFields{ApproximateCreationDateTimePrecision: t.Precision, Keys: keys, SizeBytes: aws.ToInt64(d.SizeBytes)},
	}
	if rec.AWSRegion == "" {
		rec.AWSRegion = spec.Region
	}
	if t.Precision == "MILLISECOND" {
		rec.DynamoDB.ApproximateCreationDateTime = created.UnixMilli()
	} else {
		rec.DynamoDB.ApproximateCreationDateTime = created.UnixMicro()
	}
	if u := r.UserIdentity; u != nil {
		rec.UserIdentity = &userIdentity{Type: aws.ToString(u.Type), PrincipalID: aws.ToString(u.PrincipalId)}
	}
	if rec.DynamoDB.NewImage, err = imageJSON(change.NewImage); err != nil {
		return nil, "", fmt.Errorf("new image: %w", err)
	}
	if rec.DynamoDB.OldImage, err = imageJSON(change.OldImage); err != nil {
		return nil, "", fmt.Errorf("old image: %w", err)
	}
	// AWS writes both images whatever the view type: fill in the old one from memory.
	id := string(keys)
	if rec.DynamoDB.OldImage == nil && r.EventName != streamtypes.OperationTypeInsert {
		last, ok := staged[id]
		if !ok {
			last = t.images[id]
		}
		rec.DynamoDB.OldImage = last
	}
	if r.EventName == streamtypes.OperationTypeModify && rec.DynamoDB.OldImage != nil && bytes.Equal(rec.DynamoDB.OldImage, rec.DynamoDB.NewImage) {
		return nil, "", nil
	}
	if r.EventName == streamtypes.OperationTypeRemove {
		staged[id] = nil
	} else if rec.DynamoDB.NewImage != nil {
		staged[id] = rec.DynamoDB.NewImage
	}
	data, err = json.Marshal(rec)
	return data, partitionKey, err
}

// imageJSON writes an item (keys or an image) in DynamoDB's attribute-value JSON, as the Kinesis
// record format has it: {"name":{"S":"…"},…}, names sorted so that the same item always gives the
// same bytes (the partition key and the identical-rewrite check rely on it). No image gives nil.
func imageJSON(item map[string]events.DynamoDBAttributeValue) (json.RawMessage, error) {
	if item == nil {
		return nil, nil
	}
	return json.Marshal(item)
}
