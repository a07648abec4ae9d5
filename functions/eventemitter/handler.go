package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/emit"
	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/metrics"
	"github.com/stream-to-events/stream-to-events/internal/trace"
)

// Handler translates the DynamoDB stream trigger's event to the emitter's stream records and
// its result to a partial batch response.
type Handler struct {
	Publisher *emit.Publisher
	Logger    *slog.Logger
	Metrics   io.Writer
}

// Handle emits the inserts of a batch of stream records. It reports the sequence number of the
// first record not emitted, from which the stream hands the batch back; it never fails the
// invocation for a record.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	log := logging.For(ctx, h.Logger)
	recs := make([]emit.StreamRecord, len(ev.Records))
	for i, r := range ev.Records {
		recs[i] = emit.StreamRecord{SequenceNumber: r.Change.SequenceNumber, EventName: r.EventName}
		img, err := jsonattr.FromLambdaMap(r.Change.NewImage)
		if err != nil {
			// Left without an image, the record is reported as unreadable by the emitter.
			log.ErrorContext(ctx, "stream image not convertible", "sequenceNumber", r.Change.SequenceNumber, "error", err)
			continue
		}
		recs[i].NewImage = img
	}

	ctx, cancel := batch.BeforeDeadline(ctx)
	defer cancel()
	ctx, span := trace.Start(ctx, metrics.HopEmit)
	res := (&emit.Service{Publisher: h.Publisher, Logger: log}).Emit(ctx, recs)
	span.Annotate("record_id", res.First.ID)
	span.Annotate("type", res.First.Type)
	span.Annotate("count", len(recs))
	var spanErr error
	if res.FailedSequenceNumber != "" {
		spanErr = fmt.Errorf("stream records from %s not emitted", res.FailedSequenceNumber)
	}
	span.End(spanErr)

	counts := metrics.Counts{In: len(recs), Out: res.Emitted, Failed: res.Failed}
	if err := metrics.Emit(h.Metrics, metrics.HopEmit, counts); err != nil {
		log.WarnContext(ctx, "metrics not written", "error", err)
	}
	log.InfoContext(ctx, "batch emitted", "recordId", res.First.ID, "records", len(recs), "emitted", res.Emitted,
		"skipped", res.Skipped, "failedSequenceNumber", res.FailedSequenceNumber)

	if res.Failed > 0 && res.FailedSequenceNumber == "" {
		// Nothing to name the record by: fail the whole batch, which the stream retries.
		return events.DynamoDBEventResponse{}, fmt.Errorf("a stream record without a sequence number was not emitted")
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	if res.FailedSequenceNumber != "" {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: res.FailedSequenceNumber})
	}
	return resp, nil
}
