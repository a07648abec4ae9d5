// Package transform is the Firehose processor's logic: each record of a Firehose batch becomes a
// canonical record, which goes back to Firehose (for the lake) and onto the ingest queue, or is
// refused with a reason and kept by Firehose under its error prefix. A record is never returned
// as Ok unless it is on the queue.
package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/stream-to-events/stream-to-events/internal/metrics"
	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/trace"
)

// Hop names this hop in metrics.
const Hop = "transform"

// Result is what Firehose is told about one record.
type Result int

const (
	// Ok: the canonical record goes to the lake; it is on the queue.
	Ok Result = iota
	// ProcessingFailed: Firehose keeps the original bytes under the error prefix.
	ProcessingFailed
)

func (r Result) String() string {
	if r == Ok {
		return "Ok"
	}
	return "ProcessingFailed"
}

// Input is one record of a Firehose batch.
type Input struct {
	RecordID      string // Firehose's record id, echoed in the output
	Data          []byte
	ArrivalMillis int64  // Firehose's approximate arrival timestamp
	Source        string // the delivery stream's name
}

// Output is the answer for one input record, in the same order.
type Output struct {
	RecordID string
	Result   Result
	// Data is the canonical JSON and "\n" when Ok (one record per line in the lake), the
	// original bytes when ProcessingFailed.
	Data []byte
	Err  error // why the record was refused
}

type sender interface {
	SendMessages(ctx context.Context, msgs []queue.Message, traceHeader string) error
}

var _ sender = (*queue.Sender)(nil)

// Transformer parses, validates and forwards the records of a Firehose batch.
type Transformer struct {
	Parser *record.Parser
	Sender sender
	// Metrics receives one EMF line per batch (the function's stdout); nil writes none.
	Metrics io.Writer
}

// Transform answers a Firehose batch. Bad records are ProcessingFailed and not sent on, and so
// are records SQS refuses as malformed; good ones are sent to the queue. When the queue still
// refuses after retries, Transform returns an error: the invocation fails and Firehose sends the
// whole batch again (the records keep their ids, so the queue drops what it already has).
func (t *Transformer) Transform(ctx context.Context, in []Input) (out []Output, err error) {
	ctx, span := trace.Start(ctx, Hop)
	defer func() { span.End(err) }()
	span.Annotate("records", len(in))

	out = make([]Output, len(in))
	recs := make([]record.Record, 0, len(in))
	at := make([]int, 0, len(in)) // output index of recs[i]
	size := 0
	for i, x := range in {
		r, err := t.Parser.Parse(x.Data, record.Meta{Source: x.Source, ArrivalMillis: x.ArrivalMillis})
		if err != nil {
			out[i] = Output{RecordID: x.RecordID, Result: ProcessingFailed, Data: x.Data, Err: err}
			continue
		}
		recs = append(recs, r)
		at = append(at, i)
		size += r.JSONLen() + 1
	}
	if len(recs) > 0 {
		span.Annotate("record_id", recs[0].ID) // X-Ray caps annotations: the first one stands for the batch
		span.Annotate("type", recs[0].Type)
	}

	// One buffer holds every output line and one string every message body, instead of two
	// allocations per record.
	buf := make([]byte, 0, size)
	for j, r := range recs {
		start := len(buf)
		buf = append(r.AppendJSON(buf), '\n')
		out[at[j]] = Output{RecordID: in[at[j]].RecordID, Result: Ok, Data: buf[start:len(buf):len(buf)]}
	}
	bodies := string(buf)
	msgs := make([]queue.Message, len(recs))
	pos := 0
	for j, r := range recs {
		n := len(out[at[j]].Data)
		msgs[j] = queue.Message{Record: r, Body: bodies[pos : pos+n-1]}
		pos += n
	}

	if err := t.Sender.SendMessages(ctx, msgs, trace.Header(ctx)); err != nil {
		var se *queue.SendError
		if !errors.As(err, &se) || se.Retryable() {
			t.emit(metrics.Counts{In: len(in), Failed: len(in)})
			return nil, fmt.Errorf("transform: %d of %d records not on the queue: %w", failedCount(err, len(recs)), len(recs), err)
		}
		// SQS refused these records as they are: sending them again cannot help, so they are
		// failed records like any other bad input, and the rest of the batch goes on.
		refused := make(map[string]queue.Failure, len(se.Failures))
		for _, f := range se.Failures {
			refused[f.ID] = f
		}
		for j, r := range recs {
			if f, ok := refused[r.ID]; ok {
				x := in[at[j]]
				out[at[j]] = Output{RecordID: x.RecordID, Result: ProcessingFailed, Data: x.Data,
					Err: fmt.Errorf("queue refused record %s: %s: %s", r.ID, f.Code, f.Message)}
			}
		}
	}
	failed := 0
	for _, o := range out {
		if o.Result != Ok {
			failed++
		}
	}
	span.Annotate("failed", failed)
	t.emit(metrics.Counts{In: len(in), Out: len(in) - failed, Failed: failed})
	return out, nil
}

func failedCount(err error, all int) int {
	var se *queue.SendError
	if errors.As(err, &se) {
		return len(se.Failures)
	}
	return all
}

func (t *Transformer) emit(c metrics.Counts) {
	if t.Metrics == nil {
		return
	}
	if err := metrics.Emit(t.Metrics, Hop, c); err != nil {
		slog.Warn("metrics not written", "error", err)
	}
}
