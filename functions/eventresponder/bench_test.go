package main

import (
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// BenchmarkRespond measures one DataInserted event through the handler as Lambda runs it: the
// event decoded from JSON, the record converted, and the conditional PutItem serialised, signed
// and answered by the real DynamoDB client over a fake transport. One event is one record.
func BenchmarkRespond(b *testing.B) {
	tr := &awsfake.Transport{Respond: func(target string, _ []byte) (int, string) {
		if target != "DynamoDB_20120810.PutItem" {
			return 400, `{"__type":"com.amazon.coral.validate#ValidationException","message":"unexpected call"}`
		}
		return 200, `{}`
	}}
	client := dynamodb.NewFromConfig(tr.Config(b.Context()))
	h := &Handler{
		Projection: projection.NewWriter(client, "Projection"),
		Logger:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics:    io.Discard,
	}
	invoke := lambda.NewHandler(h.Handle)
	payload := readFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := invoke.Invoke(b.Context(), payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/record")
}
