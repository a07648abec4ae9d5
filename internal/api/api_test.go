package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/projection"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// fakeStore holds records in memory and pages through them as the projection does.
type fakeStore struct {
	records map[string]record.Record // "type\x00key" → record
	err     error

	mu    sync.Mutex
	lists []listCall
}

type listCall struct {
	typ   string
	limit int
	after *projection.Cursor
}

func newFakeStore(recs ...record.Record) *fakeStore {
	s := &fakeStore{records: map[string]record.Record{}}
	for _, r := range recs {
		s.records[r.Type+"\x00"+r.Key] = r
	}
	return s
}

// errBadCall is what the fake store answers to parameters the API should never have passed on;
// the handler turns it into a 500, which the tests and the fuzzer catch.
var errBadCall = errors.New("fake store: called with parameters the API should have refused")

func (s *fakeStore) Get(_ context.Context, typ, key string) (record.Record, error) {
	if checkType(typ) != "" || checkKey(key) != "" {
		return record.Record{}, errBadCall
	}
	if s.err != nil {
		return record.Record{}, s.err
	}
	r, ok := s.records[typ+"\x00"+key]
	if !ok {
		return record.Record{}, fmt.Errorf("get %s#%s: %w", typ, key, projection.ErrNotFound)
	}
	return r, nil
}

func (s *fakeStore) List(_ context.Context, typ string, limit int, after *projection.Cursor) (projection.Page, error) {
	s.mu.Lock()
	s.lists = append(s.lists, listCall{typ, limit, after})
	s.mu.Unlock()
	if checkType(typ) != "" || limit < 1 || limit > MaxLimit || (after != nil && checkKey(after.Key) != "") {
		return projection.Page{}, errBadCall
	}
	if s.err != nil {
		return projection.Page{}, s.err
	}
	var keys []string
	for _, r := range s.records {
		if r.Type == typ && (after == nil || r.Key > after.Key) {
			keys = append(keys, r.Key)
		}
	}
	sort.Strings(keys)
	var page projection.Page
	for i, k := range keys {
		if i == limit {
			page.Next = &projection.Cursor{Key: page.Records[limit-1].Key}
			break
		}
		page.Records = append(page.Records, s.records[typ+"\x00"+k])
	}
	return page, nil
}

