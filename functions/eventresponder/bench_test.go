package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/internal/sqsevent"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
	"github.com/stream-to-events/stream-to-events/test/lambdatest"
)

// benchBatch is the responder's SQS batch size in the template.
const benchBatch = 10

// putItemClient is a real DynamoDB client whose HTTP transport answers PutItem in memory, so the
// SDK's serialisation and signing are measured.
func putItemClient(b *testing.B) *dynamodb.Client {
	tr := &awsfake.Transport{Respond: func(target string, _ []byte) (int, string) {
		if target != "DynamoDB_20120810.PutItem" {
			return 400, `{"__type":"com.amazon.coral.validate#ValidationException","message":"unexpected call"}`
		}
		return 200, `{}`
	}}
	return dynamodb.NewFromConfig(tr.Config(b.Context()))
}

// benchEvents are benchBatch DataInserted events of distinct entities, so that each is one write.
func benchEvents(b *testing.B) [][]byte {
	ev := lambdatest.Event(b, busFixture)
	out := make([][]byte, benchBatch)
	for i := range out {
		d := ev["detail"].(map[string]any)
		d["key"] = fmt.Sprintf("SKU-%05d", i)
		d["id"] = fmt.Sprintf("order-20261123-%04d", i)
		body, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = body
	}
	return out
}

// BenchmarkRespond measures a full SQS batch of DataInserted events through the handler as Lambda
// runs it: the SQS event and each EventBridge event decoded from JSON, the record converted, and
// one conditional PutItem per entity serialised, signed and answered by the real DynamoDB client
// over a fake transport. One event is one record.
func BenchmarkRespond(b *testing.B) {
	h := &Handler{
		Projection: projection.NewWriter(putItemClient(b), "Projection"),
		Logger:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics:    io.Discard,
	}
	invoke := lambda.NewHandler(sqsevent.Handler(h.Handle))
	payload := delivered(b, benchEvents(b)...)
	awsfake.PerRecord(b, benchBatch, func() {
		out, err := invoke.Invoke(b.Context(), payload)
		if err != nil || string(out) != `{"batchItemFailures":[]}` {
			b.Fatalf("%s %v", out, err)
		}
	})
}

// BenchmarkBarePutItem is the responder's floor: the very PutItem inputs the responder makes for
// the same batch (captured once from its writer), sent by the same client, and nothing else.
func BenchmarkBarePutItem(b *testing.B) {
	capture := &fakeTable{}
	h := &Handler{Projection: projection.NewWriter(capture, "Projection"), Logger: slog.New(slog.DiscardHandler), Metrics: io.Discard}
	if _, err := lambda.NewHandler(sqsevent.Handler(h.Handle)).Invoke(b.Context(), delivered(b, benchEvents(b)...)); err != nil || len(capture.puts) != benchBatch {
		b.Fatalf("captured %d PutItem inputs (%v), want %d", len(capture.puts), err, benchBatch)
	}
	client := putItemClient(b)
	awsfake.PerRecord(b, benchBatch, func() {
		for _, in := range capture.puts {
			if _, err := client.PutItem(b.Context(), in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
