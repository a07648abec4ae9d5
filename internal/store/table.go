// Package store is the pipeline's event store: it turns canonical records into DynamoDB items
// keyed by entity and time, writes them in batches at DynamoDB's limits, and turns a batch of
// queue messages into writes and a FIFO-safe partial batch response.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// MaxBatch is the most items BatchWriteItem takes in one call.
const MaxBatch = 25

// MaxItemBytes is DynamoDB's item size limit. An item over it would make DynamoDB refuse the
// whole batch call, so it is refused here, alone.
const MaxItemBytes = 400 * 1024

// ErrTooLarge is wrapped by the error of an entry whose item exceeds MaxItemBytes.
var ErrTooLarge = errors.New("item larger than DynamoDB's 400 KB limit")

// Attribute names of an event store item (the contract with the emitter, which reads them back
// from the stream image).
const (
	AttrPK          = "pk"
	AttrSK          = "sk"
	AttrData        = "data"
	AttrTraceHeader = "traceHeader"
)

// Entry is one record to store, with the trace header of the ingest that carried it.
type Entry struct {
	Record      record.Record
	TraceHeader string
}

// item holds the attributes attributevalue marshals; data is added as a map built by jsonattr,
// which keeps numbers as written.
type item struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	ID          string `dynamodbav:"id"`
	Type        string `dynamodbav:"type"`
	Key         string `dynamodbav:"key"`
	Time        string `dynamodbav:"time"`
	ReceivedAt  string `dynamodbav:"receivedAt"`
	Source      string `dynamodbav:"source"`
	TraceHeader string `dynamodbav:"traceHeader,omitempty"`
}

// encoder is shared: attributevalue.MarshalMap would build one per item. An Encoder is safe
// for concurrent use (it keeps no state between calls beyond its options and a field cache).
var encoder = attributevalue.NewEncoder()

// Item is the event store item of e. It depends on the record and its trace header only (no
// clock), so storing the same record again writes the same bytes: DynamoDB keeps one item and
// adds no stream record.
func Item(e Entry) (map[string]types.AttributeValue, error) {
	return buildItem(e, e.Record.EntityKey(), e.Record.SortKey())
}

func buildItem(e Entry, pk, sk string) (map[string]types.AttributeValue, error) {
	r := e.Record
	if len(pk) > maxPartitionKeyBytes || len(sk) > maxSortKeyBytes {
		return nil, fmt.Errorf("record %s: key %d bytes and sort key %d bytes, DynamoDB's limits are %d and %d: %w",
			r.ID, len(pk), len(sk), maxPartitionKeyBytes, maxSortKeyBytes, jsonattr.ErrUnsupported)
	}
	data, err := jsonattr.FromJSON(r.Data)
	if err != nil {
		return nil, fmt.Errorf("record %s data: %w", r.ID, err)
	}
	if _, ok := data.(*types.AttributeValueMemberM); !ok {
		return nil, fmt.Errorf("record %s data: not a JSON object", r.ID)
	}
	av, err := encoder.Encode(item{
		PK: pk, SK: sk,
		ID: r.ID, Type: r.Type, Key: r.Key, Time: r.Time, ReceivedAt: r.ReceivedAt, Source: r.Source,
		TraceHeader: e.TraceHeader,
	})
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	m := av.(*types.AttributeValueMemberM).Value
	m[AttrData] = data
	switch n := itemSize(m); {
	case n < 0:
		return nil, fmt.Errorf("record %s data: a map key is empty or over 64 KB, which DynamoDB refuses as an attribute name: %w", r.ID, jsonattr.ErrUnsupported)
	case n > MaxItemBytes:
		return nil, fmt.Errorf("record %s: about %d bytes: %w", r.ID, n, ErrTooLarge)
	}
	return m, nil
}

// itemSize is an upper bound of an item's size as DynamoDB counts it (attribute names plus
// values; a number counted as its decimal string, which is never less than DynamoDB's count).
// It is -1 when a map in the item has a key DynamoDB refuses as an attribute name (empty, or
// over 64 KB), which would make it refuse the whole batch call.
func itemSize(m map[string]types.AttributeValue) int {
	n := 0
	for k, v := range m {
		vs := valueSize(v)
		if k == "" || len(k) > maxNameBytes || vs < 0 {
			return -1
		}
		n += len(k) + vs
	}
	return n
}

// DynamoDB's limits on key attribute values: a long entity key (type#key) or id would make it
// refuse the whole batch call.
const (
	maxPartitionKeyBytes = 2048
	maxSortKeyBytes      = 1024
)

// maxNameBytes is DynamoDB's limit on an attribute name, nested map keys included.
const maxNameBytes = 64 * 1024

func valueSize(av types.AttributeValue) int {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberM:
		n := itemSize(v.Value)
		if n < 0 {
			return -1
		}
		return 3 + n + len(v.Value)
	case *types.AttributeValueMemberL:
		n := 3 + len(v.Value)
		for _, e := range v.Value {
			vs := valueSize(e)
			if vs < 0 {
				return -1
			}
			n += vs
		}
		return n
	case *types.AttributeValueMemberB:
		return len(v.Value)
	}
	return 1
}

