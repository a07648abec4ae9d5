package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

var fuzzMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}

// FuzzHandler sends arbitrary request targets and methods to the API over a store holding a few
// records. Whatever the path and query, the answer is JSON with a status the API documents, never
// a 500 (the fake store fails on any parameter the API should have refused) and never a panic.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		"/records/order",
		"/records/order?limit=2",
		"/records/order?limit=2&next=" + EncodeNext("order", "k1"),
		"/records/order?next=" + EncodeNext("device", "k1"),
		"/records/order/k1",
		"/records/order/a%2Fb",
		"/records/order?limit=99999999999999999999",
		"/records/order?limit=-1&limit=5",
		"/records/order'%20OR%20'1'='1",
		"/records/order/k1%00%0a",
		"/records/..%2F..%2Fetc/passwd",
		"/records/order?next=%%%",
		"/",
	}
	for i, s := range seeds {
		f.Add(byte(i), s)
	}
	h := New(newFakeStore(rec("order", "k1"), rec("order", "k2"), rec("order", "a/b"), rec("device", "k1")), slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, m byte, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			return // not a request line an HTTP server or API Gateway would pass on
		}
		req := (&http.Request{Method: fuzzMethods[int(m)%len(fuzzMethods)], URL: u, Header: http.Header{}, Host: "api"}).WithContext(t.Context())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 404, 405:
		default:
			t.Fatalf("%s %q: status %d: %s", req.Method, target, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %q: Content-Type %q", req.Method, target, ct)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %q: body is not a JSON object: %v: %s", req.Method, target, err, w.Body)
		}
		if _, ok := body["message"]; w.Code != 200 && !ok {
			t.Fatalf("%s %q: error without a message: %s", req.Method, target, w.Body)
		}
	})
}
