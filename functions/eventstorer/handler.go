package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/metrics"
	"github.com/stream-to-events/stream-to-events/internal/store"
	"github.com/stream-to-events/stream-to-events/internal/trace"
)

// Handler translates the SQS trigger's event to the store's messages and its result to a
// partial batch response.
type Handler struct {
	Table     *store.Table
	Conflicts store.ConflictSink
	Logger    *slog.Logger
	Metrics   io.Writer
}

// Handle stores a batch of ingest queue messages. It never fails the invocation for a message:
// what was not stored is reported in BatchItemFailures, so the queue redelivers just that.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	log := logging.For(ctx, h.Logger)
	msgs := make([]store.Message, len(ev.Records))
	for i, m := range ev.Records {
		msgs[i] = store.Message{
			MessageID:   m.MessageId,
			Body:        m.Body,
			GroupID:     m.Attributes["MessageGroupId"],
			TraceHeader: m.Attributes["AWSTraceHeader"],
		}
	}

	ctx, cancel := batch.BeforeDeadline(ctx)
	defer cancel()
	ctx, span := trace.Start(ctx, metrics.HopStore)
	res := (&store.Service{Table: h.Table, Conflicts: h.Conflicts, Logger: log}).Store(ctx, msgs)
	span.Annotate("record_id", res.First.ID)
	span.Annotate("type", res.First.Type)
	span.Annotate("count", len(msgs))
	// A conflict is neither stored nor failed: it is kept on the conflict queue.
	notStored := len(msgs) - res.Stored - res.Conflicts
	var spanErr error
	if notStored > 0 {
		spanErr = fmt.Errorf("%d of %d messages not stored", notStored, len(msgs))
	}
	span.End(spanErr)

	counts := metrics.Counts{In: len(msgs), Out: res.Stored, Failed: notStored, Unchanged: res.Unchanged, Conflicts: res.Conflicts}
	if err := metrics.Emit(h.Metrics, metrics.HopStore, counts); err != nil {
		log.WarnContext(ctx, "metrics not written", "error", err)
	}
	log.InfoContext(ctx, "batch stored", "recordId", res.First.ID, "messages", len(msgs),
		"stored", res.Stored, "unchanged", res.Unchanged, "conflicts", res.Conflicts, "returned", len(res.Failed))

	resp := events.SQSEventResponse{BatchItemFailures: make([]events.SQSBatchItemFailure, 0, len(res.Failed))}
	for _, id := range res.Failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp, nil
}
