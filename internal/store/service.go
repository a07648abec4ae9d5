package store

import (
	"context"
	"encoding/json"
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

// Result is what became of a batch of messages.
type Result struct {
	// Failed are the IDs of the messages to receive again, in batch order: every message that
	// was not stored and, on a FIFO queue, every later message of its group, so that the queue
	// hands the group back in order.
	Failed []string
	// Stored counts the messages whose record is in the table.
	Stored int
	// First is the first record of the batch that decoded, for tracing; zero when none did.
	First record.Record
}

// ErrInvalidRecord is wrapped by the error of a message whose body is not a canonical record.
var ErrInvalidRecord = errors.New("not a canonical record")

// Decode parses a message body as a canonical record and checks what the store relies on: the
// key fields present and the times in record.TimeLayout (the sort key orders by them as strings).
func Decode(body string) (record.Record, error) {
	var r record.Record
	if err := json.Unmarshal([]byte(body), &r); err != nil {
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
	Table  *Table
	Logger *slog.Logger
}

// Store decodes and writes the records of msgs. A message that cannot be decoded or written is
// a failure of that message only; the queue delivers it again and, after its maximum receive
// count, moves it to the dead-letter queue, where it can be looked at and replayed.
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
	ids := make([]string, len(msgs)) // record id of each message that decoded
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
		notStored, err := s.Table.Put(ctx, entries)
		for _, e := range notStored {
			i := from[e]
			failed[i] = true
			log.ErrorContext(ctx, "record not stored", "messageId", msgs[i].MessageID, "recordId", entries[e].Record.ID)
		}
		if err != nil {
			log.ErrorContext(ctx, "store batch", "failed", len(notStored), "error", err)
		}
	}
	// On a FIFO queue, a failed message and every later message of its group go back, so that
	// the group is handed out again in order. A message without a group stands alone.
	broken := map[string]bool{}
	for i, m := range msgs {
		behind := m.GroupID != "" && broken[m.GroupID]
		switch {
		case failed[i]:
		case behind:
			res.Stored++
			log.InfoContext(ctx, "record stored, message returned behind an earlier failure of its group",
				"messageId", m.MessageID, "recordId", ids[i], "groupId", m.GroupID)
		default:
			res.Stored++
			log.DebugContext(ctx, "record stored", "messageId", m.MessageID, "recordId", ids[i])
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
