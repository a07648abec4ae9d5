package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
	"github.com/stream-to-events/stream-to-events/internal/sqsevent"
	"github.com/stream-to-events/stream-to-events/internal/store"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
	"github.com/stream-to-events/stream-to-events/test/jsontest"
	"github.com/stream-to-events/stream-to-events/test/lambdatest"
)

const tableName = "EventStore"

// fakeDB records the items of every BatchWriteItem call and leaves unprocessed the items whose
// record id refuse names.
type fakeDB struct {
	calls  [][]map[string]types.AttributeValue
	refuse map[string]bool
	hang   bool
	items  map[string]map[string]types.AttributeValue // what the table holds, by pk/sk
}

func (f *fakeDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	for _, k := range in.RequestItems[tableName].Keys {
		if it, ok := f.items[str(k, "pk")+"/"+str(k, "sk")]; ok {
			out.Responses[tableName] = append(out.Responses[tableName], it)
		}
	}
	return out, nil
}

func (f *fakeDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if f.hang {
		<-ctx.Done() // DynamoDB does not answer before the context ends
		return nil, ctx.Err()
	}
	var items []map[string]types.AttributeValue
	var left []types.WriteRequest
	for _, r := range in.RequestItems[tableName] {
		items = append(items, r.PutRequest.Item)
		if f.refuse[str(r.PutRequest.Item, "id")] {
			left = append(left, r)
			continue
		}
		if f.items == nil {
			f.items = map[string]map[string]types.AttributeValue{}
		}
		f.items[str(r.PutRequest.Item, "pk")+"/"+str(r.PutRequest.Item, "sk")] = r.PutRequest.Item
	}
	f.calls = append(f.calls, items)
	out := &dynamodb.BatchWriteItemOutput{}
	if left != nil {
		out.UnprocessedItems = map[string][]types.WriteRequest{tableName: left}
	}
	return out, nil
}

