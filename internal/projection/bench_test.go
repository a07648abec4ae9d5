package projection

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

var benchRecord = record.Record{
	ID: "order-20261123-0001", Type: "order", Key: "SKU-12345", Time: "2026-11-23T10:00:00.123Z",
	ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "stream-to-events-ingest",
	Data: json.RawMessage(`{"customer":{"name":"Alejandro Rosalez"},"sku":"SKU-12345","price":49.99,` +
		`"shipTo":{"name":"Alejandro Rosalez","address":"123 Main St","city":"Anytown","state":"WA","zip":"98101"},` +
		`"billTo":{"name":"Alejandro Rosalez","address":"123 Main St","city":"Anytown","state":"WA","zip":"98101"}}`),
}

// BenchmarkApply is the projection write alone: the data converted and the conditional PutItem
// through the real DynamoDB client over a fake transport. With BenchmarkData it shows where a
// responder invocation's time goes.
func BenchmarkApply(b *testing.B) {
	tr := &awsfake.Transport{Respond: func(string, []byte) (int, string) { return 200, `{}` }}
	w := NewWriter(dynamodb.NewFromConfig(tr.Config(b.Context())), "Projection")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Apply(b.Context(), benchRecord); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkData is the conversion of an order's data to an attribute value, part of Apply.
func BenchmarkData(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jsonattr.FromJSON(benchRecord.Data); err != nil {
			b.Fatal(err)
		}
	}
}
