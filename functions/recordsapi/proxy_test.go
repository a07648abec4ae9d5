package main

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

type ctxKey struct{}

func TestNewRequestCarriesTheWholeEvent(t *testing.T) {
	ctx := context.WithValue(t.Context(), ctxKey{}, "invocation")
	ev := events.APIGatewayProxyRequest{
		HTTPMethod:                      "POST",
		Resource:                        "/records/{type}/{key}",
		Path:                            "/records/order/a%2Fb%20c",
		PathParameters:                  map[string]string{"type": "order", "key": "a/b c"},
		QueryStringParameters:           map[string]string{"tag": "y"},
		MultiValueQueryStringParameters: map[string][]string{"tag": {"x", "y"}, "q": {"a&b=c"}},
		Headers:                         map[string]string{"accept": "text/plain"},
		MultiValueHeaders:               map[string][]string{"accept": {"application/json", "text/plain"}, "Host": {"api.example"}},
		Body:                            "eyJhIjoxfQ==",
		IsBase64Encoded:                 true,
	}
	ev.RequestContext.Identity.SourceIP = "203.0.113.10"
	req, err := newRequest(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	got := map[string]any{
		"method": req.Method, "path": req.URL.Path, "escaped": req.URL.EscapedPath(),
		"query": map[string][]string(req.URL.Query()), "accept": req.Header.Values("Accept"),
		"host": req.Host, "body": string(body), "remote": req.RemoteAddr, "ctx": req.Context().Value(ctxKey{}),
	}
	want := map[string]any{
		"method": "POST", "path": "/records/order/a/b c", "escaped": "/records/order/a%2Fb%20c",
		"query": map[string][]string{"tag": {"x", "y"}, "q": {"a&b=c"}}, "accept": []string{"application/json", "text/plain"},
		"host": "api.example", "body": `{"a":1}`, "remote": "203.0.113.10", "ctx": "invocation",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("request\n got %v\nwant %v", got, want)
	}
}

func TestNewRequestPaths(t *testing.T) {
	tests := []struct {
		path, wantPath, wantEscaped string
	}{
		{"/records/order/SKU-1", "/records/order/SKU-1", "/records/order/SKU-1"},
		{"/records/order/%E2%82%AC", "/records/order/€", "/records/order/%E2%82%AC"},
		// Already decoded, with a bare "%": taken as it is.
		{"/records/order/100%", "/records/order/100%", "/records/order/100%25"},
		{"", "/", "/"},
		{"records", "/records", "/records"},
	}
	for _, tt := range tests {
		req, err := newRequest(t.Context(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: tt.path})
		if err != nil {
			t.Fatal(err)
		}
		if req.URL.Path != tt.wantPath || req.URL.EscapedPath() != tt.wantEscaped {
			t.Errorf("path %q: got %q (%q), want %q (%q)", tt.path, req.URL.Path, req.URL.EscapedPath(), tt.wantPath, tt.wantEscaped)
		}
	}
}

func TestResponseFromTheHandler(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		handler http.HandlerFunc
		want    events.APIGatewayProxyResponse
	}{
		{"headers one and many", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Add("Vary", "Accept")
			w.Header().Add("Vary", "Origin")
			w.WriteHeader(201)
			io.WriteString(w, `{"ok":true}`)
		}, events.APIGatewayProxyResponse{
			StatusCode:        201,
			Headers:           map[string]string{"Content-Type": "application/json"},
			MultiValueHeaders: map[string][]string{"Vary": {"Accept", "Origin"}},
			Body:              `{"ok":true}`,
		}},
		{"status defaults to 200", "GET", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "hi")
		}, events.APIGatewayProxyResponse{StatusCode: 200, Body: "hi"}},
		{"nothing written", "GET", func(http.ResponseWriter, *http.Request) {}, events.APIGatewayProxyResponse{StatusCode: 200}},
		{"binary body in base64", "GET", func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte{0xff, 0x00})
		}, events.APIGatewayProxyResponse{StatusCode: 200, Body: "/wA=", IsBase64Encoded: true}},
		{"HEAD has no body", "HEAD", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{}`)
		}, events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serveProxy(t.Context(), tt.handler, events.APIGatewayProxyRequest{HTTPMethod: tt.method, Path: "/"})
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("response\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