func rec(typ, key string) record.Record {
	return record.Record{
		ID: "id-" + key, Type: typ, Key: key, Time: "2026-11-23T10:00:00.123Z",
		ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest", Data: json.RawMessage(`{"sku":"` + key + `"}`),
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func serve(t *testing.T, h http.Handler, method, target string) response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return response{w.Code, w.Header(), w.Body.Bytes()}
}

// message checks that the response is a JSON error and returns its message.
func (r response) message(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var e struct {
		Message *string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Message == nil {
		t.Fatalf("body %q is not a JSON error: %v", r.body, err)
	}
	return *e.Message
}

func TestErrorsAreJSONWithTheRightStatus(t *testing.T) {
	store := newFakeStore(rec("order", "sku-1"))
	h := New(store, slog.New(slog.DiscardHandler))
	otherType := EncodeNext("device", "k")
	tokenOf := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		method, target string
		status         int
		message        string // a part of the message
	}{
		{"GET", "/records/order/sku-2", 404, `no record of type "order" with key "sku-2"`},
		{"GET", "/", 404, "no such route"},
		{"GET", "/records", 404, "no such route"},
		{"GET", "/records/order/sku-1/extra", 404, "no such route"},
		{"GET", "/admin?type=order", 404, "no such route"},
		{"GET", "/records//order", 404, "no such route"},
		{"GET", "/records/order/../../etc/passwd", 404, "no such route"},
		{"POST", "/records/order", 405, "not allowed"},
		{"DELETE", "/records/order/sku-1", 405, "not allowed"},
		{"PUT", "/records/order/sku-1", 405, "not allowed"},
		{"GET", "/records/or%20der", 400, "invalid type"},
		{"GET", "/records/" + strings.Repeat("a", 65), 400, "invalid type"},
		{"GET", "/records/order%27%20OR%201=1--", 400, "invalid type"},
		{"GET", "/records/%C3%A9t%C3%A9/k", 400, "invalid type"},
		{"GET", "/records/order/" + strings.Repeat("k", 1025), 400, "invalid key"},
		{"GET", "/records/order/%FF", 400, "invalid key"},
		{"GET", "/records/order?limit=0", 400, "invalid limit"},
		{"GET", "/records/order?limit=101", 400, "invalid limit"},
		{"GET", "/records/order?limit=-1", 400, "invalid limit"},
		{"GET", "/records/order?limit=+5", 400, "invalid limit"},
		{"GET", "/records/order?limit=5.0", 400, "invalid limit"},
		{"GET", "/records/order?limit=", 400, "invalid limit"},
		{"GET", "/records/order?limit=abc", 400, "invalid limit"},
		{"GET", "/records/order?limit=99999999999999999999999999999999", 400, "invalid limit"},
		{"GET", "/records/order?limit=1&limit=2", 400, "invalid limit"},
		{"GET", "/records/order?next=", 400, "invalid next token"},
		{"GET", "/records/order?next=%%%", 400, "invalid query string"},
		{"GET", "/records/order?next=%25%25", 400, "invalid next token"},
		{"GET", "/records/order?next=" + tokenOf("not json"), 400, "invalid next token"},
		{"GET", "/records/order?next=" + tokenOf(`{"t":"order","k":""}`), 400, "invalid next token"},
		{"GET", "/records/order?next=" + tokenOf(`{"t":"order","k":"a","admin":true}`), 400, "invalid next token"},
		{"GET", "/records/order?next=" + tokenOf(`{"t":"order","k":"a"}{}`), 400, "invalid next token"},
		{"GET", "/records/order?next=" + tokenOf(`["order","a"]`), 400, "invalid next token"},
		{"GET", "/records/order?next=" + otherType, 400, "invalid next token"},
		{"GET", "/records/order?next=" + strings.Repeat("A", 9000), 400, "invalid next token"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target[:min(len(tt.target), 60)], func(t *testing.T) {
			r := serve(t, h, tt.method, tt.target)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if msg := r.message(t); !strings.Contains(msg, tt.message) {
				t.Fatalf("message %q does not say %q", msg, tt.message)
			}
			if tt.status == 405 && r.header.Get("Allow") != "GET, HEAD" {
				t.Fatalf("Allow = %q", r.header.Get("Allow"))
			}
		})
	}
	if len(store.lists) != 0 {
		t.Fatalf("the store was asked to list for bad requests: %+v", store.lists)
	}
}

func TestGetReturnsTheCanonicalRecord(t *testing.T) {
	h := New(newFakeStore(rec("order", "sku-1"), rec("order", "a/b c"), rec("raw", "k")), slog.New(slog.DiscardHandler))
	tests := []struct{ target, want string }{
		{"/records/order/sku-1", `{"id":"id-sku-1","type":"order","key":"sku-1","time":"2026-11-23T10:00:00.123Z","receivedAt":"2026-11-23T10:00:00.456Z","source":"ingest","data":{"sku":"sku-1"}}`},
		{"/records/order/a%2Fb%20c", `{"id":"id-a/b c","type":"order","key":"a/b c","time":"2026-11-23T10:00:00.123Z","receivedAt":"2026-11-23T10:00:00.456Z","source":"ingest","data":{"sku":"a/b c"}}`},
		{"/records/raw/k", `{"id":"id-k","type":"raw","key":"k","time":"2026-11-23T10:00:00.123Z","receivedAt":"2026-11-23T10:00:00.456Z","source":"ingest","data":{"sku":"k"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := serve(t, h, "GET", tt.target)
			if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q; body %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			if got := strings.TrimSpace(string(r.body)); got != tt.want {
				t.Fatalf("body\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestListPagesThroughEveryEntityOnce(t *testing.T) {
	var recs []record.Record
	for i := range 5 {
		recs = append(recs, rec("order", fmt.Sprintf("k%d", i)), rec("device", fmt.Sprintf("k%d", i)))
	}
	store := newFakeStore(recs...)
	h := New(store, slog.New(slog.DiscardHandler))
	var keys []string
	target := "/records/order?limit=2"
	for pages := 1; ; pages++ {
		r := serve(t, h, "GET", target)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var page Page
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, rec := range page.Items {
			keys = append(keys, rec.Key)
		}
		if page.Next == "" {
			if pages != 3 {
				t.Fatalf("%d pages, want 3", pages)
			}
			break
		}
		if pages > 5 {
			t.Fatal("listing does not end")
		}
		target = "/records/order?limit=2&next=" + url.QueryEscape(page.Next)
	}
	if want := []string{"k0", "k1", "k2", "k3", "k4"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	// The default limit, and an empty type, which lists as an empty array rather than null.
	if r := serve(t, h, "GET", "/records/inventory"); r.status != 200 || strings.TrimSpace(string(r.body)) != `{"items":[]}` {
		t.Fatalf("empty listing: %d %s", r.status, r.body)
	}
	if last := store.lists[len(store.lists)-1]; last.limit != DefaultLimit || last.after != nil {
		t.Fatalf("listing without parameters asked the store for %+v", last)
	}
}

func TestStoreFailureIsAGeneric500(t *testing.T) {
	var logs bytes.Buffer
	store := newFakeStore()
	store.err = errors.New("operation error DynamoDB: Query: AccessDeniedException: arn:aws:dynamodb:us-east-1:123456789012:table/Projection")
	h := New(store, slog.New(slog.NewJSONHandler(&logs, nil)))
	for _, target := range []string{"/records/order", "/records/order/k"} {
		r := serve(t, h, "GET", target)
		if r.status != 500 {
			t.Fatalf("%s: status %d", target, r.status)
		}
		if msg := r.message(t); strings.Contains(msg, "arn:") || strings.Contains(msg, "DynamoDB") {
			t.Fatalf("%s: the message leaks the store's error: %q", target, msg)
		}
	}
	if !strings.Contains(logs.String(), "AccessDeniedException") {
		t.Fatalf("the log does not have the detail: %s", logs.String())
	}
}

func TestNextTokenRoundTrips(t *testing.T) {
	for _, key := range []string{"k", "a/b", "ключ", `"quoted"`, strings.Repeat("x", 1024)} {
		c, msg := parseNext([]string{EncodeNext("order", key)}, "order")
		if msg != "" || c == nil || c.Key != key {
			t.Fatalf("key %.20q: cursor %+v, %q", key, c, msg)
		}
	}
}
