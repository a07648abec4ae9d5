package redrive

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/store"
)

// Selection names the records a replay re-emits: every record of Type, or of one entity (Key),
// whose time lies in [From, To] (zero: unbounded). Without a Type, a selection by the time
// Firehose received the records (ReceivedFrom, ReceivedTo) reads every type.
type Selection struct {
	Type, Key                string
	From, To                 time.Time
	ReceivedFrom, ReceivedTo time.Time
}

// ReplayCounts are what a replay read from the store and put on the bus.
type ReplayCounts struct {
	Read, Emitted int
}

// ErrSelection is wrapped by the error of a selection that names neither a type nor a
// reception window.
var ErrSelection = errors.New("a replay needs a record type or a reception window")

// replayChunk is how many items a replay hands the emitter at a time: the publisher puts them
// at PutEvents' limits (10 entries, 256 KB) and retries the entries the bus refused.
const replayChunk = 100

// Replay re-emits the DataInserted event of every record of the event store that sel selects,
// as the emitter emitted it, straight from the store: it serves when the stream range an
// EmitterDLQ message names is gone (the stream keeps 24 hours), and to rebuild a consumer's
// state. One entity is read with a Query on its partition, a whole type with a Scan. Events may
// reach the bus twice, never not at all: a failed put stops the replay with an error, and a
// replay run again puts everything again.
func (r *Redriver) Replay(ctx context.Context, sel Selection) (ReplayCounts, error) {
	var c ReplayCounts
	if sel.Type == "" && (sel.ReceivedFrom.IsZero() || sel.ReceivedTo.IsZero()) || sel.Key != "" && sel.Type == "" {
		return c, ErrSelection
	}
	svc := r.emitService()
	var pending []emit.StreamRecord
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		res := svc.Emit(ctx, pending)
		c.Emitted += res.Emitted
		if res.FailedSequenceNumber != "" {
			return fmt.Errorf("replay: %d of %d events not put on %s (first: item %s)", res.Failed, len(pending), r.Names.EventBusName, res.FailedSequenceNumber)
		}
		pending = pending[:0]
		return nil
	}
	err := selectItems(ctx, r.Clients.DynamoDB, r.Names.EventStoreTable, sel, func(items []map[string]ddbtypes.AttributeValue) error {
		for _, it := range items {
			c.Read++
			pending = append(pending, emit.StreamRecord{SequenceNumber: strconv.Itoa(c.Read), EventName: emit.Insert, NewImage: it})
			if len(pending) == replayChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return c, err
}

// selectItems calls page with every page of the items sel selects.
func selectItems(ctx context.Context, db storeClient, table string, sel Selection, page func([]map[string]ddbtypes.AttributeValue) error) error {
	// The sort key is "<time>#<id>" with a fixed-width time, so a time range is a key range.
	// Unbounded ends are "0" and "~": every time starts with a digit, and "~" sorts after them.
	from, to := "0", "~"
	if !sel.From.IsZero() {
		from = record.FormatTime(sel.From)
	}
	if !sel.To.IsZero() {
		to = record.FormatTime(sel.To) + "#~"
	}
	values := map[string]ddbtypes.AttributeValue{
		":from": &ddbtypes.AttributeValueMemberS{Value: from},
		":to":   &ddbtypes.AttributeValueMemberS{Value: to},
	}
	// DynamoDB refuses a name the expression does not use: #pk is added where it is.
	names := map[string]string{"#sk": store.AttrSK}
	var start map[string]ddbtypes.AttributeValue
	for {
		var items []map[string]ddbtypes.AttributeValue
		var last map[string]ddbtypes.AttributeValue
		if sel.Key != "" {
			names["#pk"] = store.AttrPK
			values[":pk"] = &ddbtypes.AttributeValueMemberS{Value: record.Record{Type: sel.Type, Key: sel.Key}.EntityKey()}
			out, err := db.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String(table), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start,
				KeyConditionExpression:    aws.String("#pk = :pk AND #sk BETWEEN :from AND :to"),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
			})
			if err != nil {
				return fmt.Errorf("query %s for %s#%s: %w", table, sel.Type, sel.Key, err)
			}
			items, last = out.Items, out.LastEvaluatedKey
		} else {
			filter := "#sk BETWEEN :from AND :to"
			if sel.Type != "" {
				names["#pk"] = store.AttrPK
				values[":type"] = &ddbtypes.AttributeValueMemberS{Value: sel.Type + "#"}
				filter += " AND begins_with(#pk, :type)"
			}
			if !sel.ReceivedFrom.IsZero() {
				names["#rcv"] = "receivedAt"
				values[":rfrom"] = &ddbtypes.AttributeValueMemberS{Value: record.FormatTime(sel.ReceivedFrom)}
				values[":rto"] = &ddbtypes.AttributeValueMemberS{Value: record.FormatTime(sel.ReceivedTo)}
				filter += " AND #rcv BETWEEN :rfrom AND :rto"
			}
			out, err := db.Scan(ctx, &dynamodb.ScanInput{
				TableName: aws.String(table), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start,
				FilterExpression:          aws.String(filter),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
			})
			if err != nil {
				return fmt.Errorf("scan %s for %s: %w", table, describe(sel), err)
			}
			items, last = out.Items, out.LastEvaluatedKey
		}
		if err := page(items); err != nil {
			return err
		}
		if len(last) == 0 {
			return nil
		}
		start = last
	}
}

func describe(sel Selection) string {
	if sel.Type != "" {
		return "type " + sel.Type
	}
	return "records received " + record.FormatTime(sel.ReceivedFrom) + " to " + record.FormatTime(sel.ReceivedTo)
}
