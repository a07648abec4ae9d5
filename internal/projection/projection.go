// Package projection is the consumer's own table: the newest record of every entity, keyed by
// type (pk) and key (sk). Integration events arrive at least once and in any order, so a record
// is written only if the stored one is older (time, then id as tie-break); a duplicate or an
// older event leaves the item as it is and is not an error. The API reads the table back.
package projection

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// Condition is the rule of the write: there is no item yet, or the stored record is older. The
// times are fixed-width UTC strings (record.TimeLayout), so string order is time order, and it
// is the same rule as record.Record.Newer, evaluated by DynamoDB in one round trip.
const Condition = "attribute_not_exists(pk) OR #time < :time OR (#time = :time AND #id < :id)"

// MaxKeyBytes is DynamoDB's limit on a sort key value, and so on an entity's key.
const MaxKeyBytes = 1024

// maxTypeBytes is DynamoDB's limit on a partition key value.
const maxTypeBytes = 2048

var (
	// ErrNotFound is returned by Get when the table holds no record of the entity.
	ErrNotFound = errors.New("no record")
	// ErrInvalidRecord is wrapped by Apply's errors about a record that can never be stored, so
	// that callers can tell it from a store failure.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrCorruptItem is wrapped when an item read back is not one this package wrote.
	ErrCorruptItem = errors.New("corrupt projection item")
)

// ItemPutter is the one DynamoDB call the writer makes.
type ItemPutter interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// ItemReader is the DynamoDB calls the reader makes.
type ItemReader interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var (
	_ ItemPutter = (*dynamodb.Client)(nil)
	_ ItemReader = (*dynamodb.Client)(nil)
)

// Writer applies records to the projection table.
type Writer struct {
	client ItemPutter
	table  *string
}

// NewWriter returns a writer of table through client.
func NewWriter(client ItemPutter, table string) *Writer {
	return &Writer{client: client, table: aws.String(table)}
}

// The parts of the conditional write that are the same for every record. The SDK only reads a
// call's input, so every call shares them.
var (
	condition      = aws.String(Condition)
	conditionNames = map[string]string{"#time": "time", "#id": "id"}
)

// Item is a record made ready for the projection: checked, and its data converted to DynamoDB
// attributes.
type Item struct {
	Record record.Record
	data   types.AttributeValue
}

// Prepare makes r ready to be written, or reports why it never can be: what Check refuses, or
// data DynamoDB cannot store. The error wraps ErrInvalidRecord.
func Prepare(r record.Record) (Item, error) {
	if err := Check(r); err != nil {
		return Item{}, err
	}
	data, err := jsonattr.FromJSON(r.Data)
	if err != nil {
		return Item{}, fmt.Errorf("record %s: data: %w: %w", r.ID, ErrInvalidRecord, err)
	}
	return Item{Record: r, data: data}, nil
}

// Apply writes r if it is newer than what the table holds for its entity: Prepare, then Put.
func (w *Writer) Apply(ctx context.Context, r record.Record) (applied bool, err error) {
	it, err := Prepare(r)
	if err != nil {
		return false, err
	}
	return w.Put(ctx, it)
}

// Put writes it if it is newer than what the table holds for its entity. applied is false, with
// a nil error, when the stored record is as new or newer: a duplicate or a late event is success.
func (w *Writer) Put(ctx context.Context, it Item) (applied bool, err error) {
	r, data := it.Record, it.data
	if data == nil {
		return false, fmt.Errorf("record %.64q: not made by Prepare: %w", r.ID, ErrInvalidRecord)
	}
	// The item's strings, their values allocated together; the condition's values are the
	// item's own.
	strs := [...]types.AttributeValueMemberS{
		{Value: r.Type}, {Value: r.Key}, {Value: r.ID}, {Value: r.Time}, {Value: r.ReceivedAt}, {Value: r.Source},
	}
	typ, key, id, tm, receivedAt, source := &strs[0], &strs[1], &strs[2], &strs[3], &strs[4], &strs[5]
	_, err = w.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: w.table,
		Item: map[string]types.AttributeValue{
			"pk": typ, "sk": key, "id": id, "time": tm, "receivedAt": receivedAt, "source": source, "data": data,
		},
		ConditionExpression:       condition,
		ExpressionAttributeNames:  conditionNames,
		ExpressionAttributeValues: map[string]types.AttributeValue{":time": tm, ":id": id},
	})
	if err != nil {
		var stale *types.ConditionalCheckFailedException
		if errors.As(err, &stale) {
			return false, nil
		}
		return false, fmt.Errorf("project record %s (%s): %w", r.ID, r.EntityKey(), err)
	}
	return true, nil
}

