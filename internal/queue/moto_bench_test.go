package queue

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

// BenchmarkSendToMoto measures how fast the transformer's sender puts tiny records on a FIFO
// queue of moto_server, the local flow's SQS, 1,000 records an iteration into one queue that
// fills as it runs (moto's work per message grows with the queue's depth). The records/s it
// reports bound what one transformer invocation can take on within its timeout locally.
func BenchmarkSendToMoto(b *testing.B) {
	ctx := b.Context()
	s := NewSender(ingestQueue(b))
	sent := 0
	start := time.Now()
	for b.Loop() {
		recs := make([]record.Record, 1000)
		for i := range recs {
			n := sent + i
			recs[i] = record.Record{ID: fmt.Sprintf("%064d", n), Type: "raw", Key: fmt.Sprintf("%064d", n), Time: "2026-11-23T10:00:00.456Z",
				ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest", Data: json.RawMessage(fmt.Sprintf(`{"sensor":"%06d","t":21}`, n))}
		}
		t := time.Now()
		if err := s.Send(ctx, recs, ""); err != nil {
			b.Fatal(err)
		}
		sent += len(recs)
		b.Logf("queue depth %d: %.0f records/s", sent, float64(len(recs))/time.Since(t).Seconds())
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "records/s")
}
