package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/internal/change"
	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/metrics"
)

// Handler translates Firehose's transformation event of a Kinesis-sourced stream to change
// lines and back to Firehose's response.
type Handler struct {
	Logger *slog.Logger
	// Metrics receives one EMF line per invocation (the function's stdout); nil writes none.
	Metrics io.Writer
}

// Handle answers one transformation invocation. Each record is Ok with its change line, or
// ProcessingFailed with its original bytes, which Firehose then keeps under the error prefix.
// An event that is not a Firehose transformation event is refused as a whole.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisFirehoseEvent) (events.KinesisFirehoseResponse, error) {
	log := logging.For(ctx, h.Logger)
	if ev.DeliveryStreamArn == "" {
		return events.KinesisFirehoseResponse{}, fmt.Errorf("no deliveryStreamArn: not a Firehose transformation event")
	}
	resp := events.KinesisFirehoseResponse{Records: make([]events.KinesisFirehoseResponseRecord, len(ev.Records))}
	var failed int
	for i, r := range ev.Records {
		if r.RecordID == "" {
			return events.KinesisFirehoseResponse{}, fmt.Errorf("record %d has no recordId: not a Firehose transformation event", i)
		}
		line, err := change.Line(r.Data)
		if err != nil {
			failed++
			meta := r.KinesisFirehoseRecordMetadata
			log.Warn("change record refused", "recordId", r.RecordID, "shardId", meta.ShardID,
				"sequenceNumber", meta.SequenceNumber, "reason", err.Error())
			resp.Records[i] = events.KinesisFirehoseResponseRecord{RecordID: r.RecordID,
				Result: events.KinesisFirehoseTransformedStateProcessingFailed, Data: r.Data}
			continue
		}
		resp.Records[i] = events.KinesisFirehoseResponseRecord{RecordID: r.RecordID,
			Result: events.KinesisFirehoseTransformedStateOk, Data: line}
	}
	if h.Metrics != nil {
		c := metrics.Counts{In: len(ev.Records), Out: len(ev.Records) - failed, Failed: failed}
		if err := metrics.Emit(h.Metrics, metrics.HopArchive, c); err != nil {
			log.Warn("metrics not written", "error", err)
		}
	}
	return resp, nil
}
