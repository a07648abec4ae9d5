package store

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// streamEvents reads every record of the table's stream from the start, as the emitter's event
// source mapping would (TRIM_HORIZON), and returns the event names by sort key.
func streamEvents(t *testing.T, cfg aws.Config, arn string) map[string][]string {
	t.Helper()
	events := map[string][]string{}
	for _, r := range mototest.StreamRecords(t, cfg, arn) {
		s, _ := r.Dynamodb.Keys[AttrSK].(*streamtypes.AttributeValueMemberS)
		if s == nil {
			t.Fatalf("stream record without sk: %+v", r.Dynamodb.Keys)
		}
		events[s.Value] = append(events[s.Value], string(r.EventName))
	}
	return events
}

// TestTableAgainstMoto writes records, then sends them again as a producer or a redelivered
// queue message would: the same records with other ingest metadata (arrival time, trace header),
// and one with the identity of a stored record and other data. The table holds one item per
// record, the conflict is reported and not written, and the stream carries one INSERT per
// record and nothing else. (moto, unlike DynamoDB, appends a MODIFY record even when an
// identical item is put again, so this also shows that nothing was put again.)
func TestTableAgainstMoto(t *testing.T) {
	cfg := mototest.StartConfig(t)
	ctx := t.Context()
	db := dynamodb.NewFromConfig(cfg)
	streamARN := mototest.CreateKeyTable(t, db, "EventStore", true)
	tbl := NewTable(db, "EventStore")

	entries := []Entry{{Record: rec("a"), TraceHeader: "Root=1-abc;Sampled=1"}, {Record: rec("b")}, {Record: rec("a"), TraceHeader: "Root=1-abc;Sampled=1"}}
	outs, err := tbl.Put(ctx, entries)
	if err != nil || !slices.Equal(kinds(outs), []Kind{Written, Written, Unchanged}) {
		t.Fatalf("first put: %v, %v; want written, written, unchanged", outs, err)
	}
	again := rec("a")
	again.ReceivedAt, again.Source = "2026-11-23T11:00:00.000Z", "redrive"
	changed := rec("b")
	changed.Data = []byte(`{"sku":"sku-b","price":20}`)
	outs, err = tbl.Put(ctx, []Entry{{Record: again, TraceHeader: "Root=1-def;Sampled=1"}, {Record: changed}})
	if err != nil || !slices.Equal(kinds(outs), []Kind{Unchanged, Conflict}) || outs[1].StoredHash != rec("b").ContentHash() {
		t.Fatalf("second put: %+v, %v; want unchanged, then a conflict naming the stored hash %s", outs, err, rec("b").ContentHash())
	}

	scan, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("EventStore")})
	if err != nil {
		t.Fatal(err)
	}
	if scan.Count != 2 {
		t.Errorf("%d items after writing 2 records and sending them again, want 2", scan.Count)
	}
	want, _ := Item(entries[0])
	for _, it := range scan.Items {
		if stringAttr(it, AttrSK) == sk("b") && stringAttr(it, AttrContentHash) != rec("b").ContentHash() {
			t.Errorf("the conflict overwrote the stored record b")
		}
		if stringAttr(it, AttrSK) == sk("a") {
			if stringAttr(it, "receivedAt") != rec("a").ReceivedAt || stringAttr(it, AttrTraceHeader) != "Root=1-abc;Sampled=1" {
				t.Errorf("the identical re-send rewrote record a: %v", it)
			}
			if n := it[AttrData].(*types.AttributeValueMemberM).Value["price"].(*types.AttributeValueMemberN).Value; n != "19.990000000000000000001" {
				t.Errorf("price stored as %s, lost precision", n)
			}
			if len(it) != len(want) {
				t.Errorf("item has %d attributes, want %d", len(it), len(want))
			}
		}
	}

	events := streamEvents(t, cfg, streamARN)
	for _, id := range []string{"a", "b"} {
		if got := events[sk(id)]; !slices.Equal(got, []string{"INSERT"}) {
			t.Errorf("record %s: stream records %v, want one INSERT and nothing more", id, got)
		}
	}
}

func kinds(outs []Outcome) []Kind {
	ks := make([]Kind, len(outs))
	for i, o := range outs {
		ks[i] = o.Kind
	}
	return ks
}
