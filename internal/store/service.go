package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

// Message is a queue message as the storer sees it.
type Message struct {
	MessageID   string
	Body        string
	GroupID     string // FIFO MessageGroupId; "" outside a FIFO queue
	TraceHeader string // the sender's X-Ray trace header, "" when it was not traced
}

// ConflictSink keeps the records that conflict with a stored one (same identity, other data),
// where an operator can look at them and replay them. queue.Sender is one.
type ConflictSink interface {
	Send(ctx context.Context, recs []record.Record, traceHeader string) error
}

// Result is what became of a batch of messages.
type Result struct {
	// Failed are the IDs of the messages to receive again, in batch order: every message that
	// was not stored and, on a FIFO queue, every later message of its group, so that the queue
	// hands the group back in order.
	Failed []string
	// Stored counts the messages whose record is in the table: written now, or Unchanged.
	Stored int
	// Unchanged counts the messages whose record the table held already: nothing was written.
	Unchanged int
	// Conflicts counts the messages whose record conflicts with a stored one: not written, kept
	// by the ConflictSink, and not returned to the queue.
	Conflicts int
	// First is the first record of the batch that decoded, for tracing; zero when none did.
	First record.Record
}

// ErrInvalidRecord is wrapped by the error of a message whose body is not a canonical record.
var ErrInvalidRecord = errors.New("not a canonical record")

// Decode parses a message body as a canonical record and checks what the store relies on: the
// key fields present and the times in record.TimeLayout (the sort key orders by them as strings).
func Decode(body string) (record.Record, error) {
	r, err := record.Unmarshal(body)
	if err != nil {
		return record.Record{}, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	for _, f := range []struct{ name, value string }{
		{"id", r.ID}, {"type", r.Type}, {"key", r.Key}, {"source", r.Source},
	} {
		if f.value == "" {
			return record.Record{}, fmt.Errorf("%w: %s missing", ErrInvalidRecord, f.name)
		}
	}
	for _, f := range []struct{ name, value string }{{"time", r.Time}, {"receivedAt", r.ReceivedAt}} {
		// TimeLayout has fixed-width fields and a literal Z, so what parses is in the layout.
		if _, err := time.Parse(record.TimeLayout, f.value); err != nil {
			return record.Record{}, fmt.Errorf("%w: %s %q not in the layout %s", ErrInvalidRecord, f.name, f.value, record.TimeLayout)
		}
	}
	if len(r.Data) == 0 || r.Data[0] != '{' {
		return record.Record{}, fmt.Errorf("%w: data is not a JSON object", ErrInvalidRecord)
	}
	return r, nil
}

// Service stores the records that arrive on the ingest queue.
type Service struct {
	Table *Table
	// Conflicts keeps the conflicting records; a conflict it fails to keep goes back to the
	// queue like any message not stored. nil returns every conflict to the queue, which then
	// moves it to its dead-letter queue.
	Conflicts ConflictSink
	Logger    *slog.Logger
}

// Store decodes and writes the records of msgs. A message that cannot be decoded or written is
// a failure of that message only; the queue delivers it again and, after its maximum receive
// count, moves it to the dead-letter queue, where it can be looked at and replayed. A record
// stored already is success with nothing written; a conflict is logged with both content hashes
// and handed to the ConflictSink, so that it never holds its entity's message group.
func (s *Service) Store(ctx context.Context, msgs []Message) Result {
	var res Result
	if len(msgs) == 0 {
		return res
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	failed := make([]bool, len(msgs))
	conflict := make([]bool, len(msgs)) // kept by the ConflictSink: neither stored nor returned
	ids := make([]string, len(msgs))    // record id of each message that decoded
	entries := make([]Entry, 0, len(msgs))
	from := make([]int, 0, len(msgs)) // entry index -> message index
	for i, m := range msgs {
		r, err := Decode(m.Body)
		if err != nil {
			failed[i] = true
			log.ErrorContext(ctx, "message is not a canonical record", "messageId", m.MessageID, "error", err)
			continue
		}
		ids[i] = r.ID
		if res.First.ID == "" {
			res.First = r
		}
		entries = append(entries, Entry{Record: r, TraceHeader: m.TraceHeader})
		from = append(from, i)
	}
	if len(entries) > 0 {
		outs, err := s.Table.Put(ctx, entries)
		for e, o := range outs {
			i, r := from[e], entries[e].Record
			switch o.Kind {
			case NotStored:
				failed[i] = true
				log.ErrorContext(ctx, "record not stored", "messageId", msgs[i].MessageID, "recordId", r.ID)
			case Unchanged:
				res.Unchanged++
				log.InfoContext(ctx, "record stored already: nothing written", "messageId", msgs[i].MessageID, "recordId", r.ID)
			case Conflict:
				log.WarnContext(ctx, "conflict: another record with this identity is stored; not written",
					"messageId", msgs[i].MessageID, "recordId", r.ID, "type", r.Type, "key", r.Key, "time", r.Time,
					"storedHash", o.StoredHash, "receivedHash", r.ContentHash())
				if s.keep(ctx, log, r, entries[e].TraceHeader) {
					conflict[i] = true
				} else {
					failed[i] = true
				}
			}
		}
		if err != nil {
			log.ErrorContext(ctx, "store batch", "error", err)
		}
	}
	// On a FIFO queue, a failed message and every later message of its group go back, so that
	// the group is handed out again in order. A message without a group stands alone.
	broken := map[string]bool{}
	for i, m := range msgs {
		behind := m.GroupID != "" && broken[m.GroupID]
		switch {
		case failed[i]:
		case conflict[i]:
			// Kept, even behind an earlier failure of its group: returning it too would only
			// make it a conflict again.
			res.Conflicts++
			continue
		case behind:
			res.Stored++
			log.InfoContext(ctx, "record stored, message returned behind an earlier failure of its group",
				"messageId", m.MessageID, "recordId", ids[i], "groupId", m.GroupID)
		default:
			res.Stored++
			if log.Enabled(ctx, slog.LevelDebug) { // spares every message its log arguments at Info
				log.DebugContext(ctx, "record stored", "messageId", m.MessageID, "recordId", ids[i])
			}
		}
		if failed[i] || behind {
			res.Failed = append(res.Failed, m.MessageID)
			if m.GroupID != "" {
				broken[m.GroupID] = true
			}
		}
	}
	return res
}

// keep hands a conflicting record to the ConflictSink and reports whether it is kept.
func (s *Service) keep(ctx context.Context, log *slog.Logger, r record.Record, traceHeader string) bool {
	if s.Conflicts == nil {
		log.ErrorContext(ctx, "conflict not kept: no conflict queue; the message goes back", "recordId", r.ID)
		return false
	}
	if err := s.Conflicts.Send(ctx, []record.Record{r}, traceHeader); err != nil {
		log.ErrorContext(ctx, "conflict not kept; the message goes back", "recordId", r.ID, "error", err)
		return false
	}
	return true
}
