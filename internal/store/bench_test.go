package store

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
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
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if res := svc.Store(b.Context(), msgs); len(res.Failed) != 0 {
			b.Fatalf("failed %v", res.Failed)
		}
		n++
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	records := float64(n * batchSize)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
	// The process's CPU time, which other work on a shared machine inflates less than the
	// wall-clock ns/record (with -cpu 1, this is the hop's own work plus its GC).
	b.ReportMetric(float64(cpu.Nanoseconds())/records, "cpu-ns/record")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