func str(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func fixture(t *testing.T) map[string]any {
	return lambdatest.Event(t, "../../events/sqs-ingest.json")
}

func message(ev map[string]any, i int) map[string]any {
	return ev["Records"].([]any)[i].(map[string]any)
}

func invoke(t *testing.T, db *fakeDB, payload []byte) (string, string, error) {
	t.Helper()
	awsfake.NoRetryWait(t)
	var emf bytes.Buffer
	h := &Handler{Table: store.NewTable(db, tableName), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: &emf}
	out, err := lambda.NewHandler(sqsevent.Handler(h.Handle)).Invoke(t.Context(), payload)
	return string(out), emf.String(), err
}

// TestFixture feeds events/sqs-ingest.json to the handler: every record is written with its
// keys, its data as sent, and the trace header of the message that carried it.
func TestFixture(t *testing.T) {
	ev := fixture(t)
	payload, _ := json.Marshal(ev)
	db := &fakeDB{}
	out, emf, err := invoke(t, db, payload)
	if err != nil {
		t.Fatal(err)
	}
	if out != `{"batchItemFailures":[]}` {
		t.Errorf("response %s", out)
	}
	if len(db.calls) != 1 || len(db.calls[0]) != 3 {
		t.Fatalf("calls %v, want one call with 3 items", len(db.calls))
	}
	for i, item := range db.calls[0] {
		m := message(ev, i)
		var body struct {
			ID, Type, Key, Time string
			Data                json.RawMessage
		}
		if err := json.Unmarshal([]byte(m["body"].(string)), &body); err != nil {
			t.Fatal(err)
		}
		attrs := m["attributes"].(map[string]any)
		want := map[string]string{
			"pk": attrs["MessageGroupId"].(string), "sk": body.Time + "#" + body.ID, "id": body.ID,
			"traceHeader": attrs["AWSTraceHeader"].(string),
		}
		for name, w := range want {
			if got := str(item, name); got != w {
				t.Errorf("message %d: %s = %q, want %q", i, name, got, w)
			}
		}
		data, err := jsonattr.AppendJSON(nil, item["data"])
		if err != nil {
			t.Fatal(err)
		}
		if !jsontest.Equal(t, data, body.Data) {
			t.Errorf("message %d: data stored %s, sent %s", i, data, body.Data)
		}
	}
	if !strings.Contains(emf, `"Hop":"store","RecordsIn":3,"RecordsOut":3,"RecordsFailed":0`) {
		t.Errorf("EMF line %s", emf)
	}
}

func TestBadInput(t *testing.T) {
	ids := func(ev map[string]any) []string {
		var out []string
		for i := range ev["Records"].([]any) {
			out = append(out, message(ev, i)["messageId"].(string))
		}
		return out
	}
	tests := []struct {
		name    string
		payload func(t *testing.T) []byte
		refuse  map[string]bool
		want    func(ids []string) string
		written []string // record ids written
		wantErr bool
	}{
		{
			name: "invalid JSON body: that message only",
			payload: func(t *testing.T) []byte {
				ev := fixture(t)
				message(ev, 1)["body"] = `{"id": "broken`
				b, _ := json.Marshal(ev)
				return b
			},
			want:    func(ids []string) string { return `{"batchItemFailures":[{"itemIdentifier":"` + ids[1] + `"}]}` },
			written: []string{"ord-20261123-0001", "ord-20261123-0002"},
		},
		{
			name: "body of the wrong shape: that message only",
			payload: func(t *testing.T) []byte {
				ev := fixture(t)
				message(ev, 0)["body"] = `{"id":1,"type":["order"]}`
				b, _ := json.Marshal(ev)
				return b
			},
			// The later message of the same group goes back too, to keep the group in order.
			want: func(ids []string) string {
				return `{"batchItemFailures":[{"itemIdentifier":"` + ids[0] + `"},{"itemIdentifier":"` + ids[2] + `"}]}`
			},
			written: []string{"7d3f1c9a2b4e6f8091a2b3c4d5e6f708", "ord-20261123-0002"},
		},
		{
			name:    "write refused: first failed and later of its group, other group not reported",
			payload: func(t *testing.T) []byte { b, _ := json.Marshal(fixture(t)); return b },
			refuse:  map[string]bool{"ord-20261123-0001": true},
			want: func(ids []string) string {
				return `{"batchItemFailures":[{"itemIdentifier":"` + ids[0] + `"},{"itemIdentifier":"` + ids[2] + `"}]}`
			},
			// The refused item is sent again, alone, until the retry policy gives up.
			written: append([]string{"ord-20261123-0001", "7d3f1c9a2b4e6f8091a2b3c4d5e6f708", "ord-20261123-0002"},
				slices.Repeat([]string{"ord-20261123-0001"}, batch.DefaultPolicy.Attempts-1)...),
		},
		{
			name: "attributes missing: stored, no trace header",
			payload: func(t *testing.T) []byte {
				ev := fixture(t)
				delete(message(ev, 0), "attributes")
				b, _ := json.Marshal(ev)
				return b
			},
			want:    func([]string) string { return `{"batchItemFailures":[]}` },
			written: []string{"ord-20261123-0001", "7d3f1c9a2b4e6f8091a2b3c4d5e6f708", "ord-20261123-0002"},
		},
		{
			name:    "empty batch",
			payload: func(*testing.T) []byte { return []byte(`{"Records":[]}`) },
			want:    func([]string) string { return `{"batchItemFailures":[]}` },
		},
		{
			name:    "no records field",
			payload: func(*testing.T) []byte { return []byte(`{}`) },
			want:    func([]string) string { return `{"batchItemFailures":[]}` },
		},
		{
			name:    "records of the wrong type: a clear error",
			payload: func(*testing.T) []byte { return []byte(`{"Records":"none"}`) },
			wantErr: true,
		},
		{
			name:    "not JSON: a clear error",
			payload: func(*testing.T) []byte { return []byte(`Records`) },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := &fakeDB{refuse: tt.refuse}
			out, _, err := invoke(t, db, tt.payload(t))
			if !lambdatest.Answered(t, out, err, tt.wantErr) {
				return
			}
			if want := tt.want(ids(fixture(t))); out != want {
				t.Errorf("response\n got %s\nwant %s", out, want)
			}
			var written []string
			for _, c := range db.calls {
				for _, it := range c {
					written = append(written, str(it, "id"))
				}
			}
			if !reflect.DeepEqual(written, tt.written) {
				t.Errorf("written %v, want %v", written, tt.written)
			}
		})
	}
}

// TestAnswersBeforeTheDeadline: when DynamoDB does not answer, the handler still returns its
// partial batch response before Lambda's deadline, instead of timing out (which would fail the
// batch with no word on which messages were stored).
func TestAnswersBeforeTheDeadline(t *testing.T) {
	payload, _ := json.Marshal(fixture(t))
	h := &Handler{Table: store.NewTable(&fakeDB{hang: true}, tableName), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: io.Discard}
	out, err := lambdatest.InvokeBeforeDeadline(t, sqsevent.Handler(h.Handle), payload, batch.DeadlineReserve)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		BatchItemFailures []struct{ ItemIdentifier string }
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 3 {
		t.Errorf("response %s, want all 3 messages reported", out)
	}
}
