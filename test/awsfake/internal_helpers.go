package awsfake

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// PerRecord runs op in b's loop, each call handling records records, and reports what the
// bench report reads of a hop: ns/record (wall clock), allocs/record, and cpu-ns/record, the
// process's CPU time (GC included), which neighbours on a shared machine inflate less than the
// wall clock and which is what a Lambda core pays. It lives with the transport because the hop
// benchmarks that use one measure themselves this way.
func PerRecord(b *testing.B, records int, op func()) {
	b.Helper()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	for b.Loop() {
		op()
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	n := float64(b.N * records)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/record")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// NoRetryWait makes the code under test retry at once for the rest of the test: its own
// retries (the SDK's are off in Config) wait through batch.Sleep, which would make a test of
// them slow.
func NoRetryWait(t testing.TB) {
	t.Helper()
	old := batch.Sleep
	batch.Sleep = func(context.Context, time.Duration) error { return nil }
	t.Cleanup(func() { batch.Sleep = old })
}

// BenchTraceHeader is the X-Ray header the hop benchmarks' records carry, a sampled one with a
// parent, as a producer's traced request gives them.
const BenchTraceHeader = "Root=1-6741a8f0-3c5a2b1d4e6f708192a3b4c5;Parent=53995c3f42cd8ad8;Sampled=1"

// BenchOrder is the i-th record of the hop benchmarks: an order of about 350 bytes, with nested
// addresses, distinct from every other i. The hops measure the same records, so their figures
// compare.
func BenchOrder(i int) record.Record {
	return record.Record{
		ID: fmt.Sprintf("%032x", i), Type: "order", Key: fmt.Sprintf("SKU-4711-%04d", i),
		Time: "2026-11-23T10:00:00.123Z", ReceivedAt: "2026-11-23T10:00:00.456Z",
		Source: "stream-to-events-IngestDeliveryStream-Q1w2E3r4T5y6",
		Data: []byte(fmt.Sprintf(`{"customer":{"name":"Jane Doe"},"sku":"SKU-4711-%04d","price":1299.99,`+
			`"shipTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"},`+
			`"billTo":{"name":"Jane Doe","address":"123 Main St","city":"Seattle","state":"WA","zip":"98101"}}`, i)),
	}
}
