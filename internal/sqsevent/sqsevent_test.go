package sqsevent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// fixtures are SQS events as Lambda hands them to the storer and the responder.
var fixtures = []string{"../../events/sqs-ingest.json", "../../events/sqs-data-inserted.json"}

func decodeJSON(payload []byte) (events.SQSEvent, error) {
	var ev events.SQSEvent
	err := json.NewDecoder(bytes.NewReader(payload)).Decode(&ev)
	return ev, err
}

func TestReadsTheFixturesInOnePass(t *testing.T) {
	for _, name := range fixtures {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := read(string(b))
		if !ok {
			t.Fatalf("%s: the one-pass reading leaves the event as Lambda writes it to encoding/json", name)
		}
		if want, err := decodeJSON(b); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n read    %#v\n decoded %#v (%v)", name, got, want, err)
		}
	}
}

// FuzzDecodeMatchesEncodingJSON holds decode to what lambda.Start gets from encoding/json: the
// same event, or an error both times with the same message.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, name := range fixtures {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"Records":[]}`, `{"Records":null}`, `{"records":[]}`, `{"Records":[{"messageId":"a","messageId":"b"}]}`,
		`{"Records":[{"attributes":{"a":"1","a":"2"}}]}`,
		`{"Records":[{"attributes":{"a":1}}]}`, `{"Records":[{"messageAttributes":{"a":{"dataType":"String","stringValue":"x"}}}]}`,
		`{"Records":[{"body":"{\"a\":\"\\u00e9\"}"}]} trailing`, `{"Records":[null]}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, gotErr := decode(payload)
		want, wantErr := decodeJSON(payload)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("%q: error %v, encoding/json %v", payload, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got  %#v\n want %#v", payload, got, want)
		}
	})
}

// TestHandlerAnswersAsLambdaStart runs one handle through Handler and through lambda.Start's own
// handler: the same answers, byte for byte, and the same errors.
func TestHandlerAnswersAsLambdaStart(t *testing.T) {
	b, err := os.ReadFile(fixtures[1])
	if err != nil {
		t.Fatal(err)
	}
	errHandle := errors.New("handle failed")
	for _, tt := range []struct {
		name    string
		payload []byte
		failed  []string
		err     error
	}{
		{"all done", b, nil, nil},
		{"failures", b, []string{"m-1", "<m&2>"}, nil},
		{"handler error", b, nil, errHandle},
		{"not an event", []byte(`{"Records":7}`), nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			handle := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
				for _, id := range tt.failed {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
				}
				return resp, tt.err
			}
			got, gotErr := Handler(handle).Invoke(t.Context(), tt.payload)
			want, wantErr := lambda.NewHandler(handle).Invoke(t.Context(), tt.payload)
			if string(got) != string(want) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("Handler: %s, %v\nlambda.Start: %s, %v", got, gotErr, want, wantErr)
			}
		})
	}
}
