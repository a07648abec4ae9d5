package kinesisdest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
)

// putter refuses the records whose data it is told to, once each, as Kinesis refuses records
// of a throttled shard (ProvisionedThroughputExceededException per record).
type putter struct {
	refuseOnce map[string]bool
	calls      []*kinesis.PutRecordsInput
	stored     [][]byte
}

func (p *putter) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	p.calls = append(p.calls, in)
	out := &kinesis.PutRecordsOutput{}
	for _, e := range in.Records {
		var r struct{ EventID string }
		_ = json.Unmarshal(e.Data, &r)
		if p.refuseOnce[r.EventID] {
			delete(p.refuseOnce, r.EventID)
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			out.Records = append(out.Records, kintypes.PutRecordsResultEntry{ErrorCode: aws.String("ProvisionedThroughputExceededException")})
			continue
		}
		p.stored = append(p.stored, e.Data)
		out.Records = append(out.Records, kintypes.PutRecordsResultEntry{SequenceNumber: aws.String("1"), ShardId: aws.String("shardId-000000000000")})
	}
	return out, nil
}

func testTable(p recordPutter) *table {
	return &table{Name: "events", Kinesis: "changes", Precision: "MILLISECOND", kinesis: p,
		policy: batch.Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}, log: slog.New(slog.DiscardHandler),
		iterators: map[string]string{}, lastSeq: map[string]string{}, closed: map[string]bool{}, images: map[string]json.RawMessage{}}
}

func streamRecord(id string, op streamtypes.OperationType, v string) streamtypes.Record {
	r := streamtypes.Record{EventID: aws.String(id), EventName: op, AwsRegion: aws.String("us-east-1"), Dynamodb: &streamtypes.StreamRecord{
		ApproximateCreationDateTime: aws.Time(time.UnixMilli(1795428000123)),
		Keys:                        map[string]streamtypes.AttributeValue{"pk": &streamtypes.AttributeValueMemberS{Value: "k"}},
		SequenceNumber:              aws.String(id), SizeBytes: aws.Int64(10),
	}}
	if op != streamtypes.OperationTypeRemove {
		r.Dynamodb.NewImage = map[string]streamtypes.AttributeValue{
			"pk": &streamtypes.AttributeValueMemberS{Value: "k"},
			"v":  &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{"n": &streamtypes.AttributeValueMemberN{Value: v}}},
			"b":  &streamtypes.AttributeValueMemberB{Value: []byte{0, 1}},
			"ns": &streamtypes.AttributeValueMemberNS{Value: []string{"1"}},
			"l":  &streamtypes.AttributeValueMemberL{Value: []streamtypes.AttributeValue{&streamtypes.AttributeValueMemberNULL{Value: true}, &streamtypes.AttributeValueMemberBOOL{Value: true}}},
		}
	}
	return r
}

// TestCopyWritesDynamoDBRecordFormat: the exact record DynamoDB's destination would write, with
// the old image it remembers, and refused records retried until Kinesis takes them.
func TestCopyWritesDynamoDBRecordFormat(t *testing.T) {
	p := &putter{refuseOnce: map[string]bool{"e2": true}}
	tb := testTable(p)
	err := tb.copy(t.Context(), []streamtypes.Record{
		streamRecord("e1", streamtypes.OperationTypeInsert, "1"),
		streamRecord("e2", streamtypes.OperationTypeModify, "2"),
		streamRecord("e3", streamtypes.OperationTypeModify, "2"), // the same image again: no change
		streamRecord("e4", streamtypes.OperationTypeRemove, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.calls) != 2 || len(p.calls[1].Records) != 1 {
		t.Errorf("%d PutRecords calls, want the first with all and a second with the refused record only", len(p.calls))
	}
	image := func(n string) string {
		return `{"b":{"B":"AAE="},"l":{"L":[{"NULL":true},{"BOOL":true}]},"ns":{"NS":["1"]},"pk":{"S":"k"},"v":{"M":{"n":{"N":"` + n + `"}}}}`
	}
	record := func(id, op, rest string) string {
		return `{"awsRegion":"us-east-1","eventID":"` + id + `","eventName":"` + op + `","userIdentity":null,"recordFormat":"application/json",` +
			`"tableName":"events","dynamodb":{"ApproximateCreationDateTime":1795428000123,"ApproximateCreationDateTimePrecision":"MILLISECOND",` +
			`"Keys":{"pk":{"S":"k"}},` + rest + `"SizeBytes":10},"eventSource":"aws:dynamodb"}`
	}
	want := []string{
		record("e1", "INSERT", `"NewImage":`+image("1")+`,`),
		record("e4", "REMOVE", `"OldImage":`+image("2")+`,`),
		record("e2", "MODIFY", `"NewImage":`+image("2")+`,"OldImage":`+image("1")+`,`),
	}
	if len(p.stored) != len(want) {
		t.Fatalf("stored %d records, want %d: %s", len(p.stored), len(want), p.stored)
	}
	for i, w := range want {
		if string(p.stored[i]) != w {
			t.Errorf("record %d\n got %s\nwant %s", i, p.stored[i], w)
		}
	}
	if key := aws.ToString(p.calls[0].Records[0].PartitionKey); len(key) != 32 || key != aws.ToString(p.calls[0].Records[1].PartitionKey) {
		t.Errorf("partition keys %q and %q: want one MD5 per item, so its changes keep their order", key, aws.ToString(p.calls[0].Records[1].PartitionKey))
	}
}

type failingPutter struct{ calls int }

func (f *failingPutter) PutRecords(context.Context, *kinesis.PutRecordsInput, ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.calls++
	return nil, errors.New("connection refused")
}

// TestCopyReportsWhatNeverGotThrough: a Kinesis that stays down fails the copy after the
// policy's attempts, so the shard is read again from the last record copied.
func TestCopyReportsWhatNeverGotThrough(t *testing.T) {
	f := &failingPutter{}
	tb := testTable(f)
	err := tb.copy(t.Context(), []streamtypes.Record{streamRecord("e1", streamtypes.OperationTypeInsert, "1")})
	if err == nil || f.calls != 3 || tb.written.Load() != 0 {
		t.Errorf("err %v after %d calls, %d written; want an error after 3 calls and nothing counted", err, f.calls, tb.written.Load())
	}
	// Read again once Kinesis is back, the change still carries the image it replaced.
	tb.images[`{"pk":{"S":"k"}}`] = json.RawMessage(`{"old":{"S":"x"}}`)
	tb.kinesis = f
	modify := []streamtypes.Record{streamRecord("e2", streamtypes.OperationTypeModify, "2")}
	_ = tb.copy(t.Context(), modify)
	p := &putter{}
	tb.kinesis = p
	if err := tb.copy(t.Context(), modify); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Dynamodb struct{ OldImage json.RawMessage }
	}
	if len(p.stored) != 1 || json.Unmarshal(p.stored[0], &got) != nil || string(got.Dynamodb.OldImage) != `{"old":{"S":"x"}}` {
		t.Errorf("after a failed copy, the MODIFY came out as %s, want it with the old image it replaced", p.stored)
	}
}
