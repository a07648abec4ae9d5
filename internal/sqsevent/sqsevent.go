// Package sqsevent runs a function that an SQS queue triggers as lambda.Start would run its
// handler, reading the event in one pass instead of by reflection: the event of a batch of ten
// records is some ten kilobytes of JSON, every record's body a string escaped within it, which
// encoding/json scans twice.
package sqsevent

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stream-to-events/stream-to-events/internal/jsonscan"
)

// Handler is handle with the event read by decode and the response written as lambda.Start
// writes it: give it to lambda.Start.
func Handler(handle func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) lambda.Handler {
	return handlerFunc(handle)
}

type handlerFunc func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

func (f handlerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ev, err := decode(payload)
	if err != nil {
		return nil, err
	}
	resp, err := f(ctx, ev)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // as lambda.Start writes a response
	if err := enc.Encode(resp); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// decode reads the event of an SQS trigger: the events.SQSEvent, or the error, that lambda.Start
// gets from encoding/json for payload. The event as Lambda writes it is read in one pass, with
// its strings as parts of one copy of payload; any other text goes through encoding/json.
func decode(payload []byte) (events.SQSEvent, error) {
	if ev, ok := read(string(payload)); ok {
		return ev, nil
	}
	var ev events.SQSEvent
	err := json.NewDecoder(bytes.NewReader(payload)).Decode(&ev)
	return ev, err
}

// read reads an event whose members are named exactly as events.SQSEvent's fields, each at most
// once, with values of their fields' types (or null) and no message attributes. It reports false
// for anything else.
func read(s string) (ev events.SQSEvent, ok bool) {
	d := jsonscan.NewDecoder(s)
	seen := false
	ok = d.Object(func(name string) bool {
		switch {
		case name == "Records":
			if seen || d.Peek() != '[' {
				return false
			}
			seen = true
			ev.Records = make([]events.SQSMessage, 0, 10) // room for a batch as the template sets it
			return d.Array(func() bool {
				m, ok := readMessage(&d)
				ev.Records = append(ev.Records, m)
				return ok
			})
		case jsonscan.FoldsTo(name, "Records"):
			return false
		}
		return d.Skip()
	}) && d.End()
	return ev, ok
}

// messageFields are the JSON names of events.SQSMessage's fields.
var messageFields = []string{
	"messageId", "receiptHandle", "body", "md5OfBody", "md5OfMessageAttributes", "attributes",
	"messageAttributes", "eventSourceARN", "eventSource", "awsRegion",
}

func readMessage(d *jsonscan.Decoder) (m events.SQSMessage, ok bool) {
	var seen jsonscan.Members // the fields read, numbered as messageFields
	ok = d.Object(func(name string) bool {
		var field *string
		var n int
		switch name {
		case "messageId":
			field, n = &m.MessageId, 0
		case "receiptHandle":
			field, n = &m.ReceiptHandle, 1
		case "body":
			field, n = &m.Body, 2
		case "md5OfBody":
			field, n = &m.Md5OfBody, 3
		case "md5OfMessageAttributes":
			field, n = &m.Md5OfMessageAttributes, 4
		case "eventSourceARN":
			field, n = &m.EventSourceARN, 7
		case "eventSource":
			field, n = &m.EventSource, 8
		case "awsRegion":
			field, n = &m.AWSRegion, 9
		case "attributes":
			n = 5
		case "messageAttributes":
			n = 6
		default:
			return !jsonscan.FoldsTo(name, messageFields...) && d.Skip()
		}
		if !seen.First(n) {
			return false
		}
		if d.Peek() == 'n' {
			return d.Skip() // null leaves a field as it is
		}
		switch name {
		case "attributes":
			m.Attributes = map[string]string{}
			return d.Object(func(name string) bool {
				v, ok := d.String()
				m.Attributes[name] = v
				return ok
			})
		case "messageAttributes":
			// Only an empty map: encoding/json has the rules for an attribute's binary values.
			m.MessageAttributes = map[string]events.SQSMessageAttribute{}
			return d.Object(func(string) bool { return false })
		}
		var ok bool
		*field, ok = d.String()
		return ok
	})
	return m, ok
}
