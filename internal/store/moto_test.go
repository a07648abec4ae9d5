package store

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// createEventStore creates the table as template.yaml declares it: pk/sk, on-demand, stream
// NEW_IMAGE. It returns the stream ARN.
func createEventStore(t *testing.T, ctx context.Context, db *dynamodb.Client, name string) string {
	t.Helper()
	out, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrSK), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage,
		},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	return aws.ToString(out.TableDescription.LatestStreamArn)
}

// streamEvents reads every record of the table's stream from the start, as the emitter's event
// source mapping would (TRIM_HORIZON), and returns the event names by sort key.
func streamEvents(t *testing.T, ctx context.Context, cfg aws.Config, arn string) map[string][]string {
	t.Helper()
	st := dynamodbstreams.NewFromConfig(cfg)
	desc, err := st.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("describe stream: %v", err)
	}
	events := map[string][]string{}
	for _, sh := range desc.StreamDescription.Shards {
		it, err := st.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(arn), ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("shard iterator: %v", err)
		}
		out, err := st.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1000)})
		if err != nil {
			t.Fatalf("get records: %v", err)
		}
		for _, r := range out.Records {
			s, _ := r.Dynamodb.Keys[AttrSK].(*streamtypes.AttributeValueMemberS)
			if s == nil {
				t.Fatalf("stream record without sk: %+v", r.Dynamodb.Keys)
			}
			events[s.Value] = append(events[s.Value], string(r.EventName))
		}
	}
	return events
}

// TestTableAgainstMoto writes the same records twice, as a redelivered queue message does, and
// checks that the table holds one item per record and that the stream carries one INSERT each.
//
// What moto shows on a rewrite: moto 5.2 appends a MODIFY record to the stream when an identical
// item is put again (real DynamoDB writes no stream record for a write that changes nothing). The
// INSERT is still written once per record, and the emitter only emits INSERTs (its mapping's
// filter and its own check), so a rewrite causes no second event on either.
func TestTableAgainstMoto(t *testing.T) {
	mototest.Start(t)
	ctx := t.Context()
	cfg, err := awsclient.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	streamARN := createEventStore(t, ctx, db, "EventStore")
	tbl := NewTable(db, "EventStore")

	entries := []Entry{{Record: rec("a"), TraceHeader: "Root=1-abc;Sampled=1"}, {Record: rec("b")}, {Record: rec("a"), TraceHeader: "Root=1-abc;Sampled=1"}}
	for round := range 2 {
		if failed, err := tbl.Put(ctx, entries); err != nil || failed != nil {
			t.Fatalf("round %d: failed %v: %v", round, failed, err)
		}
	}

	scan, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("EventStore")})
	if err != nil {
		t.Fatal(err)
	}
	if scan.Count != 2 {
		t.Errorf("%d items after writing 2 records twice, want 2", scan.Count)
	}
	want, _ := Item(entries[0])
	for _, it := range scan.Items {
		if stringAttr(it, AttrSK) == sk("a") {
			if n := it[AttrData].(*types.AttributeValueMemberM).Value["price"].(*types.AttributeValueMemberN).Value; n != "19.990000000000000000001" {
				t.Errorf("price stored as %s, lost precision", n)
			}
			if len(it) != len(want) {
				t.Errorf("item has %d attributes, want %d", len(it), len(want))
			}
		}
	}

	events := streamEvents(t, ctx, cfg, streamARN)
	for _, id := range []string{"a", "b"} {
		inserts := 0
		for _, name := range events[sk(id)] {
			if name == "INSERT" {
				inserts++
			}
		}
		if inserts != 1 {
			t.Errorf("record %s: %d INSERTs on the stream (%v), want 1", id, inserts, events[sk(id)])
		}
	}
	t.Logf("stream after writing each record twice: %v", events)
}
