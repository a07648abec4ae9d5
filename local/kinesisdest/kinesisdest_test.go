package kinesisdest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/stream-to-events/stream-to-events/internal/change"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
)

// changeLine is a change line as the lake holds it.
type changeLine struct {
	Operation string                     `json:"operation"`
	Table     string                     `json:"table"`
	Keys      map[string]string          `json:"keys"`
	NewImage  map[string]json.RawMessage `json:"newImage"`
	OldImage  map[string]json.RawMessage `json:"oldImage"`
	Created   string                     `json:"approximateCreationTime"`
}

// TestChangesReachKinesis writes to the real template's EventStoreTable in moto and reads
// ChangeStream: every change is there once, in the record format the change transformer decodes,
// with the old image AWS would give; an identical rewrite, which AWS does not record, is not.
func TestChangesReachKinesis(t *testing.T) {
	st, cfg := stacktest.Provisioned(t)
	d, err := New(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Tables(); len(got) != 1 || got[0] != "EventStoreTable" {
		t.Fatalf("tables %v, want [EventStoreTable]", got)
	}
	kc := kinesis.NewFromConfig(cfg)
	kinesisName, _ := st.PhysicalID("ChangeStream")
	tableName, _ := st.PhysicalID("EventStoreTable")
	// The reader's iterators start now, before anything is written.
	iterators := shardIterators(t, kc, kinesisName)
	d.Start()

	db := dynamodb.NewFromConfig(cfg)
	item := func(pk, sk, data string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "sk": &ddbtypes.AttributeValueMemberS{Value: sk},
			"data": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
				"v":    &ddbtypes.AttributeValueMemberS{Value: data},
				"n":    &ddbtypes.AttributeValueMemberN{Value: "12.50"},
				"tags": &ddbtypes.AttributeValueMemberSS{Value: []string{"a", "b"}},
			}},
		}
	}
	for _, it := range []map[string]ddbtypes.AttributeValue{
		item("order#1", "t#1", "first"),
		item("order#2", "t#2", "second"),
		item("order#1", "t#1", "first"), // identical rewrite: no change
		item("order#1", "t#1", "changed"),
	} {
		if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(tableName),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "order#2"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "t#2"}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	var lines []changeLine
	for _, it := range iterators {
		out, err := kc.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			b, err := change.Line(r.Data)
			if err != nil {
				t.Fatalf("the change transformer refuses %s: %v", r.Data, err)
			}
			var l changeLine
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
	}
	type seen struct{ op, pk, newV, oldV string }
	var got []seen
	value := func(img map[string]json.RawMessage) string {
		if img == nil {
			return ""
		}
		var data struct{ V string }
		_ = json.Unmarshal(img["data"], &data)
		return data.V
	}
	for _, l := range lines {
		got = append(got, seen{l.Operation, l.Keys["pk"], value(l.NewImage), value(l.OldImage)})
		if l.Table != tableName || len(l.Created) != len("2006-01-02T15:04:05.000Z") {
			t.Errorf("line table %q, time %q", l.Table, l.Created)
		}
		if l.NewImage != nil && string(l.NewImage["data"]) != `{"n":12.50,"tags":["a","b"],"v":"`+value(l.NewImage)+`"}` {
			t.Errorf("new image data %s: numbers or sets not kept", l.NewImage["data"])
		}
	}
	// One shard per partition key hash range: order#1's changes keep their order within theirs.
	want := map[seen]bool{
		{"INSERT", "order#1", "first", ""}: true, {"INSERT", "order#2", "second", ""}: true,
		{"MODIFY", "order#1", "changed", "first"}: true, {"REMOVE", "order#2", "", "second"}: true,
	}
	if len(got) != len(want) {
		t.Fatalf("changes on Kinesis %+v, want %d", got, len(want))
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected change %+v; all %+v", g, got)
		}
	}
	if w := d.Written()["EventStoreTable"]; w != 4 {
		t.Errorf("Written = %d, want 4", w)
	}
}

func shardIterators(t *testing.T, kc *kinesis.Client, stream string) []string {
	t.Helper()
	shards, err := kc.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sh := range shards.Shards {
		it, err := kc.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, aws.ToString(it.ShardIterator))
	}
	return out
}
