package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/metrics"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/trace"
)

// ErrMalformedEvent is wrapped by the errors about events that are not a DataInserted event with
// a canonical record in it. They are returned, not dropped: the asynchronous invocation retries
// and then sends the event to ResponderDLQ, where it can be looked at and replayed.
var ErrMalformedEvent = errors.New("malformed DataInserted event")

// applier writes a record to the projection if it is newer than the stored one.
type applier interface {
	Apply(ctx context.Context, r record.Record) (applied bool, err error)
}

// Handler turns DataInserted events into projection writes.
type Handler struct {
	Projection applier
	Logger     *slog.Logger
	Metrics    io.Writer // EMF lines; the function's stdout
}

// Handle projects the record an event carries. A duplicate or an event older than the stored
// state is success; a malformed event or a store failure is an error, so Lambda retries it.
func (h *Handler) Handle(ctx context.Context, ev events.EventBridgeEvent) (err error) {
	ctx, span := trace.Start(ctx, metrics.HopRespond)
	defer func() { span.End(err) }()
	log := logging.For(ctx, h.Logger).With("eventId", ev.ID)

	counts := metrics.Counts{In: 1}
	defer func() {
		if err != nil {
			counts.Failed = 1
		} else {
			counts.Out = 1
		}
		if merr := metrics.Emit(h.Metrics, metrics.HopRespond, counts); merr != nil {
			log.WarnContext(ctx, "emit metrics", "error", merr)
		}
	}()

	r, err := decode(ev)
	if err != nil {
		log.ErrorContext(ctx, "refuse event", "detailType", ev.DetailType, "error", err)
		return err
	}
	span.Annotate("record_id", r.ID)
	span.Annotate("type", r.Type)
	log = log.With("recordId", r.ID, "type", r.Type, "key", r.Key)

	applied, err := h.Projection.Apply(ctx, r)
	if err != nil {
		log.ErrorContext(ctx, "project record", "error", err)
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if applied {
		log.InfoContext(ctx, "projection applied", "time", r.Time)
	} else {
		log.InfoContext(ctx, "projection skipped: the stored record is as new or newer", "time", r.Time)
	}
	return nil
}

// decode returns the canonical record of a DataInserted event, or an error naming what is wrong
// with the event. What the projection itself refuses (a bad time, an oversize key) it reports
// when the record is applied.
func decode(ev events.EventBridgeEvent) (record.Record, error) {
	if ev.DetailType != record.DetailType {
		return record.Record{}, fmt.Errorf("event %q: detail-type %q, want %q: %w", ev.ID, ev.DetailType, record.DetailType, ErrMalformedEvent)
	}
	detail := bytes.TrimSpace(ev.Detail)
	if len(detail) == 0 || detail[0] != '{' {
		return record.Record{}, fmt.Errorf("event %q: detail is not a JSON object: %w", ev.ID, ErrMalformedEvent)
	}
	var r record.Record
	if err := json.Unmarshal(detail, &r); err != nil {
		return record.Record{}, fmt.Errorf("event %q: detail is not a canonical record: %v: %w", ev.ID, err, ErrMalformedEvent)
	}
	var missing []string
	for _, f := range []struct{ name, value string }{{"id", r.ID}, {"type", r.Type}, {"key", r.Key}, {"time", r.Time}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(r.Data) == 0 {
		missing = append(missing, "data")
	}
	if len(missing) > 0 {
		return record.Record{}, fmt.Errorf("event %q: detail lacks %v: %w", ev.ID, missing, ErrMalformedEvent)
	}
	return r, nil
}