// batchWriter is the DynamoDB operation the table needs.
type batchWriter interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ batchWriter = (*dynamodb.Client)(nil)

// Table writes entries to the event store table.
type Table struct {
	client batchWriter
	name   string
	policy batch.Policy
}

// NewTable returns a Table writing to the table called name, retrying refused items with
// batch.DefaultPolicy.
func NewTable(client batchWriter, name string) *Table {
	return &Table{client: client, name: name, policy: batch.DefaultPolicy}
}

// WithPolicy returns a copy of t that retries with p.
func (t *Table) WithPolicy(p batch.Policy) *Table {
	c := *t
	c.policy = p
	return &c
}

// write is one distinct item and the entries (by index) it stands for: entries with the same
// key are the same record, and DynamoDB refuses a batch that names one key twice.
type write struct {
	key     itemKey
	item    map[string]types.AttributeValue
	entries []int
}

// Put stores entries, at most MaxBatch items a call, sending again what DynamoDB leaves
// unprocessed. It returns the indexes (ascending) of the entries that were not stored, and an
// error saying why; nil and nil when every entry was stored.
func (t *Table) Put(ctx context.Context, entries []Entry) ([]int, error) {
	var (
		writes   []*write
		byKey    = make(map[itemKey]*write, len(entries))
		failed   = make([]bool, len(entries))
		problems []error
	)
	for i, e := range entries {
		k := itemKey{pk: e.Record.EntityKey(), sk: e.Record.SortKey()}
		if w, ok := byKey[k]; ok {
			w.entries = append(w.entries, i)
			continue
		}
		it, err := buildItem(e, k.pk, k.sk)
		if err != nil {
			failed[i] = true
			problems = append(problems, err)
			continue
		}
		w := &write{key: k, item: it, entries: []int{i}}
		byKey[k] = w
		writes = append(writes, w)
	}
	for _, chunk := range batch.Chunks(writes, MaxBatch, 0, nil) {
		left, err := t.write(ctx, chunk)
		for _, w := range left {
			for _, i := range w.entries {
				failed[i] = true
			}
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("write to %s: %w", t.name, err))
		}
	}
	var out []int
	for i, f := range failed {
		if f {
			out = append(out, i)
		}
	}
	return out, errors.Join(problems...)
}

// write sends ws, retrying what DynamoDB leaves unprocessed, and returns what never got
// through. DynamoDB refuses a whole call for one item it will not take (ValidationException);
// sending it again cannot help, so the refused call is split in halves until the item is alone,
// and the other items of the batch are still written.
func (t *Table) write(ctx context.Context, ws []*write) ([]*write, error) {
	var refused []*write
	var invalid error
	left, err := batch.Retry(ctx, t.policy, ws, func(ctx context.Context, ws []*write) ([]*write, error) {
		failed, err := t.send(ctx, ws)
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "ValidationException" {
			refused, invalid = ws, err
			return nil, nil // stop retrying; the refused writes are dealt with below
		}
		return failed, err
	})
	if invalid == nil {
		return left, err
	}
	if len(refused) == 1 {
		return append(left, refused...), errors.Join(err, fmt.Errorf("record %s: %w", stringAttr(refused[0].item, "id"), invalid))
	}
	half := len(refused) / 2
	l1, err1 := t.write(ctx, refused[:half])
	l2, err2 := t.write(ctx, refused[half:])
	return append(append(left, l1...), l2...), errors.Join(err, err1, err2)
}

// send makes one BatchWriteItem call and returns the writes DynamoDB left unprocessed.
func (t *Table) send(ctx context.Context, ws []*write) ([]*write, error) {
	reqs := make([]types.WriteRequest, len(ws))
	for i, w := range ws {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: w.item}}
	}
	out, err := t.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
		RequestItems: map[string][]types.WriteRequest{t.name: reqs},
	})
	if err != nil {
		return nil, err
	}
	left := out.UnprocessedItems[t.name]
	if len(left) == 0 {
		return nil, nil
	}
	pending := make(map[itemKey]*write, len(ws))
	for _, w := range ws {
		pending[w.key] = w
	}
	failed := make([]*write, 0, len(left))
	for _, r := range left {
		if r.PutRequest == nil {
			continue
		}
		k := itemKey{pk: stringAttr(r.PutRequest.Item, AttrPK), sk: stringAttr(r.PutRequest.Item, AttrSK)}
		if w, ok := pending[k]; ok {
			failed = append(failed, w)
			delete(pending, k)
		}
	}
	if len(failed) < len(left) {
		// An unprocessed item we cannot match to what we sent: send everything again rather
		// than report a write that may not have happened.
		return ws, nil
	}
	return failed, nil
}

// itemKey is an item's primary key.
type itemKey struct{ pk, sk string }

func stringAttr(m map[string]types.AttributeValue, name string) string {
	if s, ok := m[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
