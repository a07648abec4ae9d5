package emit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// StreamRecord is a change on the event store's stream, as the emitter sees it.
type StreamRecord struct {
	SequenceNumber string
	EventName      string // INSERT, MODIFY or REMOVE
	NewImage       map[string]types.AttributeValue
}

// Insert is the event name of a stream record for a new item: the only one that is emitted. A
// rewrite of a stored record (a redelivered queue message) changes nothing, and where a stream
// reports it at all it is a MODIFY, which must not become a second event.
const Insert = "INSERT"

// ErrBadImage is wrapped by the error of a stream image that is not an event store item.
var ErrBadImage = errors.New("stream image is not an event store item")

// Record rebuilds the canonical record and the ingest's trace header from an event store item,
// as internal/store writes it. The data map comes back as JSON with its keys sorted and its
// numbers as stored.
func Record(image map[string]types.AttributeValue) (record.Record, string, error) {
	var r record.Record
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"id", &r.ID}, {"type", &r.Type}, {"key", &r.Key}, {"time", &r.Time},
		{"receivedAt", &r.ReceivedAt}, {"source", &r.Source},
	} {
		s, ok := image[f.name].(*types.AttributeValueMemberS)
		if !ok || s.Value == "" {
			return record.Record{}, "", fmt.Errorf("%w: %s missing or not a string", ErrBadImage, f.name)
		}
		*f.dst = s.Value
	}
	data, ok := image["data"].(*types.AttributeValueMemberM)
	if !ok {
		return record.Record{}, "", fmt.Errorf("record %s: %w: data missing or not a map", r.ID, ErrBadImage)
	}
	b, err := jsonattr.AppendJSON(make([]byte, 0, 512), data) // most records' data fits: one allocation
	if err != nil {
		return record.Record{}, "", fmt.Errorf("record %s: %w: %w", r.ID, ErrBadImage, err)
	}
	r.Data = b
	var trace string
	if s, ok := image["traceHeader"].(*types.AttributeValueMemberS); ok {
		trace = s.Value
	}
	return r, trace, nil
}

// Result is what became of a batch of stream records.
type Result struct {
	// FailedSequenceNumber is the sequence number of the first record, in stream order, that
	// was not emitted; "" when every record was. The stream hands that record and every later
	// one back, so events after it may be emitted twice: consumers tolerate duplicates.
	FailedSequenceNumber string
	Emitted              int // events put on the bus
	Skipped              int // records that are not inserts
	Failed               int // inserts handed back to the stream: the first failure and every insert after it
	First                record.Record
}

// Service emits an integration event per new event store item.
type Service struct {
	Publisher *Publisher
	Logger    *slog.Logger
}

// Emit puts one DataInserted event on the bus for each INSERT in recs. An image that cannot be
// read stops the batch there: it and what follows go back to the stream (whose bisection,
// retries and failure destination take care of a record that never reads).
func (s *Service) Emit(ctx context.Context, recs []StreamRecord) Result {
	var res Result
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	var (
		events []Event
		from   []int // event index -> stream record index
		ids    []string
		stop   = len(recs) // index of the first record that could not be read
	)
	for i, sr := range recs {
		if sr.EventName != Insert {
			res.Skipped++
			continue
		}
		r, trace, err := Record(sr.NewImage)
		if err == nil {
			if res.First.ID == "" {
				res.First = r
			}
			// Record's data is compact and HTML-escaped, so AppendJSON writes what
			// json.Marshal would, without its reflection, into a buffer of the exact size.
			detail := r.AppendJSON(make([]byte, 0, r.JSONLen()))
			events = append(events, Event{Detail: detail, TraceHeader: trace})
			from = append(from, i)
			ids = append(ids, r.ID)
			continue
		}
		log.ErrorContext(ctx, "stream record not readable", "sequenceNumber", sr.SequenceNumber, "error", err)
		stop = i
		break
	}

	first := stop
	if len(events) > 0 {
		failed, err := s.Publisher.Publish(ctx, events)
		if len(failed) > 0 {
			first = min(first, from[failed[0]])
			log.ErrorContext(ctx, "events not put", "failed", len(failed), "firstRecordId", ids[failed[0]],
				"sequenceNumber", recs[from[failed[0]]].SequenceNumber, "error", err)
		}
		res.Emitted = len(events) - len(failed)
		for _, i := range failed {
			log.DebugContext(ctx, "event not put", "recordId", ids[i])
		}
	}
	if first < len(recs) {
		res.FailedSequenceNumber = recs[first].SequenceNumber
		for _, sr := range recs[first:] {
			if sr.EventName == Insert {
				res.Failed++
			}
		}
	}
	return res
}
