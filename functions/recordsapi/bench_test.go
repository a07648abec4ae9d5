package main

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/api"
	"github.com/stream-to-events/stream-to-events/internal/projection"
)

// BenchmarkAPIGet measures GET /records/{type}/{key} as Lambda runs it: the proxy event decoded,
// adapted to net/http, routed, the GetItem serialised, signed and its answer decoded by the real
// DynamoDB client over a fake transport, the record encoded and the proxy response encoded.
func BenchmarkAPIGet(b *testing.B) {
	tr := dynamoDB(false)
	tr.Record = false
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	store := projection.NewReader(dynamodb.NewFromConfig(tr.Config(b.Context())), "Projection")
	h := &Handler{API: api.New(store, logger), Logger: logger}
	invoke := lambda.NewHandler(h.Handle)
	payload, err := os.ReadFile("../../events/api-get-record.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := invoke.Invoke(b.Context(), payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/request")
}
