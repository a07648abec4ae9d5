package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/internal/sqsevent"
	"github.com/stream-to-events/stream-to-events/test/lambdatest"
)

// busFixture is a DataInserted event as it is on the bus; fixture is the same event as the rule
// delivers it to the responder's queue, and the responder reads it (sam local invoke -e).
const (
	busFixture = "../../events/eventbridge-data-inserted.json"
	fixture    = "../../events/sqs-data-inserted.json"
)

// fakeTable answers PutItem with err (or with errFor's answer for a record id) and keeps the
// inputs; with hang, it answers only when the call's context ends.
type fakeTable struct {
	err    error
	errFor map[string]error
	hang   bool
	mu     sync.Mutex
	puts   []*dynamodb.PutItemInput
}

func (f *fakeTable) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, in)
	if id, _ := in.Item["id"].(*types.AttributeValueMemberS); id != nil && f.errFor[id.Value] != nil {
		return nil, f.errFor[id.Value]
	}
	if f.err != nil {
		return nil, f.err
	}
	return &dynamodb.PutItemOutput{}, nil
}

type run struct {
	resp    events.SQSEventResponse
	err     error
	logs    string
	metrics string
	table   *fakeTable
}

func (r run) failed() []string {
	var ids []string
	for _, f := range r.resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func invokeWith(t *testing.T, payload []byte, table *fakeTable) run {
	t.Helper()
	var logs, emf bytes.Buffer
	h := &Handler{
		Projection: projection.NewWriter(table, "Projection"),
		Logger:     slog.New(slog.NewJSONHandler(&logs, nil)),
		Metrics:    &emf,
	}
	ctx := lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	out, err := lambda.NewHandler(sqsevent.Handler(h.Handle)).Invoke(ctx, payload)
	r := run{err: err, logs: logs.String(), metrics: emf.String(), table: table}
	if err == nil {
		if jerr := json.Unmarshal(out, &r.resp); jerr != nil {
			t.Fatalf("response %s: %v", out, jerr)
		}
	}
	return r
}

func invoke(t *testing.T, payload []byte, storeErr error) run {
	t.Helper()
	return invokeWith(t, payload, &fakeTable{err: storeErr})
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFixture(t testing.TB) []byte { return readFile(t, fixture) }

// delivered wraps bus events in the SQS event that delivers them, message i with ID "m<i>".
func delivered(t testing.TB, bodies ...[]byte) []byte {
	t.Helper()
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m" + strconv.Itoa(i), Body: string(b), EventSource: "aws:sqs"})
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withField returns the bus fixture event with one top-level field replaced, or removed when nil.
func withField(t *testing.T, name string, value any) []byte {
	t.Helper()
	ev := lambdatest.Event(t, busFixture)
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
	detail := lambdatest.Event(t, busFixture)["detail"].(map[string]any)
	delete(detail, field)
	return detail
}

// withDetail returns the bus fixture event with detail fields set.
func withDetail(t *testing.T, set map[string]any) []byte {
	t.Helper()
	d := detailWithout(t, "")
	for k, v := range set {
		d[k] = v
	}
	return withField(t, "detail", d)
}

func TestFixtureDeliversTheBusFixture(t *testing.T) {
	var ev events.SQSEvent
	if err := json.Unmarshal(readFixture(t), &ev); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if len(ev.Records) != 1 || json.Unmarshal([]byte(ev.Records[0].Body), &got) != nil {
		t.Fatalf("%s: want one message whose body is a JSON event", fixture)
	}
	if !reflect.DeepEqual(got, lambdatest.Event(t, busFixture)) {
		t.Fatalf("%s's message is not %s", fixture, busFixture)
	}
}

func TestFixtureIsADataInsertedEvent(t *testing.T) {
	set, err := contracts.Load("../../layers/contracts")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(readFile(t, busFixture)))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if err := set.Validate("data-inserted", doc); err != nil {
		t.Fatalf("%s: %v", busFixture, err)
	}
}

func TestFixtureLandsInTheProjection(t *testing.T) {
	r := invoke(t, readFixture(t), nil)
	if r.err != nil {
		t.Fatalf("Invoke: %v", r.err)
	}
	if len(r.resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v, want none", r.failed())
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
	if r.err != nil || len(r.resp.BatchItemFailures) != 0 {
		t.Fatalf("a stale event failed: %v %v", r.err, r.failed())
	}
	if !strings.Contains(r.logs, "projection skipped") || !strings.Contains(r.logs, `"recordId":"order-20261123-0001"`) {
		t.Fatalf("logs: %s", r.logs)
	}
}

func TestStoreFailureGivesTheMessageBack(t *testing.T) {
	r := invoke(t, readFixture(t), errors.New("ProvisionedThroughputExceededException"))
	if r.err != nil {
		t.Fatalf("the invocation failed: %v", r.err)
	}
	if got := r.failed(); len(got) != 1 || got[0] != "0b7d1f3e-2a4c-4e6f-8a9b-1c2d3e4f5a6b" {
		t.Fatalf("failures %v, want the fixture's message", got)
	}
	if !strings.Contains(r.logs, "ProvisionedThroughputExceededException") {
		t.Errorf("logs lack the store's error: %s", r.logs)
	}
	if !strings.Contains(r.metrics, `"RecordsIn":1,"RecordsOut":0,"RecordsFailed":1`) {
		t.Errorf("metrics: %s", r.metrics)
	}
}

// TestBatchWritesTheNewestOfEachEntityOnce: a batch holding an entity's records in any order,
// with duplicates, makes one conditional write of its newest record; another entity's failed
// write gives back only that entity's messages.
func TestBatchWritesTheNewestOfEachEntityOnce(t *testing.T) {
	older := withDetail(t, map[string]any{"id": "o-1", "time": "2026-11-23T10:00:00.100Z"})
	newest := withDetail(t, map[string]any{"id": "o-3", "time": "2026-11-23T10:00:00.300Z"})
	middle := withDetail(t, map[string]any{"id": "o-2", "time": "2026-11-23T10:00:00.200Z"})
	other := withDetail(t, map[string]any{"id": "x-1", "key": "SKU-OTHER"})
	bad := withField(t, "detail-type", "DataDeleted")
	table := &fakeTable{errFor: map[string]error{"x-1": errors.New("InternalServerError")}}
	r := invokeWith(t, delivered(t, older, newest, other, middle, newest, bad), table)
	if r.err != nil {
		t.Fatal(r.err)
	}
	var written []string
	for _, p := range table.puts {
		written = append(written, p.Item["id"].(*types.AttributeValueMemberS).Value)
	}
	slices.Sort(written)
	if !slices.Equal(written, []string{"o-3", "x-1"}) {
		t.Errorf("wrote %v, want the newest of each entity once: [o-3 x-1]", written)
	}
	if got := r.failed(); !slices.Equal(got, []string{"m5", "m2"}) {
		t.Errorf("failures %v, want the malformed event and the failed entity's: [m5 m2]", got)
	}
	if !strings.Contains(r.metrics, `"RecordsIn":6,"RecordsOut":4,"RecordsFailed":2`) {
		t.Errorf("metrics: %s", r.metrics)
	}
	if !strings.Contains(r.logs, `"applied":1,"skipped":3,"returned":2`) {
		t.Errorf("logs: %s", r.logs)
	}
}

func TestMalformedEventsAreFailuresThatNameTheProblem(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"wrong detail-type", withField(t, "detail-type", "DataDeleted"), `detail-type \"DataDeleted\"`},
		{"no detail-type", withField(t, "detail-type", nil), `detail-type \"\"`},
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
		{"time not canonical", withDetail(t, map[string]any{"time": "2026-11-23T10:00:00Z"}), "is not in the form"},
		{"empty event", []byte(`{}`), "detail-type"},
		{"not JSON", []byte(`{"detail-type":`), "not an EventBridge event: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, delivered(t, tt.payload), nil)
			if r.err != nil {
				t.Fatalf("the invocation failed: %v", r.err)
			}
			if got := r.failed(); len(got) != 1 || got[0] != "m0" {
				t.Fatalf("failures %v, want the malformed event's message", got)
			}
			if !strings.Contains(r.logs, tt.want) {
				t.Fatalf("logs do not say %q:\n%s", tt.want, r.logs)
			}
			if len(r.table.puts) != 0 {
				t.Fatalf("a malformed event was written: %+v", r.table.puts[0].Item)
			}
		})
	}
}

// A write that hangs is given up before Lambda's timeout: the batch is answered with its
// messages given back, rather than failed whole by a timeout that counts a receive against each.
func TestAnswersBeforeTheDeadline(t *testing.T) {
	h := &Handler{Projection: projection.NewWriter(&fakeTable{hang: true}, "Projection"), Logger: slog.New(slog.DiscardHandler), Metrics: io.Discard}
	out, err := lambdatest.InvokeBeforeDeadline(t, sqsevent.Handler(h.Handle), readFixture(t), batch.DeadlineReserve)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 1 {
		t.Errorf("response %s, want the fixture's message given back", out)
	}
}
