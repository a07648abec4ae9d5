package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/logging"
	"github.com/stream-to-events/stream-to-events/internal/metrics"
	"github.com/stream-to-events/stream-to-events/internal/trace"
	"github.com/stream-to-events/stream-to-events/internal/transform"
)

// Handler translates Firehose's transformation event to the transformer's inputs and its outputs
// back to Firehose's response.
type Handler struct {
	Transformer *transform.Transformer
	Logger      *slog.Logger
	Metrics     io.Writer // EMF lines: the function's stdout
}

// Answer is the processor's response to Firehose. It is declared here rather than taken from
// events.KinesisFirehoseResponse because that type writes an empty metadata object into every
// record, about 100 bytes each, which would count towards Lambda's 6 MB limit on the response;
// transform.AnswerLen counts exactly what this type writes.
type Answer struct {
	Records []AnswerRecord `json:"records"`
}

// AnswerRecord is the answer for one record: data is base64 and left out when empty, as it is
// for a Dropped record.
type AnswerRecord struct {
	RecordID string `json:"recordId"`
	Result   string `json:"result"`
	Data     []byte `json:"data,omitempty"`
}

// results are Firehose's names of the transformer's results.
var results = map[transform.Result]string{
	transform.Ok:               events.KinesisFirehoseTransformedStateOk,
	transform.ProcessingFailed: events.KinesisFirehoseTransformedStateProcessingFailed,
	transform.Dropped:          events.KinesisFirehoseTransformedStateDropped,
}

// Handle answers one Firehose transformation invocation. An event that is not a Firehose
// transformation event is refused as a whole, with an error saying what is missing.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisFirehoseEvent) (Answer, error) {
	log := logging.For(ctx, h.Logger)
	ctx, cancel := batch.BeforeDeadline(ctx)
	defer cancel()
	source, err := streamName(ev.DeliveryStreamArn)
	if err != nil {
		return Answer{}, err
	}
	in := make([]transform.Input, len(ev.Records))
	for i, r := range ev.Records {
		if r.RecordID == "" {
			return Answer{}, fmt.Errorf("record %d has no recordId: not a Firehose transformation event", i)
		}
		if r.ApproximateArrivalTimestamp.IsZero() {
			return Answer{}, fmt.Errorf("record %s has no approximateArrivalTimestamp: not a Firehose transformation event", r.RecordID)
		}
		in[i] = transform.Input{RecordID: r.RecordID, Data: r.Data, ArrivalMillis: r.ApproximateArrivalTimestamp.UnixMilli(), Source: source}
	}
	ctx, span := trace.Start(ctx, metrics.HopTransform)
	span.Annotate("records", len(in))
	res, err := h.Transformer.Transform(ctx, in)
	if err != nil {
		span.End(err)
		h.emit(ctx, log, metrics.Counts{In: len(in), Failed: len(in)})
		log.Error("batch not transformed; Firehose will retry it", "records", len(in), "error", err)
		return Answer{}, err
	}
	dropped := len(in) - res.Taken
	span.Annotate("dropped", dropped)
	span.Annotate("failed", res.Failed)
	if res.First.ID != "" {
		span.Annotate("record_id", res.First.ID) // X-Ray caps annotations: the first one stands for the batch
		span.Annotate("type", res.First.Type)
	}
	span.End(nil)
	h.emit(ctx, log, metrics.Counts{In: res.Taken, Out: res.Taken - res.Failed, Failed: res.Failed})

	out := res.Outputs
	resp := Answer{Records: make([]AnswerRecord, len(out))}
	for i, o := range out {
		if o.Result == transform.ProcessingFailed {
			log.Warn("record refused", "recordId", o.RecordID, "reason", o.Err.Error())
		}
		resp.Records[i] = AnswerRecord{RecordID: o.RecordID, Result: results[o.Result], Data: o.Data}
	}
	if dropped > 0 {
		log.Info("records put back into the delivery stream for a later invocation", "records", len(out), "dropped", dropped, "deliveryStream", source)
	}
	return resp, nil
}

// emit writes the batch's EMF line.
func (h *Handler) emit(ctx context.Context, log *slog.Logger, c metrics.Counts) {
	if err := metrics.Emit(h.Metrics, metrics.HopTransform, c); err != nil {
		log.WarnContext(ctx, "metrics not written", "error", err)
	}
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
