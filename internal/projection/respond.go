package projection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/stream-to-events/stream-to-events/internal/jsonscan"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// ErrMalformedEvent is wrapped by the errors about a delivery that is not a DataInserted event
// with a canonical record in it. Such a delivery is reported as failed, not dropped: the queue
// gives it back until its receive count sends it to the responder's DLQ, where it can be looked
// at and replayed.
var ErrMalformedEvent = errors.New("malformed DataInserted event")

// Putter writes a prepared record to the projection if it is newer than the stored one; *Writer
// is one.
type Putter interface {
	Put(ctx context.Context, it Item) (applied bool, err error)
}

var _ Putter = (*Writer)(nil)

// Delivery is one DataInserted event as the rule delivered it: the body of a queue message,
// which is the EventBridge event itself.
type Delivery struct {
	MessageID string
	Body      string
}

// Response is what became of a batch of deliveries.
type Response struct {
	Applied int      // records written to the projection
	Skipped int      // deliveries the projection already held as new or newer: duplicates, late events
	Failed  []string // message IDs to deliver again: malformed, or not written
	First   record.Record
	// Overtaken are the batch's records that a newer record of the same entity in the same
	// batch stood in for: delivered, and never written themselves.
	Overtaken []record.Record
}

// Responder keeps the projection at the newest record of every entity.
type Responder struct {
	Projection Putter
	Logger     *slog.Logger
}

// Respond projects a batch of deliveries. Events arrive at least once and in any order, so each
// entity needs only its newest record of the batch: one conditional write per entity, and the
// other deliveries of that entity share its outcome (a failed write gives them all back, so
// none is lost if the newest one was the failure).
func (r *Responder) Respond(ctx context.Context, ds []Delivery) Response {
	var res Response
	type entity struct {
		newest   Item
		messages []string // the deliveries of the entity's records
	}
	entities := make([]entity, 0, len(ds)) // in the order of their first delivery
	index := make(map[string]int, len(ds)) // entity key -> entities index
	for _, d := range ds {
		rec, err := decode(d.Body)
		var it Item
		if err == nil {
			// A record the projection refuses must not stand for its entity: it would be the
			// newest, fail to write, and hold back the entity's good records with it.
			it, err = Prepare(rec)
		}
		if err != nil {
			r.Logger.ErrorContext(ctx, "refuse event", "messageId", d.MessageID, "error", err)
			res.Failed = append(res.Failed, d.MessageID)
			continue
		}
		if res.First.ID == "" {
			res.First = rec
		}
		k := rec.EntityKey()
		n, ok := index[k]
		switch {
		case !ok:
			n = len(entities)
			index[k] = n
			entities = append(entities, entity{newest: it})
		case rec.Newer(entities[n].newest.Record):
			res.Overtaken = append(res.Overtaken, entities[n].newest.Record)
			entities[n].newest = it
		default:
			res.Overtaken = append(res.Overtaken, rec)
		}
		entities[n].messages = append(entities[n].messages, d.MessageID)
	}
	for _, e := range entities {
		rec := e.newest.Record
		applied, err := r.Projection.Put(ctx, e.newest)
		// The record's attributes are given to each call, not bound with Logger.With: that
		// formats them into a handler of their own, for every record.
		id, typ, key := slog.String("recordId", rec.ID), slog.String("type", rec.Type), slog.String("key", rec.Key)
		switch {
		case err != nil:
			r.Logger.LogAttrs(ctx, slog.LevelError, "project record", id, typ, key,
				slog.Any("error", err), slog.Int("deliveries", len(e.messages)))
			res.Failed = append(res.Failed, e.messages...)
			continue
		case applied:
			r.Logger.LogAttrs(ctx, slog.LevelInfo, "projection applied", id, typ, key, slog.String("time", rec.Time))
			res.Applied++
			res.Skipped += len(e.messages) - 1
		default:
			r.Logger.LogAttrs(ctx, slog.LevelInfo, "projection skipped: the stored record is as new or newer",
				id, typ, key, slog.String("time", rec.Time))
			res.Skipped += len(e.messages)
		}
	}
	return res
}

// decode returns the canonical record of a DataInserted event, or an error, wrapping
// ErrMalformedEvent, naming what is wrong with it. What the projection itself refuses (a bad
// time, an oversize key, data DynamoDB cannot store) Prepare reports.
func decode(body string) (record.Record, error) {
	if r, ok := readEvent(body); ok {
		return r, nil
	}
	return decodeEvent(body)
}

// decodeEvent is decode through encoding/json, for any text readEvent does not read.
func decodeEvent(body string) (record.Record, error) {
	var ev struct {
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return record.Record{}, fmt.Errorf("not an EventBridge event: %v: %w", err, ErrMalformedEvent)
	}
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

// readEvent reads a well-formed DataInserted event in the form EventBridge writes, in one pass
// and with the record's strings as parts of body. It reports false for anything else, which
// decode then decodes with encoding/json, to accept or refuse it with the reason.
func readEvent(body string) (r record.Record, ok bool) {
	d := jsonscan.NewDecoder(body)
	var detailType string
	var seen jsonscan.Members
	ok = d.Object(func(name string) bool {
		var ok bool
		switch name {
		case "id":
			_, ok = d.String()
			return seen.First(0) && ok
		case "detail-type":
			detailType, ok = d.String()
			return seen.First(1) && ok
		case "detail":
			r, ok = record.Read(&d)
			return seen.First(2) && ok
		default:
			return !jsonscan.FoldsTo(name, "id", "detail-type", "detail") && d.Skip()
		}
	}) && d.End()
	// What decodeEvent refuses, it refuses with the reason.
	complete := r.ID != "" && r.Type != "" && r.Key != "" && r.Time != "" && len(r.Data) > 0
	if !ok || detailType != record.DetailType || !complete {
		return record.Record{}, false
	}
	return r, true
}
