package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// benchBatch is the storer's SQS batch size in the template.
const benchBatch = 10

// benchClient is a real DynamoDB client whose HTTP transport answers in memory, so the SDK's
// serialisation and signing are measured.
func benchClient(b *testing.B) *dynamodb.Client {
	tr := &awsfake.Transport{Respond: func(string, []byte) (int, string) { return 200, `{"UnprocessedItems":{}}` }}
	return dynamodb.NewFromConfig(tr.Config(b.Context()))
}

// benchMessages are a full SQS batch of distinct orders, as the ingest queue delivers them.
func benchMessages() []Message {
	msgs := make([]Message, benchBatch)
	for i := range msgs {
		r := awsfake.BenchOrder(i)
		body, _ := json.Marshal(r)
		msgs[i] = Message{MessageID: fmt.Sprint(i), Body: string(body), GroupID: r.GroupID(), TraceHeader: awsfake.BenchTraceHeader}
	}
	return msgs
}

// BenchmarkStore runs the storer on a full SQS batch (10 messages) with a real DynamoDB client
// whose HTTP transport answers in memory, so the SDK's serialisation and signing are measured
// with the decoding and item building.
func BenchmarkStore(b *testing.B) {
	svc := &Service{Table: NewTable(benchClient(b), "EventStore"), Logger: slog.New(slog.DiscardHandler)}
	msgs := benchMessages()
	awsfake.PerRecord(b, benchBatch, func() {
		if res := svc.Store(b.Context(), msgs); len(res.Failed) != 0 {
			b.Fatalf("failed %v", res.Failed)
		}
	})
}

// BenchmarkBareStoreCalls is the storer's floor: the very BatchGetItem and BatchWriteItem inputs
// the storer makes for the same batch (captured once), sent by the same client, and nothing else.
func BenchmarkBareStoreCalls(b *testing.B) {
	capture := &captureDB{}
	svc := &Service{Table: NewTable(capture, "EventStore"), Logger: slog.New(slog.DiscardHandler)}
	if res := svc.Store(b.Context(), benchMessages()); len(res.Failed) != 0 || len(capture.gets) != 1 || len(capture.writes) != 1 {
		b.Fatalf("captured %d reads and %d writes (failed %v), want one of each", len(capture.gets), len(capture.writes), res.Failed)
	}
	client := benchClient(b)
	awsfake.PerRecord(b, benchBatch, func() {
		if _, err := client.BatchGetItem(b.Context(), capture.gets[0]); err != nil {
			b.Fatal(err)
		}
		if _, err := client.BatchWriteItem(b.Context(), capture.writes[0]); err != nil {
			b.Fatal(err)
		}
	})
}

// captureDB keeps the storer's calls and answers as the benchmark's transport does: nothing
// stored, everything written.
type captureDB struct {
	gets   []*dynamodb.BatchGetItemInput
	writes []*dynamodb.BatchWriteItemInput
}

func (c *captureDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.gets = append(c.gets, in)
	return &dynamodb.BatchGetItemOutput{}, nil
}

func (c *captureDB) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.writes = append(c.writes, in)
	return &dynamodb.BatchWriteItemOutput{}, nil
}
