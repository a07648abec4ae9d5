package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/api"
	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

func item(key, id string) string {
	return `{"pk":{"S":"order"},"sk":{"S":"` + key + `"},"id":{"S":"` + id + `"},` +
		`"time":{"S":"2026-11-23T10:00:00.123Z"},"receivedAt":{"S":"2026-11-23T10:00:00.456Z"},` +
		`"source":{"S":"stream-to-events-ingest"},` +
		`"data":{"M":{"sku":{"S":"` + key + `"},"price":{"N":"49.99"},"customer":{"M":{"name":{"S":"Alejandro Rosalez"}}}}}}`
}

// dynamoDB answers the projection's reads like a table holding three orders, SKU-12345 among
// them. fail makes every call fail as DynamoDB does when the role may not read the table.
func dynamoDB(fail bool) *awsfake.Transport {
	return &awsfake.Transport{Record: true, Respond: func(target string, body []byte) (int, string) {
		if fail {
			return 400, `{"__type":"com.amazonaws.dynamodb.v20120810#AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/x is not authorized"}`
		}
		switch target {
		case "DynamoDB_20120810.GetItem":
			if bytes.Contains(body, []byte(`"SKU-12345"`)) {
				return 200, `{"Item":` + item("SKU-12345", "order-20261123-0001") + `}`
			}
			return 200, `{}`
		case "DynamoDB_20120810.Query":
			return 200, `{"Count":3,"ScannedCount":3,"Items":[` + item("SKU-00001", "a") + `,` + item("SKU-12345", "order-20261123-0001") + `,` + item("SKU-99999", "c") + `],` +
				`"LastEvaluatedKey":{"pk":{"S":"order"},"sk":{"S":"SKU-99999"}}}`
		}
		return 400, `{"__type":"com.amazon.coral.validate#ValidationException","message":"unexpected call"}`
	}}
}

type run struct {
	resp     events.APIGatewayProxyResponse
	logs     string
	requests []awsfake.Request
}

func invoke(t *testing.T, payload []byte, fail bool) run {
	t.Helper()
	tr := dynamoDB(fail)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	store := projection.NewReader(dynamodb.NewFromConfig(tr.Config(t.Context())), "Projection")
	h := &Handler{API: api.New(store, logger), Logger: logger}
	ctx := lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke: %v (an API answer must never be an invocation error)", err)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	return run{resp: resp, logs: logs.String(), requests: tr.Requests()}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// modified returns the fixture with its fields changed.
func modified(t *testing.T, name string, change func(ev *events.APIGatewayProxyRequest)) []byte {
	t.Helper()
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(fixture(t, name), &ev); err != nil {
		t.Fatal(err)
	}
	change(&ev)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantRequest checks the exact body the SDK sent.
func wantRequest(t *testing.T, got awsfake.Request, target string, body map[string]any) {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(got.Body, &b); err != nil {
		t.Fatal(err)
	}
	if got.Target != target || !reflect.DeepEqual(b, body) {
		t.Fatalf("request %s %s\nwant %s %v", got.Target, got.Body, target, body)
	}
}

func TestGetFixture(t *testing.T) {
	r := invoke(t, fixture(t, "api-get-record.json"), false)
	if r.resp.StatusCode != 200 || r.resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("status %d, headers %v, body %s", r.resp.StatusCode, r.resp.Headers, r.resp.Body)
	}
	want := `{"id":"order-20261123-0001","type":"order","key":"SKU-12345","time":"2026-11-23T10:00:00.123Z",` +
		`"receivedAt":"2026-11-23T10:00:00.456Z","source":"stream-to-events-ingest",` +
		`"data":{"customer":{"name":"Alejandro Rosalez"},"price":49.99,"sku":"SKU-12345"}}`
	if got := strings.TrimSpace(r.resp.Body); got != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
	if len(r.requests) != 1 {
		t.Fatalf("%d DynamoDB requests, want 1", len(r.requests))
	}
	wantRequest(t, r.requests[0], "DynamoDB_20120810.GetItem", map[string]any{
		"TableName": "Projection",
		"Key":       map[string]any{"pk": map[string]any{"S": "order"}, "sk": map[string]any{"S": "SKU-12345"}},
	})
	for _, want := range []string{`"requestId":"req-1"`, `"status":200`, `"route":"/records/{type}/{key}"`} {
		if !strings.Contains(r.logs, want) {
			t.Errorf("logs lack %s: %s", want, r.logs)
		}
	}
}

func TestListFixture(t *testing.T) {
	r := invoke(t, fixture(t, "api-list-records.json"), false)
	if r.resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", r.resp.StatusCode, r.resp.Body)
	}
	var page api.Page
	if err := json.Unmarshal([]byte(r.resp.Body), &page); err != nil {
		t.Fatal(err)
	}
	// limit=2: the store is asked for one more, to know whether a next page exists.
	if len(page.Items) != 2 || page.Items[0].Key != "SKU-00001" || page.Items[1].Key != "SKU-12345" {
		t.Fatalf("items %+v", page.Items)
	}
	if page.Next != api.EncodeNext("order", "SKU-12345") {
		t.Fatalf("next %q, want the token after SKU-12345", page.Next)
	}
	if len(r.requests) != 1 {
		t.Fatalf("%d DynamoDB requests, want 1", len(r.requests))
	}
	wantRequest(t, r.requests[0], "DynamoDB_20120810.Query", map[string]any{
		"TableName":                 "Projection",
		"KeyConditionExpression":    "pk = :pk",
		"ExpressionAttributeValues": map[string]any{":pk": map[string]any{"S": "order"}},
		"Limit":                     3.0,
	})

	// The next page, as a client would ask for it.
	r = invoke(t, modified(t, "api-list-records.json", func(ev *events.APIGatewayProxyRequest) {
		ev.QueryStringParameters["next"] = page.Next
		ev.MultiValueQueryStringParameters["next"] = []string{page.Next}
	}), false)
	if r.resp.StatusCode != 200 || len(r.requests) != 1 {
		t.Fatalf("next page: status %d, %d requests", r.resp.StatusCode, len(r.requests))
	}
	wantRequest(t, r.requests[0], "DynamoDB_20120810.Query", map[string]any{
		"TableName":                 "Projection",
		"KeyConditionExpression":    "pk = :pk",
		"ExpressionAttributeValues": map[string]any{":pk": map[string]any{"S": "order"}},
		"ExclusiveStartKey":         map[string]any{"pk": map[string]any{"S": "order"}, "sk": map[string]any{"S": "SKU-12345"}},
		"Limit":                     3.0,
	})
}

func TestBadRequestsAreJSONErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		status  int
		message string
	}{
		{"no such record", modified(t, "api-get-record.json", func(ev *events.APIGatewayProxyRequest) {
			ev.Path, ev.PathParameters["key"] = "/records/order/SKU-00000", "SKU-00000"
		}), 404, "no record"},
		{"limit too big", modified(t, "api-list-records.json", func(ev *events.APIGatewayProxyRequest) {
			ev.MultiValueQueryStringParameters["limit"] = []string{"1000000000000"}
		}), 400, "invalid limit"},
		{"forged next token", modified(t, "api-list-records.json", func(ev *events.APIGatewayProxyRequest) {
			ev.MultiValueQueryStringParameters["next"] = []string{api.EncodeNext("device", "x")}
		}), 400, "invalid next token"},
		{"unknown route", modified(t, "api-get-record.json", func(ev *events.APIGatewayProxyRequest) {
			ev.Path = "/admin"
		}), 404, "no such route"},
		{"wrong method", modified(t, "api-get-record.json", func(ev *events.APIGatewayProxyRequest) {
			ev.HTTPMethod = "DELETE"
		}), 405, "not allowed"},
		{"not a method", modified(t, "api-get-record.json", func(ev *events.APIGatewayProxyRequest) {
			ev.HTTPMethod = "GET /x"
		}), 400, "not a valid HTTP method"},
		{"body not base64", modified(t, "api-get-record.json", func(ev *events.APIGatewayProxyRequest) {
			ev.Body, ev.IsBase64Encoded = "%%%", true
		}), 400, "not valid base64"},
		{"empty event", []byte(`{}`), 404, "no such route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := invoke(t, tt.payload, false)
			if r.resp.StatusCode != tt.status || r.resp.Headers["Content-Type"] != "application/json" {
				t.Fatalf("status %d, headers %v; want %d JSON; body %s", r.resp.StatusCode, r.resp.Headers, tt.status, r.resp.Body)
			}
			var e api.Error
			if err := json.Unmarshal([]byte(r.resp.Body), &e); err != nil || !strings.Contains(e.Message, tt.message) {
				t.Fatalf("body %s does not say %q", r.resp.Body, tt.message)
			}
		})
	}
}

func TestStoreFailureIs500WithoutDetail(t *testing.T) {
	r := invoke(t, fixture(t, "api-get-record.json"), true)
	if r.resp.StatusCode != 500 {
		t.Fatalf("status %d: %s", r.resp.StatusCode, r.resp.Body)
	}
	if strings.Contains(r.resp.Body, "arn:") || strings.Contains(r.resp.Body, "AccessDenied") {
		t.Fatalf("the answer leaks the store's error: %s", r.resp.Body)
	}
	if !strings.Contains(r.logs, "AccessDeniedException") || !strings.Contains(r.logs, `"requestId":"req-1"`) {
		t.Fatalf("the log lacks the detail or the request ID: %s", r.logs)
	}
}
