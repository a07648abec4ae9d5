package generate

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

func BenchmarkGenerate(b *testing.B) {
	g, err := New(Options{Seed: 1, Raw: 0.1, Invalid: 0.05, Duplicates: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for b.Loop() {
		n += int64(len(g.Next().Data))
	}
	b.SetBytes(n / int64(b.N))
}

// BenchmarkSendFirehose measures the producer side with the SDK's own serialisation in the loop:
// records per second one sender can hand to PutRecordBatch when the service answers at once.
func BenchmarkSendFirehose(b *testing.B) {
	ok := `{"FailedPutCount":0,"RequestResponses":[` + strings.Repeat(`{"RecordId":"r"},`, 499) + `{"RecordId":"r"}]}`
	tr := &awsfake.Transport{Respond: func(string, []byte) (int, string) { return 200, ok }}
	dst := NewFirehose(firehose.NewFromConfig(tr.Config(b.Context())), "s")
	records, err := Generate(Options{Seed: 1}, 5000)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Send(b.Context(), dst, slices.Values(records), SendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(records)*b.N)/b.Elapsed().Seconds(), "records/s")
}
