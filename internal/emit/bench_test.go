package emit

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

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
		r := awsfake.BenchOrder(i)
		img, err := store.Item(store.Entry{Record: r, TraceHeader: awsfake.BenchTraceHeader})
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = StreamRecord{SequenceNumber: fmt.Sprintf("49000000000000000000010%05d", i), EventName: Insert, NewImage: img}
	}
	awsfake.PerRecord(b, batchSize, func() {
		if res := svc.Emit(b.Context(), recs); res.FailedSequenceNumber != "" || res.Emitted != batchSize {
			b.Fatalf("result %+v", res)
		}
	})
}
