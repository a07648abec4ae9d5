package redrive

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/store"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// trimmedStream answers as a stream that no longer holds the range.
type trimmedStream struct{}

func (trimmedStream) GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	return nil, &streamtypes.TrimmedDataAccessException{Message: aws.String("trimmed")}
}

func (trimmedStream) GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	return nil, &streamtypes.TrimmedDataAccessException{Message: aws.String("trimmed")}
}

// busRecorder takes every event, refusing the first entry of its first call (a partial failure
// the publisher must retry), and refuses a call over PutEvents' limits, as EventBridge does.
type busRecorder struct {
	mu      sync.Mutex
	calls   int
	ids     map[string]int // record id -> events put
	refused bool
}

func (b *busRecorder) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	size := 0
	for _, e := range in.Entries {
		size += emit.EntrySize(e)
	}
	if len(in.Entries) > emit.MaxEntries || size > emit.MaxRequestBytes {
		return nil, fmt.Errorf("ValidationException: %d entries of %d bytes, PutEvents takes 10 and 256 KB", len(in.Entries), size)
	}
	out := &eventbridge.PutEventsOutput{Entries: make([]ebtypes.PutEventsResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		if !b.refused {
			b.refused = true
			out.FailedEntryCount = 1
			out.Entries[i] = ebtypes.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException")}
			continue
		}
		var r record.Record
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &r); err != nil {
			return nil, err
		}
		b.ids[r.ID]++
		out.Entries[i] = ebtypes.PutEventsResultEntry{EventId: aws.String("e" + r.ID)}
	}
	return out, nil
}

// TestEmitterRedriveReplaysAGoneRangeFromTheStore: an EmitterDLQ message whose range the stream
// trimmed is replayed from the event store, by when Firehose received the records, and leaves
// the DLQ; records received after the range are not replayed.
func TestEmitterRedriveReplaysAGoneRangeFromTheStore(t *testing.T) {
	cfg := mototest.StartConfig(t)
	db := dynamodb.NewFromConfig(cfg)
	const table = "events"
	mototest.CreateKeyTable(t, db, table, false)
	arrival := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	var inRange []string
	for i := range 25 {
		received := arrival.Add(-time.Duration(i) * time.Minute)
		if i == 24 {
			received = arrival.Add(time.Hour) // after the range: not replayed
		}
		r := record.Record{ID: fmt.Sprintf("r%02d", i), Type: []string{"order", "device"}[i%2], Key: fmt.Sprintf("k%d", i%3),
			Time: record.FormatTime(received), ReceivedAt: record.FormatTime(received), Source: "test", Data: []byte(`{"n":1}`)}
		item, err := store.Item(store.Entry{Record: r})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
		if i < 24 {
			inRange = append(inRange, r.ID)
		}
	}
	bus := &busRecorder{ids: map[string]int{}}
	r := &Redriver{
		Names:   Names{EventStoreTable: table, EventBusName: "bus", EventSource: DefaultEventSource, EventStoreTableARN: "arn:aws:dynamodb:us-east-1:123456789012:table/events"},
		Clients: Clients{DynamoDB: db, Streams: trimmedStream{}, Events: bus},
		Logger:  slog.New(slog.DiscardHandler),
	}
	body := fmt.Sprintf(`{"requestContext":{"condition":"RetryAttemptsExhausted"},"DDBStreamBatchInfo":{"shardId":"s1","startSequenceNumber":"100","endSequenceNumber":"200","batchSize":24,"streamArn":"arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/x","approximateArrivalOfFirstRecord":%q,"approximateArrivalOfLastRecord":%q}}`,
		arrival.Add(-30*time.Minute).Format(time.RFC3339Nano), arrival.Format(time.RFC3339Nano))
	pub := r.emitService()
	n, err := r.reemit(t.Context(), pub, body)
	if err == nil {
		t.Fatalf("reemit of a trimmed range: %d events, no error", n)
	}
	n, err = r.replayRange(t.Context(), body, err)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(inRange) {
		t.Errorf("%d events put, want the %d records received in the window", n, len(inRange))
	}
	for _, id := range inRange {
		if bus.ids[id] != 1 {
			t.Errorf("record %s: %d events, want 1", id, bus.ids[id])
		}
	}
	if bus.ids["r24"] != 0 {
		t.Error("a record received after the range was replayed")
	}

	// Without arrival times a gone range stays unreplayable.
	if _, err := r.replayRange(t.Context(), `{"DDBStreamBatchInfo":{"shardId":"s1","startSequenceNumber":"1","endSequenceNumber":"2","streamArn":"x"}}`, errRangeGone); err == nil {
		t.Error("a gone range without arrival times was replayed")
	}
	// A replay needs a type or a window.
	if _, err := r.Replay(t.Context(), Selection{Key: "k1"}); err == nil {
		t.Error("a replay without a type was run")
	}
}
