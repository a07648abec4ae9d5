// Package store is the pipeline's event store: it turns canonical records into DynamoDB items
// keyed by entity and time, writes them in batches at DynamoDB's limits, and turns a batch of
// queue messages into writes and a FIFO-safe partial batch response.
//
// The store is append-only. An item's key is the record's identity (type, key, time, id), and an
// item is never rewritten: a record whose identity is stored already is read back first and, when
// its data is the same, written no more (no stream record, no change line); when its data differs
// it is a conflict, which is not written and is reported to the caller.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
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
	// AttrContentHash is the record's record.ContentHash: what an identical re-send is told
	// apart from a conflict by.
	AttrContentHash = "contentHash"
)

// Entry is one record to store, with the trace header of the ingest that carried it.
type Entry struct {
	Record      record.Record
	TraceHeader string
}

// Item is the event store item of e. It depends on the record and its trace header only (no
// clock), so storing the same record again writes the same bytes: DynamoDB keeps one item and
// adds no stream record.
func Item(e Entry) (map[string]types.AttributeValue, error) {
	return buildItem(e, e.Record.EntityKey(), e.Record.SortKey(), e.Record.ContentHash())
}

// buildItem takes the keys and the content hash from the caller, which has them already.
func buildItem(e Entry, pk, sk, hash string) (map[string]types.AttributeValue, error) {
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
	// The item's string attributes, their values allocated together.
	attrs := [...]struct{ name, value string }{
		{AttrPK, pk}, {AttrSK, sk}, {"id", r.ID}, {"type", r.Type}, {"key", r.Key}, {"time", r.Time},
		{"receivedAt", r.ReceivedAt}, {"source", r.Source}, {AttrContentHash, hash},
		{AttrTraceHeader, e.TraceHeader}, // last: left out when there is none
	}
	n := len(attrs)
	if e.TraceHeader == "" {
		n--
	}
	values := make([]types.AttributeValueMemberS, n)
	m := make(map[string]types.AttributeValue, n+1)
	for i, a := range attrs[:n] {
		values[i].Value = a.value
		m[a.name] = &values[i]
	}
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

// client is the DynamoDB operations the table needs.
type client interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ client = (*dynamodb.Client)(nil)

// Table writes entries to the event store table.
type Table struct {
	client client
	name   string
	policy batch.Policy
}

// NewTable returns a Table writing to the table called name, retrying refused items with
// batch.DefaultPolicy.
func NewTable(c client, name string) *Table {
	return &Table{client: c, name: name, policy: batch.DefaultPolicy}
}

// WithPolicy returns a copy of t that retries with p.
func (t *Table) WithPolicy(p batch.Policy) *Table {
	c := *t
	c.policy = p
	return &c
}

// Kind is what Put did with one entry.
type Kind uint8

const (
	// Written: the table did not hold the record; it does now.
	Written Kind = iota
	// Unchanged: the table holds the same record (same identity, same data) already, or an
	// earlier entry of the batch is it; nothing was written.
	Unchanged
	// Conflict: the table holds, or the batch wrote first, another record with the same
	// identity and other data; nothing was written.
	Conflict
	// NotStored: nothing was written, for a reason in Put's error; sending it again may help.
	NotStored
)

// Outcome is what Put did with one entry.
type Outcome struct {
	Kind Kind
	// StoredHash is, for a Conflict, the content hash of the record the identity holds; "" when
	// that item was written before items kept their hash.
	StoredHash string
}

// NotStoredOf lists, ascending, the indexes of the outcomes that are NotStored: the entries whose
// messages must be received again.
func NotStoredOf(outs []Outcome) []int {
	var out []int
	for i, o := range outs {
		if o.Kind == NotStored {
			out = append(out, i)
		}
	}
	return out
}

// write is one distinct item and the entries (by index) it stands for: entries with the same
// key and data are the same record, and DynamoDB refuses a batch that names one key twice.
type write struct {
	key   itemKey
	hash  string
	item  map[string]types.AttributeValue
	first int   // the entry the item was built from
	same  []int // the later entries of the same record
}

// Put stores the entries whose identity the table does not hold yet, at most MaxBatch items a
// call, sending again what DynamoDB leaves unprocessed. It first reads the items of the entries'
// keys (strongly consistent, MaxGetBatch keys a call): an entry whose identity is stored with the
// same data is Unchanged, with other data a Conflict. It returns one Outcome per entry, and an
// error saying why any entry is NotStored.
//
// The read and the write are not one transaction. That is safe because one storer at a time
// handles an entity: the ingest queue's message group is the record's entity, the table's
// partition key, and SQS hands out a group only once its batch in flight is settled.
func (t *Table) Put(ctx context.Context, entries []Entry) ([]Outcome, error) {
	var (
		all      = make([]write, 0, len(entries)) // never grows, so pointers into it hold
		writes   = make([]*write, 0, len(entries))
		byKey    = make(map[itemKey]*write, len(entries))
		out      = make([]Outcome, len(entries))
		problems []error
	)
	for i, e := range entries {
		k := itemKey{pk: e.Record.EntityKey(), sk: e.Record.SortKey()}
		hash := e.Record.ContentHash()
		if w, ok := byKey[k]; ok {
			if w.hash != hash {
				out[i] = Outcome{Kind: Conflict, StoredHash: w.hash}
				continue
			}
			w.same = append(w.same, i)
			continue
		}
		it, err := buildItem(e, k.pk, k.sk, hash)
		if err != nil {
			out[i].Kind = NotStored
			problems = append(problems, err)
			continue
		}
		all = append(all, write{key: k, hash: hash, item: it, first: i})
		w := &all[len(all)-1]
		byKey[k] = w
		writes = append(writes, w)
	}
	set := func(w *write, o Outcome) {
		out[w.first] = o
		for _, i := range w.same {
			out[i] = o
			if o.Kind == Written {
				out[i].Kind = Unchanged
			}
		}
	}

	stored, unread, err := t.read(ctx, writes)
	if err != nil {
		problems = append(problems, fmt.Errorf("read from %s: %w", t.name, err))
	}
	fresh := make([]*write, 0, len(writes))
	for _, w := range writes {
		if unread[w.key] {
			set(w, Outcome{Kind: NotStored})
			continue
		}
		old, ok := stored[w.key]
		switch {
		case !ok:
			fresh = append(fresh, w)
		case sameRecord(old, w):
			set(w, Outcome{Kind: Unchanged})
		default:
			set(w, Outcome{Kind: Conflict, StoredHash: stringAttr(old, AttrContentHash)})
		}
	}

	for _, chunk := range batch.Chunks(fresh, MaxBatch, 0, nil) {
		left, err := t.write(ctx, chunk)
		var notStored map[*write]bool
		if len(left) > 0 {
			notStored = make(map[*write]bool, len(left))
			for _, w := range left {
				notStored[w] = true
			}
		}
		for _, w := range chunk {
			if notStored[w] {
				set(w, Outcome{Kind: NotStored})
			} else {
				set(w, Outcome{Kind: Written})
			}
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("write to %s: %w", t.name, err))
		}
	}
	return out, errors.Join(problems...)
}

