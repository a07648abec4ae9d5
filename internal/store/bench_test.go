package store

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/awsfake"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// BenchmarkStore runs the storer on a full SQS batch (10 messages) with a real DynamoDB client
// whose HTTP transport answers in memory, so the SDK's serialisation and signing are measured
// with the decoding and item building.
func BenchmarkStore(b *testing.B) {
	const batchSize = 10
	tr := &awsfake.Transport{Respond: func(string, []byte) (int, string) { return 200, `{"UnprocessedItems":{}}` }}
	svc := &Service{
		Table:  NewTable(dynamodb.NewFromConfig(tr.Config(b.Context())), "EventStore"),
		Logger: slog.New(slog.DiscardHandler),
	}
	msgs := make([]Message, batchSize)
	for i := range msgs {
		r := record.Record{
			ID: fmt.Sprintf("%032x", i), Type: "order", Key: fmt.Sprintf("SKU-4711-%04d", i),
			Time: "2026-11-23T10:00:00.123Z", ReceivedAt: "2026-11-23T10:00:00.456Z",
			Source: "stream-to-events-IngestDeliveryStream-Q1w2E3r4T5y6",
			Data: []byte(fmt.Sprintf(`{"customer":{"name":"Jane Doe"},"sku":"SKU-4711-%04d","price":1299.99,`+
				`"shipTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"},`+
				`"billTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"}}`, i)),
		}
		body, _ := json.Marshal(r)
		msgs[i] = Message{MessageID: fmt.Sprint(i), Body: string(body), GroupID: r.GroupID(), TraceHeader: "Root=1-6741a8f0-3c5a2b1d4e6f708192a3b4c5;Parent=53995c3f42cd8ad8;Sampled=1"}
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		if res := svc.Store(b.Context(), msgs); len(res.Failed) != 0 {
			b.Fatalf("failed %v", res.Failed)
		}
		n++
	}
	runtime.ReadMemStats(&after)
	records := float64(n * batchSize)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
}
