package store

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

func body(t *testing.T, id string) string {
	t.Helper()
	b, err := json.Marshal(rec(id))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecode(t *testing.T) {
	valid := `{"id":"a","type":"order","key":"k","time":"2026-11-23T10:00:00.123Z","receivedAt":"2026-11-23T10:00:00.456Z","source":"s","data":{"x":1}}`
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"valid", valid, true},
		{"empty body", ``, false},
		{"not JSON", `{"id":`, false},
		{"not an object", `[1]`, false},
		{"id missing", strings.Replace(valid, `"id":"a",`, ``, 1), false},
		{"id of wrong type", strings.Replace(valid, `"id":"a"`, `"id":7`, 1), false},
		{"key empty", strings.Replace(valid, `"key":"k"`, `"key":""`, 1), false},
		{"source missing", strings.Replace(valid, `"source":"s",`, ``, 1), false},
		{"time not in the layout", strings.Replace(valid, `"time":"2026-11-23T10:00:00.123Z"`, `"time":"2026-11-23T10:00:00Z"`, 1), false},
		{"receivedAt not a time", strings.Replace(valid, `"receivedAt":"2026-11-23T10:00:00.456Z"`, `"receivedAt":"soon"`, 1), false},
		{"data missing", strings.Replace(valid, `,"data":{"x":1}`, ``, 1), false},
		{"data not an object", strings.Replace(valid, `{"x":1}`, `"x"`, 1), false},
		{"data null", strings.Replace(valid, `{"x":1}`, `null`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode(tt.body)
			if tt.ok != (err == nil) {
				t.Fatalf("Decode: %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (r.ID != "a" || string(r.Data) != `{"x":1}`) {
				t.Errorf("decoded %+v", r)
			}
		})
	}
}

func TestServiceStore(t *testing.T) {
	msg := func(id, group, body string) Message {
		return Message{MessageID: id, GroupID: group, Body: body, TraceHeader: "Root=1-" + id}
	}
	tests := []struct {
		name       string
		msgs       func(t *testing.T) []Message
		refuse     func(call int, sk string) bool
		wantFailed []string
		wantStored []string // sort keys written, in order, over all calls
		wantCalls  int
	}{
		{
			name:      "empty batch: no call, nothing reported",
			msgs:      func(*testing.T) []Message { return nil },
			wantCalls: 0,
		},
		{
			name: "all stored",
			msgs: func(t *testing.T) []Message {
				return []Message{msg("m1", "g1", body(t, "a")), msg("m2", "g2", body(t, "b"))}
			},
			wantStored: []string{sk("a"), sk("b")},
			wantCalls:  1,
		},
		{
			name: "write failure: first failed and later messages of its group only",
			msgs: func(t *testing.T) []Message {
				return []Message{
					msg("m1", "g1", body(t, "a")), msg("m2", "g2", body(t, "b")),
					msg("m3", "g1", body(t, "c")), msg("m4", "g2", body(t, "d")),
					msg("m5", "g3", body(t, "e")),
				}
			},
			refuse:     func(_ int, s string) bool { return s == sk("a") },
			wantFailed: []string{"m1", "m3"},
			wantStored: []string{sk("a"), sk("b"), sk("c"), sk("d"), sk("e"), sk("a"), sk("a"), sk("a"), sk("a"), sk("a")},
			wantCalls:  6,
		},
		{
			name: "bad bodies fail alone, valid records all written",
			msgs: func(t *testing.T) []Message {
				return []Message{
					msg("m1", "g1", body(t, "a")),
					msg("m2", "g2", `not json`),
					msg("m3", "g3", `{"id":7}`),
					msg("m4", "g2", body(t, "d")),
					msg("m5", "g4", ``),
					msg("m6", "g5", body(t, "f")),
				}
			},
			wantFailed: []string{"m2", "m3", "m4", "m5"},
			wantStored: []string{sk("a"), sk("d"), sk("f")},
			wantCalls:  1,
		},
		{
			name: "no group (standard queue): only the failed message",
			msgs: func(t *testing.T) []Message {
				return []Message{msg("m1", "", `{}`), msg("m2", "", body(t, "b"))}
			},
			wantFailed: []string{"m1"},
			wantStored: []string{sk("b")},
			wantCalls:  1,
		},
		{
			name: "only bad bodies: no call",
			msgs: func(*testing.T) []Message {
				return []Message{msg("m1", "g1", `[]`), msg("m2", "g1", `{"id":"x"}`)}
			},
			wantFailed: []string{"m1", "m2"},
			wantCalls:  0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			awsfake.NoRetryWait(t)
			db := &fakeDB{refuse: tt.refuse}
			var logs bytes.Buffer
			svc := &Service{Table: NewTable(db, table), Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			res := svc.Store(t.Context(), tt.msgs(t))
			if !reflect.DeepEqual(res.Failed, tt.wantFailed) {
				t.Errorf("failed %v, want %v", res.Failed, tt.wantFailed)
			}
			var stored []string
			for _, c := range db.sortKeys() {
				stored = append(stored, c...)
			}
			if !reflect.DeepEqual(stored, tt.wantStored) {
				t.Errorf("written %v, want %v", stored, tt.wantStored)
			}
			if len(db.calls) != tt.wantCalls {
				t.Errorf("%d calls, want %d", len(db.calls), tt.wantCalls)
			}
			for _, id := range tt.wantFailed {
				if !strings.Contains(logs.String(), id) && tt.refuse == nil {
					t.Errorf("failed message %s not logged: %s", id, logs.String())
				}
			}
		})
	}
}

func TestServiceStoresTraceHeader(t *testing.T) {
	db := &fakeDB{}
	svc := &Service{Table: NewTable(db, table)}
	svc.Store(t.Context(), []Message{{MessageID: "m1", GroupID: "g", Body: body(t, "a"), TraceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}})
	it := db.calls[0].RequestItems[table][0].PutRequest.Item
	if got := stringAttr(it, AttrTraceHeader); got != "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" {
		t.Errorf("traceHeader %q", got)
	}
}
