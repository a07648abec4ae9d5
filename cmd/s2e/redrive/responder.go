package redrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

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
		var (
			taken   []sqstypes.Message
			entries []ebtypes.PutEventsRequestEntry
		)
		for _, m := range msgs {
			ev, err := dlqEvent(aws.ToString(m.Body))
			if err != nil {
				unreplayable = append(unreplayable, fmt.Sprintf("ResponderDLQ message %s: %v", aws.ToString(m.MessageId), err))
				continue
			}
			taken = append(taken, m)
			entries = append(entries, ebtypes.PutEventsRequestEntry{
				Source:     aws.String(ev.Source),
				DetailType: aws.String(ev.DetailType),
				Detail:     aws.String(string(ev.Detail)),
				Resources:  ev.Resources,
				Time:       ev.Time,
			})
		}
		failed, err := r.publisher().PutEntries(ctx, entries)
		if err != nil {
			r.log().Warn("responder redrive: events not put", "events", len(failed), "error", err)
		}
		done := make([]sqstypes.Message, 0, len(taken))
		for i, m := range taken {
			if _, notPut := slices.BinarySearch(failed, i); !notPut {
				done = append(done, m)
			}
		}
		c.Records += len(done)
		return done
	})
	return c, unreplayable, err
}
