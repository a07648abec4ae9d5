package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/transform"
)

// deadlineReserve is the time kept, at the end of an invocation, to answer and log.
const deadlineReserve = 500 * time.Millisecond

// Handler translates Firehose's transformation event to the transformer's inputs and its outputs
// back to Firehose's response.
type Handler struct {
	Transformer *transform.Transformer
	Logger      *slog.Logger
}

// Handle answers one Firehose transformation invocation. An event that is not a Firehose
// transformation event is refused as a whole, with an error saying what is missing.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisFirehoseEvent) (events.KinesisFirehoseResponse, error) {
	log := logging.For(ctx, h.Logger)
	// Stop retrying the queue a little before Lambda's deadline, so the invocation ends with an
	// error that says why rather than a timeout that says nothing; Firehose retries either way.
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-deadlineReserve))
		defer cancel()
	}
	source, err := streamName(ev.DeliveryStreamArn)
	if err != nil {
		return events.KinesisFirehoseResponse{}, err
	}
	in := make([]transform.Input, len(ev.Records))
	for i, r := range ev.Records {
		if r.RecordID == "" {
			return events.KinesisFirehoseResponse{}, fmt.Errorf("record %d has no recordId: not a Firehose transformation event", i)
		}
		if r.ApproximateArrivalTimestamp.IsZero() {
			return events.KinesisFirehoseResponse{}, fmt.Errorf("record %s has no approximateArrivalTimestamp: not a Firehose transformation event", r.RecordID)
		}
		in[i] = transform.Input{RecordID: r.RecordID, Data: r.Data, ArrivalMillis: r.ApproximateArrivalTimestamp.UnixMilli(), Source: source}
	}
	out, err := h.Transformer.Transform(ctx, in)
	if err != nil {
		log.Error("batch not transformed; Firehose will retry it", "records", len(in), "error", err)
		return events.KinesisFirehoseResponse{}, err
	}
	resp := events.KinesisFirehoseResponse{Records: make([]events.KinesisFirehoseResponseRecord, len(out))}
	for i, o := range out {
		result := events.KinesisFirehoseTransformedStateOk
		if o.Result != transform.Ok {
			result = events.KinesisFirehoseTransformedStateProcessingFailed
			log.Warn("record refused", "recordId", o.RecordID, "reason", o.Err.Error())
		}
		resp.Records[i] = events.KinesisFirehoseResponseRecord{RecordID: o.RecordID, Result: result, Data: o.Data}
	}
	return resp, nil
}

// streamName is the delivery stream's name from its ARN
// (arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME): the records' source.
func streamName(arn string) (string, error) {
	_, name, ok := strings.Cut(arn, ":deliverystream/")
	if !ok || name == "" || !strings.HasPrefix(arn, "arn:") {
		return "", fmt.Errorf("deliveryStreamArn %q is not a delivery stream ARN: not a Firehose transformation event", arn)
	}
	return name, nil
}
