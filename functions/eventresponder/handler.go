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
	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/trace"
)

// Handler translates the SQS trigger's event (the rule's DataInserted events, one a message) to
// the projection's deliveries, and its result to a partial batch response.
type Handler struct {
	Projection projection.Putter
	Logger     *slog.Logger
	Metrics    io.Writer // EMF lines; the function's stdout
}

// Handle projects a batch of DataInserted events. A duplicate or an event older than the stored
// state is success. It never fails the invocation for an event: a malformed event or a failed
// write is reported in BatchItemFailures, so the queue gives back just that message, and after
// its receives sends it to ResponderDLQ.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	log := logging.For(ctx, h.Logger)
	ds := make([]projection.Delivery, len(ev.Records))
	for i, m := range ev.Records {
		ds[i] = projection.Delivery{MessageID: m.MessageId, Body: m.Body}
	}

	ctx, cancel := batch.BeforeDeadline(ctx)
	defer cancel()
	ctx, span := trace.Start(ctx, metrics.HopRespond)
	res := (&projection.Responder{Projection: tracedPutter{h.Projection}, Logger: log}).Respond(ctx, ds)
	for _, r := range res.Overtaken {
		_, s := recordSpan(ctx, r)
		s.Annotate("outcome", "overtaken")
		s.End(nil)
	}
	span.Annotate("record_id", res.First.ID)
	span.Annotate("type", res.First.Type)
	span.Annotate("count", len(ds))
	var spanErr error
	if len(res.Failed) > 0 {
		spanErr = fmt.Errorf("%d of %d events not projected", len(res.Failed), len(ds))
	}
	span.End(spanErr)

	counts := metrics.Counts{In: len(ds), Out: len(ds) - len(res.Failed), Failed: len(res.Failed)}
	if err := metrics.Emit(h.Metrics, metrics.HopRespond, counts); err != nil {
		log.WarnContext(ctx, "metrics not written", "error", err)
	}
	log.InfoContext(ctx, "batch projected", "recordId", res.First.ID, "events", len(ds),
		"applied", res.Applied, "skipped", res.Skipped, "returned", len(res.Failed))

	resp := events.SQSEventResponse{BatchItemFailures: make([]events.SQSBatchItemFailure, 0, len(res.Failed))}
	for _, id := range res.Failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp, nil
}

// tracedPutter opens a span per record written, annotated with its id and type: a batch's span
// can carry one record's annotations only, and a record's id should still find its write.
type tracedPutter struct{ projection.Putter }

func (t tracedPutter) Put(ctx context.Context, it projection.Item) (bool, error) {
	ctx, span := recordSpan(ctx, it.Record)
	applied, err := t.Putter.Put(ctx, it)
	span.End(err)
	return applied, err
}

// recordSpan opens the span that names one delivered record, so that every record that reached
// the responder is found by its id: the one written for its entity, and each one a newer record
// of the batch overtook.
func recordSpan(ctx context.Context, r record.Record) (context.Context, *trace.Span) {
	ctx, span := trace.Start(ctx, metrics.HopRespond+"-record")
	span.Annotate("record_id", r.ID)
	span.Annotate("type", r.Type)
	return ctx, span
}
