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
	// Stop retrying the queue a little before Lambda's deadline, so the invocation ends with an
	// error that says why rather than a timeout that says nothing; Firehose retries either way.
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-deadlineReserve))
		defer cancel()
	}
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
	out, err := h.Transformer.Transform(ctx, in)
	if err != nil {
		log.Error("batch not transformed; Firehose will retry it", "records", len(in), "error", err)
		return Answer{}, err
	}
	resp := Answer{Records: make([]AnswerRecord, len(out))}
	dropped := 0
	for i, o := range out {
		switch o.Result {
		case transform.ProcessingFailed:
			log.Warn("record refused", "recordId", o.RecordID, "reason", o.Err.Error())
		case transform.Dropped:
			dropped++
		}
		resp.Records[i] = AnswerRecord{RecordID: o.RecordID, Result: results[o.Result], Data: o.Data}
	}
	if dropped > 0 {
		log.Info("records put back into the delivery stream for a later invocation", "records", len(out), "dropped", dropped, "deliveryStream", source)
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
