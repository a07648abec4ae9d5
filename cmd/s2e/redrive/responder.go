package redrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
)

type eventPutter interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ eventPutter = (*eventbridge.Client)(nil)

// busEvent is the part of an EventBridge event that PutEvents takes back.
type busEvent struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
	Resources  []string        `json:"resources"`
	Time       *time.Time      `json:"time"`
}

// ErrNotAnEvent is wrapped by the error of a ResponderDLQ message that holds no event.
var ErrNotAnEvent = errors.New("DLQ message holds no EventBridge event")

// dlqEvent reads the event of a ResponderDLQ message. Both ways into the DLQ keep the event as
// the message body: the responder's queue moves a message it gave back maxReceiveCount times,
// and the rule sends a delivery that failed (the reason in message attributes).
func dlqEvent(body string) (busEvent, error) {
	raw := []byte(body)
	var ev busEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return busEvent{}, fmt.Errorf("%w: %w", ErrNotAnEvent, err)
	}
	if ev.Source == "" || ev.DetailType == "" || len(ev.Detail) == 0 || bytes.Equal(ev.Detail, []byte("null")) {
		return busEvent{}, fmt.Errorf("%w: source, detail-type or detail missing", ErrNotAnEvent)
	}
	return ev, nil
}

// Responder puts the events of ResponderDLQ back on the bus, where the responder's rule
// delivers them again. Putting them on the bus rather than invoking the function keeps the
// rule's retries and DLQ in the path; any other rule that matches gets the event again too,
// which the design allows (events are delivered at least once).
func (r *Redriver) Responder(ctx context.Context) (Counts, []string, error) {
	var c Counts
	var unreplayable []string
	err := r.drain(ctx, r.Names.ResponderDLQURL, &c, func(ctx context.Context, msgs []sqstypes.Message) []sqstypes.Message {
		type pending struct {
			msg   sqstypes.Message
			entry ebtypes.PutEventsRequestEntry
		}
		var todo []pending
		for _, m := range msgs {
			ev, err := dlqEvent(aws.ToString(m.Body))
			if err != nil {
				unreplayable = append(unreplayable, fmt.Sprintf("ResponderDLQ message %s: %v", aws.ToString(m.MessageId), err))
				continue
			}
			todo = append(todo, pending{msg: m, entry: ebtypes.PutEventsRequestEntry{
				EventBusName: aws.String(r.Names.EventBusName),
				Source:       aws.String(ev.Source),
				DetailType:   aws.String(ev.DetailType),
				Detail:       aws.String(string(ev.Detail)),
				Resources:    ev.Resources,
				Time:         ev.Time,
			}})
		}
		failed, err := batch.Retry(ctx, policy, todo, func(ctx context.Context, ps []pending) ([]pending, error) {
			in := &eventbridge.PutEventsInput{Entries: make([]ebtypes.PutEventsRequestEntry, len(ps))}
			for i, p := range ps {
				in.Entries[i] = p.entry
			}
			out, err := r.Clients.Events.PutEvents(ctx, in)
			if err != nil {
				return ps, err
			}
			if out.FailedEntryCount == 0 {
				return nil, nil
			}
			var left []pending
			for i, e := range out.Entries {
				if e.ErrorCode != nil && i < len(ps) {
					left = append(left, ps[i])
				}
			}
			return left, nil
		})
		if err != nil {
			r.log().Warn("responder redrive: events not put", "events", len(failed), "error", err)
		}
		notPut := map[string]bool{}
		for _, p := range failed {
			notPut[aws.ToString(p.msg.MessageId)] = true
		}
		var done []sqstypes.Message
		for _, p := range todo {
			if !notPut[aws.ToString(p.msg.MessageId)] {
				done = append(done, p.msg)
			}
		}
		c.Records += len(done)
		return done
	})
	return c, unreplayable, err
}