// Check reports why r cannot be projected: a missing id, type, key or data, a time not in
// record.TimeLayout (the condition compares times as strings, so any other form would order
// wrongly), or a type or key beyond DynamoDB's key limits. The error wraps ErrInvalidRecord.
func Check(r record.Record) error {
	var problem string
	switch {
	case r.ID == "":
		problem = "missing id"
	case r.Type == "":
		problem = "missing type"
	case r.Key == "":
		problem = "missing key"
	case r.Time == "":
		problem = "missing time"
	case len(r.Data) == 0:
		problem = "missing data"
	case len(r.Type) > maxTypeBytes:
		problem = fmt.Sprintf("type longer than %d bytes", maxTypeBytes)
	case len(r.Key) > MaxKeyBytes:
		problem = fmt.Sprintf("key longer than %d bytes", MaxKeyBytes)
	case !utf8.ValidString(r.Type) || !utf8.ValidString(r.Key):
		problem = "type or key is not valid UTF-8"
	case !canonicalTime(r.Time):
		problem = fmt.Sprintf("time %.40q is not in the form %s", r.Time, record.TimeLayout)
	default:
		return nil
	}
	return fmt.Errorf("record %.64q: %s: %w", r.ID, problem, ErrInvalidRecord)
}

func canonicalTime(s string) bool {
	t, err := time.Parse(record.TimeLayout, s)
	var b [len(record.TimeLayout)]byte
	return err == nil && string(t.UTC().AppendFormat(b[:0], record.TimeLayout)) == s
}

// Reader reads the projection table.
type Reader struct {
	client ItemReader
	table  string
}

// NewReader returns a reader of table through client.
func NewReader(client ItemReader, table string) *Reader {
	return &Reader{client: client, table: table}
}

// Get returns the newest record of the entity (typ, key), or ErrNotFound.
func (rd *Reader) Get(ctx context.Context, typ, key string) (record.Record, error) {
	out, err := rd.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(rd.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: typ},
			"sk": &types.AttributeValueMemberS{Value: key},
		},
	})
	if err != nil {
		return record.Record{}, fmt.Errorf("get %s#%s: %w", typ, key, err)
	}
	if out.Item == nil {
		return record.Record{}, fmt.Errorf("get %s#%s: %w", typ, key, ErrNotFound)
	}
	return fromItem(out.Item)
}

// Cursor is where a listing stopped: the key of the last entity returned. It belongs to the type
// it was listed for.
type Cursor struct {
	Key string
}

// Page is one page of a listing. Next is nil on the last page.
type Page struct {
	Records []record.Record
	Next    *Cursor
}

// List returns up to limit entities of typ in key order, starting after the cursor when one is
// given. It asks for one item more than limit, so that the last page says it is the last rather
// than handing out a cursor to an empty page.
func (rd *Reader) List(ctx context.Context, typ string, limit int, after *Cursor) (Page, error) {
	if limit < 1 {
		return Page{}, fmt.Errorf("list %s: limit %d is below 1", typ, limit)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(rd.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: typ}},
		Limit:                     aws.Int32(int32(min(limit, 1<<20) + 1)),
	}
	if after != nil {
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: typ},
			"sk": &types.AttributeValueMemberS{Value: after.Key},
		}
	}
	out, err := rd.client.Query(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("list %s: %w", typ, err)
	}
	items := out.Items
	var page Page
	more := len(items) > limit
	switch {
	case more:
		items = items[:limit]
	case out.LastEvaluatedKey != nil:
		// DynamoDB stopped early (its 1 MB page): there may be more after what it read.
		sk, ok := out.LastEvaluatedKey["sk"].(*types.AttributeValueMemberS)
		if !ok {
			return Page{}, fmt.Errorf("list %s: last evaluated key without sk: %w", typ, ErrCorruptItem)
		}
		page.Next = &Cursor{Key: sk.Value}
	}
	page.Records = make([]record.Record, 0, len(items))
	for _, item := range items {
		r, err := fromItem(item)
		if err != nil {
			return Page{}, fmt.Errorf("list %s: %w", typ, err)
		}
		page.Records = append(page.Records, r)
	}
	if more {
		page.Next = &Cursor{Key: page.Records[len(page.Records)-1].Key}
	}
	return page, nil
}

func fromItem(item map[string]types.AttributeValue) (record.Record, error) {
	var r record.Record
	fields := []struct {
		name string
		dst  *string
	}{
		{"pk", &r.Type}, {"sk", &r.Key}, {"id", &r.ID}, {"time", &r.Time},
		{"receivedAt", &r.ReceivedAt}, {"source", &r.Source},
	}
	for _, f := range fields {
		s, ok := item[f.name].(*types.AttributeValueMemberS)
		if !ok {
			return record.Record{}, fmt.Errorf("item %s: attribute %s is not a string: %w", itemName(item), f.name, ErrCorruptItem)
		}
		*f.dst = s.Value
	}
	data, ok := item["data"]
	if !ok {
		return record.Record{}, fmt.Errorf("item %s: no data: %w", itemName(item), ErrCorruptItem)
	}
	b, err := jsonattr.AppendJSON(nil, data)
	if err != nil {
		return record.Record{}, fmt.Errorf("item %s: data: %w: %w", itemName(item), ErrCorruptItem, err)
	}
	r.Data = b
	return r, nil
}

func itemName(item map[string]types.AttributeValue) string {
	pk, _ := item["pk"].(*types.AttributeValueMemberS)
	sk, _ := item["sk"].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil {
		return "(no key)"
	}
	return pk.Value + "#" + sk.Value
}
