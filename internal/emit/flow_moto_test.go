package emit

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/store"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestStreamImagesAgainstMoto stores records twice through the store, reads the table's stream
// as the emitter's mapping would, and checks that each INSERT's image rebuilds the record that
// was stored, and that the rewrite adds no INSERT for the emitter to emit again.
func TestStreamImagesAgainstMoto(t *testing.T) {
	cfg := mototest.StartConfig(t)
	ctx := t.Context()
	db := dynamodb.NewFromConfig(cfg)
	streamARN := mototest.CreateKeyTable(t, db, "EventStore", true)
	// rec's data has its keys sorted, as the stream image gives them back, so the detail
	// can be compared byte for byte.
	stored := map[string]record.Record{}
	var entries []store.Entry
	for _, id := range []string{"a", "b", "c"} {
		r := rec(id)
		stored[id] = r
		entries = append(entries, store.Entry{Record: r, TraceHeader: "Root=1-" + id})
	}
	tbl := store.NewTable(db, "EventStore")
	for range 2 {
		if outs, err := tbl.Put(ctx, entries); store.NotStoredOf(outs) != nil || err != nil {
			t.Fatalf("put: %v %v", outs, err)
		}
	}

	var recs []StreamRecord
	for _, r := range mototest.StreamRecords(t, cfg, streamARN) {
		img := map[string]types.AttributeValue{}
		for k, v := range r.Dynamodb.NewImage {
			img[k] = fromStream(t, v)
		}
		recs = append(recs, StreamRecord{SequenceNumber: aws.ToString(r.Dynamodb.SequenceNumber), EventName: string(r.EventName), NewImage: img})
	}

	fb := &fakeBus{}
	res := (&Service{Publisher: NewPublisher(fb, bus, source, tableARN)}).Emit(ctx, recs)
	if res.FailedSequenceNumber != "" || res.Emitted != len(stored) {
		t.Errorf("emitted %d of %d records on the stream (%d skipped), failed at %q; want one event per stored record",
			res.Emitted, len(recs), res.Skipped, res.FailedSequenceNumber)
	}
	for _, c := range fb.calls {
		for _, e := range c.Entries {
			var r record.Record
			if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &r); err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(stored[r.ID])
			if string(want) != aws.ToString(e.Detail) {
				t.Errorf("detail from the stream image:\n got %s\nwant %s", aws.ToString(e.Detail), want)
			}
			if got := aws.ToString(e.TraceHeader); got != "Root=1-"+r.ID {
				t.Errorf("record %s: trace header %q", r.ID, got)
			}
		}
	}
}

// fromStream converts a DynamoDB Streams attribute value to the DynamoDB client's type (the
// two SDK packages declare the same shapes separately).
func fromStream(t *testing.T, v streamtypes.AttributeValue) types.AttributeValue {
	t.Helper()
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return &types.AttributeValueMemberS{Value: v.Value}
	case *streamtypes.AttributeValueMemberN:
		return &types.AttributeValueMemberN{Value: v.Value}
	case *streamtypes.AttributeValueMemberBOOL:
		return &types.AttributeValueMemberBOOL{Value: v.Value}
	case *streamtypes.AttributeValueMemberNULL:
		return &types.AttributeValueMemberNULL{Value: v.Value}
	case *streamtypes.AttributeValueMemberL:
		l := make([]types.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = fromStream(t, e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case *streamtypes.AttributeValueMemberM:
		m := make(map[string]types.AttributeValue, len(v.Value))
		for k, e := range v.Value {
			m[k] = fromStream(t, e)
		}
		return &types.AttributeValueMemberM{Value: m}
	}
	t.Fatalf("unexpected stream attribute %T", v)
	return nil
}