// sameRecord reports whether the stored item old holds w's record: the same content hash or, for
// an item written before items kept their hash, the same data.
func sameRecord(old map[string]types.AttributeValue, w *write) bool {
	if h := stringAttr(old, AttrContentHash); h != "" {
		return h == w.hash
	}
	a, err1 := jsonattr.AppendJSON(nil, old[AttrData])
	b, err2 := jsonattr.AppendJSON(nil, w.item[AttrData])
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// MaxGetBatch is the most keys BatchGetItem takes in one call.
const MaxGetBatch = 100

// readNames are the attribute names of the read's projection expression. The SDK only reads
// the map, so every call shares it.
var readNames = map[string]string{"#pk": AttrPK, "#sk": AttrSK, "#hash": AttrContentHash, "#data": AttrData}

// read returns the stored items of ws's keys (content hash and, for items that predate it, data),
// and the keys it could not read, with why.
func (t *Table) read(ctx context.Context, ws []*write) (map[itemKey]map[string]types.AttributeValue, map[itemKey]bool, error) {
	var stored map[itemKey]map[string]types.AttributeValue // made when an item is found
	var unread map[itemKey]bool                            // made when a key is left unread
	var problems []error
	for _, chunk := range batch.Chunks(ws, MaxGetBatch, 0, nil) {
		keys := make([]map[string]types.AttributeValue, len(chunk))
		for i, w := range chunk {
			keys[i] = map[string]types.AttributeValue{AttrPK: w.item[AttrPK], AttrSK: w.item[AttrSK]}
		}
		left, err := batch.Retry(ctx, t.policy, keys, func(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
			out, err := t.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{t.name: {
				Keys:                     keys,
				ConsistentRead:           aws.Bool(true),
				ProjectionExpression:     aws.String("#pk, #sk, #hash, #data"),
				ExpressionAttributeNames: readNames,
			}}})
			if err != nil {
				return keys, err
			}
			for _, it := range out.Responses[t.name] {
				if stored == nil {
					stored = make(map[itemKey]map[string]types.AttributeValue)
				}
				stored[itemKey{pk: stringAttr(it, AttrPK), sk: stringAttr(it, AttrSK)}] = it
			}
			return out.UnprocessedKeys[t.name].Keys, nil
		})
		for _, k := range left {
			if unread == nil {
				unread = make(map[itemKey]bool)
			}
			unread[itemKey{pk: stringAttr(k, AttrPK), sk: stringAttr(k, AttrSK)}] = true
		}
		if err != nil {
			problems = append(problems, err)
		}
	}
	return stored, unread, errors.Join(problems...)
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
	puts := make([]types.PutRequest, len(ws))
	for i, w := range ws {
		puts[i].Item = w.item
		reqs[i].PutRequest = &puts[i]
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
