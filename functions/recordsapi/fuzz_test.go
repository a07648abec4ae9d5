package main

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/api"
	"github.com/stream-to-events/stream-to-events/internal/projection"
)

// FuzzProxy sends arbitrary proxy events (method, path as API Gateway or an emulator may pass
// it, a repeated query parameter, a body that may claim to be base64) through the adapter and the
// API. The answer is always a JSON proxy response with a documented status, never a panic.
func FuzzProxy(f *testing.F) {
	f.Add("GET", "/records/order", "limit", "2", "3", false, "")
	f.Add("GET", "/records/order/SKU-12345", "", "", "", false, "")
	f.Add("GET", "/records/order/a%2Fb", "next", api.EncodeNext("order", "a"), "", false, "")
	f.Add("GET", "/records/order/100%", "limit", "1e3", "-1", false, "")
	f.Add("POST", "/records/order", "", "", "", true, "eyJhIjoxfQ==")
	f.Add("", "", "limit", "", "", true, "%%%")
	f.Add("GET /x HTTP/1.1", "records/../../x", "next", "%", "", false, "{}")
	tr := dynamoDB(false)
	tr.Record = false
	logger := slog.New(slog.DiscardHandler)
	store := projection.NewReader(dynamodb.NewFromConfig(tr.Config(f.Context())), "Projection")
	h := &Handler{API: api.New(store, logger), Logger: logger}
	f.Fuzz(func(t *testing.T, method, path, param, value1, value2 string, b64 bool, body string) {
		ev := events.APIGatewayProxyRequest{
			HTTPMethod: method, Path: path, Resource: "/records/{type}", Body: body, IsBase64Encoded: b64,
			QueryStringParameters:           map[string]string{param: value2},
			MultiValueQueryStringParameters: map[string][]string{param: {value1, value2}},
		}
		resp, err := h.Handle(t.Context(), ev)
		if err != nil {
			t.Fatalf("invocation error: %v", err)
		}
		switch resp.StatusCode {
		case 200, 400, 404, 405:
		default:
			t.Fatalf("%q %q: status %d: %s", method, path, resp.StatusCode, resp.Body)
		}
		if resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("%q %q: headers %v", method, path, resp.Headers)
		}
		if resp.Body != "" && !json.Valid([]byte(resp.Body)) {
			t.Fatalf("%q %q: body is not JSON: %q", method, path, resp.Body)
		}
		if resp.Body == "" && method != "HEAD" {
			t.Fatalf("%q %q: empty body", method, path)
		}
	})
}
