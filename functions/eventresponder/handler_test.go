package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/projection"
)

const fixture = "../../events/eventbridge-data-inserted.json"

// fakeTable answers PutItem with err and keeps the inputs.
type fakeTable struct {
	err  error
	mu   sync.Mutex
	puts []*dynamodb.PutItemInput
}

func (f *fakeTable) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, in)
	if f.err != nil {
		return nil, f.err
	}
	return &dynamodb.PutItemOutput{}, nil
}

type run struct {
	out     []byte
	err     error
	logs    string
	metrics string
	table   *fakeTable
}

func invoke(t *testing.T, payload []byte, storeErr error) run {
	t.Helper()
	table := &fakeTable{err: storeErr}
	var logs, emf bytes.Buffer
	h := &Handler{
		Projection: projection.NewWriter(table, "Projection"),
		Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics:    &emf,
	}
	ctx := lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, payload)
	return run{out: out, err: err, logs: logs.String(), metrics: emf.String(), table: table}
}

func readFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withField returns the fixture event with one top-level field replaced, or removed when nil.
func withField(t *testing.T, name string, value any) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readFixture(t), &ev); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(ev, name)
	} else {
		ev[name] = value
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func detailWithout(t *testing.T, field string) map[string]any {
	var ev struct {
		Detail map[string]any `json:"detail"`
	}
	if err := json.Unmarshal(readFixture(t), &ev); err != nil {
		t.Fatal(err)
	}
	delete(ev.Detail, field)
	return ev.Detail
}

func TestFixtureIsADataInsertedEvent(t *testing.T) {
	set, err := contracts.Load("../../layers/contracts")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(readFixture(t)))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if err := set.Validate("data-inserted", doc); err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
}

func TestFixtureLandsInTheProjection(t *testing.T) {
	r := invoke(t, readFixture(t), nil)
	if r.err != nil {
		t.Fatalf("Invoke: %v", r.err)
	}
	if string(r.out) != "null" {
		t.Fatalf("output %s, want null", r.out)
	}
	if len(r.table.puts) != 1 {
		t.Fatalf("%d PutItem calls, want 1", len(r.table.puts))
	}
	in := r.table.puts[0]
	item := in.Item
	for name, want := range map[string]string{
		"pk": "order", "sk": "SKU-12345", "id": "order-20261123-0001", "time": "2026-11-23T10:00:00.123Z",
		"receivedAt": "2026-11-23T10:00:00.456Z", "source": "stream-to-events-ingest",
	} {
		if got, _ := item[name].(*types.AttributeValueMemberS); got == nil || got.Value != want {
			t.Errorf("item %s = %#v, want %q", name, item[name], want)
		}
	}
	data, _ := item["data"].(*types.AttributeValueMemberM)
	if data == nil || data.Value["price"].(*types.AttributeValueMemberN).Value != "49.99" {
		t.Errorf("item data = %#v", item["data"])
	}
	if aws.ToString(in.ConditionExpression) != projection.Condition || aws.ToString(in.TableName) != "Projection" {
		t.Errorf("PutItem to %q with condition %q", aws.ToString(in.TableName), aws.ToString(in.ConditionExpression))
	}
	for _, want := range []string{`"msg":"projection applied"`, `"recordId":"order-20261123-0001"`, `"requestId":"req-1"`} {
		if !strings.Contains(r.logs, want) {
			t.Errorf("logs lack %s:\n%s", want, r.logs)
		}
	}
	if !strings.Contains(r.metrics, `"Hop":"respond","RecordsIn":1,"RecordsOut":1,"RecordsFailed":0`) {
		t.Errorf("metrics: %s", r.metrics)
	}
}

func TestDuplicateOrOlderEventIsSuccess(t *testing.T) {
	r := invoke(t, readFixture(t), &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")})
	if r.err != nil {
		t.Fatalf("a stale event failed the invocation: %v", r.err)
	}
	if !strings.Contains(r.logs, "projection skipped") || !strings.Contains(r.logs, `"recordId":"order-20261123-0001"`) {
		t.Fatalf("logs: %s", r.logs)
	}
}

func TestStoreFailureFailsTheInvocation(t *testing.T) {
	r := invoke(t, readFixture(t), errors.New("ProvisionedThroughputExceededException"))
	if r.err == nil || !strings.Contains(r.err.Error(), "ProvisionedThroughputExceededException") {
		t.Fatalf("Invoke error = %v, want the store's error", r.err)
	}
	if !strings.Contains(r.metrics, `"RecordsIn":1,"RecordsOut":0,"RecordsFailed":1`) {
		t.Errorf("metrics: %s", r.metrics)
	}
}

func TestMalformedEventsAreErrorsThatNameTheProblem(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"wrong detail-type", withField(t, "detail-type", "DataDeleted"), `detail-type "DataDeleted"`},
		{"no detail-type", withField(t, "detail-type", nil), `detail-type ""`},
		{"no detail", withField(t, "detail", nil), "detail is not a JSON object"},
		{"detail is a string", withField(t, "detail", `{"id":"x"}`), "detail is not a JSON object"},
		{"detail is an array", withField(t, "detail", []any{1, 2}), "detail is not a JSON object"},
		{"detail is null", []byte(`{"detail-type":"DataInserted","detail":null}`), "detail is not a JSON object"},
		{"id of the wrong type", withField(t, "detail", map[string]any{"id": 5, "type": "order"}), "not a canonical record"},
		{"no id", withField(t, "detail", detailWithout(t, "id")), "detail lacks [id]"},
		{"no type", withField(t, "detail", detailWithout(t, "type")), "detail lacks [type]"},
		{"no key", withField(t, "detail", detailWithout(t, "key")), "detail lacks [key]"},
		{"no time", withField(t, "detail", detailWithout(t, "time")), "detail lacks [time]"},
		{"no data", withField(t, "detail", detailWithout(t, "data")), "detail lacks [data]"},
		{"empty record", withField(t, "detail", map[string]any{}), "detail lacks [id type key time data]"},
		{"time not canonical", withField(t, "detail", func() map[string]any {
			d := detailWithout(t, "time")
			d["time"] = "2026-11-23T10:00:00Z"
			return d
		}()), "is not in the form"},
		{"empty event", []byte(`{}`), "detail-type"},
		{"not JSON", []byte(`{"detail-type":`), "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, tt.payload, nil)
			if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
				t.Fatalf("Invoke error = %v, want one saying %q", r.err, tt.want)
			}
			if len(r.table.puts) != 0 {
				t.Fatalf("a malformed event was written: %+v", r.table.puts[0].Item)
			}
		})
	}
}
