package store

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// TestPutIsAppendOnly sends records whose identity the table holds: with the same data (and other
// ingest metadata) they are Unchanged and nothing is written; with other data they are Conflicts
// naming the stored hash, and nothing is written either.
func TestPutIsAppendOnly(t *testing.T) {
	awsfake.NoRetryWait(t)
	db := &fakeDB{}
	tbl := NewTable(db, table)
	if outs, err := tbl.Put(t.Context(), []Entry{{Record: rec("a")}, {Record: rec("b")}}); err != nil || NotStoredOf(outs) != nil {
		t.Fatalf("first put: %v %v", outs, err)
	}
	writes := len(db.calls)

	resent := rec("a")
	resent.ReceivedAt, resent.Source = "2026-11-24T00:00:00.000Z", "replay"
	changed := rec("b")
	changed.Data = []byte(`{"sku":"sku-b","price":1}`)
	fresh := rec("c")
	outs, err := tbl.Put(t.Context(), []Entry{{Record: resent, TraceHeader: "Root=1-new"}, {Record: changed}, {Record: fresh}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{{Kind: Unchanged}, {Kind: Conflict, StoredHash: rec("b").ContentHash()}, {Kind: Written}}
	if !slices.Equal(outs, want) {
		t.Errorf("outcomes %+v, want %+v", outs, want)
	}
	if got := db.sortKeys()[writes:]; !slices.EqualFunc(got, [][]string{{sk("c")}}, slices.Equal) {
		t.Errorf("writes %v, want only the new record c", got)
	}
	if h := stringAttr(db.items["order#sku-b/"+sk("b")], AttrContentHash); h != rec("b").ContentHash() {
		t.Errorf("stored b has hash %s: the conflict was written", h)
	}
}

func TestPutConflictWithinOneBatch(t *testing.T) {
	awsfake.NoRetryWait(t)
	db := &fakeDB{}
	changed := rec("a")
	changed.Data = []byte(`{"other":true}`)
	outs, err := NewTable(db, table).Put(t.Context(), []Entry{{Record: rec("a")}, {Record: changed}, {Record: rec("a")}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{{Kind: Written}, {Kind: Conflict, StoredHash: rec("a").ContentHash()}, {Kind: Unchanged}}
	if !slices.Equal(outs, want) {
		t.Errorf("outcomes %+v, want %+v", outs, want)
	}
}

// TestPutComparesItemsWithoutHash reads items written before items kept their content hash: the
// same data is Unchanged, other data a Conflict with no stored hash to name.
func TestPutComparesItemsWithoutHash(t *testing.T) {
	awsfake.NoRetryWait(t)
	db := &fakeDB{items: map[string]map[string]types.AttributeValue{}}
	for _, id := range []string{"a", "b"} {
		it, err := Item(Entry{Record: rec(id)})
		if err != nil {
			t.Fatal(err)
		}
		delete(it, AttrContentHash)
		db.items[stringAttr(it, AttrPK)+"/"+stringAttr(it, AttrSK)] = it
	}
	changed := rec("b")
	changed.Data = []byte(`{"sku":"sku-b"}`)
	outs, err := NewTable(db, table).Put(t.Context(), []Entry{{Record: rec("a")}, {Record: changed}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Outcome{{Kind: Unchanged}, {Kind: Conflict}}; !slices.Equal(outs, want) {
		t.Errorf("outcomes %+v, want %+v", outs, want)
	}
	if len(db.calls) != 0 {
		t.Errorf("%d writes, want none", len(db.calls))
	}
}

// TestPutReadFailures: keys DynamoDB leaves unprocessed are read again; a read that keeps
// failing writes nothing and reports the entries NotStored, so their messages come back.
func TestPutReadFailures(t *testing.T) {
	awsfake.NoRetryWait(t)
	db := &fakeDB{deferGets: 2}
	outs, err := NewTable(db, table).Put(t.Context(), []Entry{{Record: rec("a")}, {Record: rec("b")}, {Record: rec("c")}})
	if err != nil || NotStoredOf(outs) != nil || len(db.gets) != 3 {
		t.Errorf("with unprocessed keys: %v, %v after %d reads; want all written after 3 reads", outs, err, len(db.gets))
	}

	db = &fakeDB{getErr: errors.New("ProvisionedThroughputExceededException")}
	outs, err = NewTable(db, table).Put(t.Context(), []Entry{{Record: rec("a")}, {Record: rec("b")}})
	if err == nil || !slices.Equal(NotStoredOf(outs), []int{0, 1}) || len(db.calls) != 0 {
		t.Errorf("with a failing read: %v, %v, %d writes; want both NotStored, an error and no write", outs, err, len(db.calls))
	}
}

// sink is a ConflictSink that keeps what it is sent, or fails.
type sink struct {
	kept []record.Record
	err  error
}

func (s *sink) Send(_ context.Context, recs []record.Record, _ string) error {
	if s.err != nil {
		return s.err
	}
	s.kept = append(s.kept, recs...)
	return nil
}

// TestServiceKeepsConflicts: a conflict goes to the sink and not back to the queue, so it never
// holds its entity's group; when the sink fails, it goes back like a failed write.
func TestServiceKeepsConflicts(t *testing.T) {
	awsfake.NoRetryWait(t)
	changed := rec("a")
	changed.Data = []byte(`{"other":true}`)
	enc := func(r record.Record) string {
		b, _ := json.Marshal(r)
		return string(b)
	}
	group := rec("a").GroupID()
	for _, tt := range []struct {
		name       string
		sink       *sink
		wantFailed []string
		wantStored int
		conflicts  int
	}{
		{"kept", &sink{}, nil, 2, 1},
		{"sink fails: back to the queue, with the rest of its group", &sink{err: errors.New("queue down")}, []string{"m2", "m3"}, 2, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := &fakeDB{}
			svc := &Service{Table: NewTable(db, table), Conflicts: tt.sink, Logger: slog.New(slog.DiscardHandler)}
			if res := svc.Store(t.Context(), []Message{{MessageID: "m0", GroupID: group, Body: enc(rec("a"))}}); res.Stored != 1 {
				t.Fatalf("first store: %+v", res)
			}
			res := svc.Store(t.Context(), []Message{
				{MessageID: "m1", GroupID: group, Body: enc(rec("a"))},
				{MessageID: "m2", GroupID: group, Body: enc(changed)},
				{MessageID: "m3", GroupID: group, Body: enc(rec("d"))},
			})
			if !slices.Equal(res.Failed, tt.wantFailed) || res.Stored != tt.wantStored || res.Conflicts != tt.conflicts || res.Unchanged != 1 {
				t.Errorf("result %+v; want failed %v, %d stored, %d conflicts, 1 unchanged", res, tt.wantFailed, tt.wantStored, tt.conflicts)
			}
			if tt.sink.err == nil && (len(tt.sink.kept) != 1 || tt.sink.kept[0].ContentHash() != changed.ContentHash()) {
				t.Errorf("sink kept %v, want the conflicting record", tt.sink.kept)
			}
		})
	}
}
