package emit

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/store"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// BenchmarkEmit runs the emitter on a full stream batch (100 inserts, 10 PutEvents calls) with
// a real EventBridge client whose HTTP transport answers in memory, so the SDK's serialisation
// and signing are measured with the image decoding.
func BenchmarkEmit(b *testing.B) {
	const batchSize = 100
	ok := `{"FailedEntryCount":0,"Entries":[` + strings.TrimSuffix(strings.Repeat(`{"EventId":"11710aed-b79e-4468-a20b-bb3c0c3b4860"},`, MaxEntries), ",") + `]}`
	tr := &awsfake.Transport{Respond: func(string, []byte) (int, string) { return 200, ok }}
	svc := &Service{
		Publisher: NewPublisher(eventbridge.NewFromConfig(tr.Config(b.Context())), bus, source, tableARN),
		Logger:    slog.New(slog.DiscardHandler),
	}
	recs := make([]StreamRecord, batchSize)
	for i := range recs {
		r := record.Record{
			ID: fmt.Sprintf("%032x", i), Type: "order", Key: fmt.Sprintf("SKU-4711-%04d", i),
			Time: "2026-11-23T10:00:00.123Z", ReceivedAt: "2026-11-23T10:00:00.456Z",
			Source: "stream-to-events-IngestDeliveryStream-Q1w2E3r4T5y6",
			Data: []byte(fmt.Sprintf(`{"customer":{"name":"Jane Doe"},"sku":"SKU-4711-%04d","price":1299.99,`+
				`"shipTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"},`+
				`"billTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"}}`, i)),
		}
		img, err := store.Item(store.Entry{Record: r, TraceHeader: "Root=1-6741a8f0-3c5a2b1d4e6f708192a3b4c5;Parent=53995c3f42cd8ad8;Sampled=1"})
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = StreamRecord{SequenceNumber: fmt.Sprintf("49000000000000000000010%05d", i), EventName: Insert, NewImage: img}
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if res := svc.Emit(b.Context(), recs); res.FailedSequenceNumber != "" || res.Emitted != batchSize {
			b.Fatalf("result %+v", res)
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
