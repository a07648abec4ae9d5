package projection

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// table is what the convergence and pagination tests need of a projection table.
type table interface {
	ItemPutter
	ItemReader
}

// motoTable starts moto_server and creates the projection table as template.yaml declares it:
// pk (S, HASH), sk (S, RANGE), on demand.
func motoTable(t *testing.T) *dynamodb.Client {
	t.Helper()
	client := dynamodb.NewFromConfig(mototest.StartConfig(t))
	mototest.CreateKeyTable(t, client, "Projection", false)
	return client
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// testConvergence applies the events of one entity in every order, each order twice over (the
// second pass is all duplicates), and checks that every entity ends at the newest event and
// that exactly the events newer than everything before them were written. n (4 or 5) is how many
// of the events take part: 5 gives 120 orders, 4 gives 24, enough for moto's share of the check
// (tie-break, time over id, duplicates) without 1,200 calls in every CI run.
func testConvergence(t *testing.T, tbl table, n int) {
	// Two events share the newest time, so the id decides; one older event has the greatest id,
	// so time must win over id.
	events := []struct{ id, time string }{
		{"m", "2026-11-23T10:00:00.001Z"},
		{"a", "2026-11-23T10:00:00.002Z"},
		{"z", "2026-11-23T10:00:00.002Z"}, // the newest
		{"zz", "2026-11-23T10:00:00.000Z"},
		{"b", "2026-11-23T09:59:59.999Z"},
	}
	events = events[:n]
	const newest = 2
	w, rd := NewWriter(tbl, "Projection"), NewReader(tbl, "Projection")
	for n, perm := range permutations(len(events)) {
		key := fmt.Sprintf("sku-%03d", n)
		rec := func(i int) record.Record {
			e := events[i]
			return record.Record{
				ID: e.id, Type: "order", Key: key, Time: e.time, ReceivedAt: e.time, Source: "test",
				Data: json.RawMessage(fmt.Sprintf(`{"event":%d}`, i)),
			}
		}
		var best *record.Record
		for pass := range 2 {
			for _, i := range perm {
				r := rec(i)
				wantApplied := best == nil || r.Newer(*best)
				applied, err := w.Apply(t.Context(), r)
				if err != nil {
					t.Fatalf("order %v: Apply(%s): %v", perm, r.ID, err)
				}
				if !applied && wantApplied {
					// The SDK retries a call whose answer was lost (seen on a loaded machine as
					// "use of closed network connection"); the retry of a write that took effect
					// meets its own condition and reports a skip. What counts is that the table
					// holds the record.
					if got, err := rd.Get(t.Context(), "order", key); err == nil && got.ID == r.ID {
						applied = true
					}
				}
				if applied != wantApplied {
					t.Fatalf("order %v pass %d: Apply(%s at %s) applied = %v, want %v (stored: %+v)", perm, pass, r.ID, r.Time, applied, wantApplied, best)
				}
				if applied {
					best = &r
				}
			}
		}
		got, err := rd.Get(t.Context(), "order", key)
		if err != nil {
			t.Fatalf("order %v: Get: %v", perm, err)
		}
		if want := rec(newest); !reflect.DeepEqual(got, want) {
			t.Fatalf("order %v: projection holds %+v, want %+v", perm, got, want)
		}
	}
}

func TestConvergenceInMemory(t *testing.T) {
	testConvergence(t, newMemTable(), 5)
}

func TestConvergenceOnMoto(t *testing.T) {
	testConvergence(t, motoTable(t), 4)
}

func TestPaginationOnMoto(t *testing.T) {
	client := motoTable(t)
	w := NewWriter(client, "Projection")
	for i := range 5 {
		for _, typ := range []string{"order", "device"} {
			r := record.Record{ID: "i", Type: typ, Key: fmt.Sprintf("k%d", i), Time: "2026-11-23T10:00:00.000Z", Data: json.RawMessage(`{"n":1}`)}
			if _, err := w.Apply(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	rd := NewReader(client, "Projection")
	keys, pages := walk(t, rd, "order", 2)
	if want := []string{"k0", "k1", "k2", "k3", "k4"}; !reflect.DeepEqual(keys, want) || pages != 3 {
		t.Fatalf("limit 2: keys %v in %d pages, want %v in 3", keys, pages, want)
	}
	// A cursor that names no stored key still positions the listing: DynamoDB takes it as a
	// place in key order, so a forged cursor shows nothing a caller could not list anyway.
	page, err := rd.List(t.Context(), "order", 10, &Cursor{Key: "k2-forged"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 2 || page.Records[0].Key != "k3" || page.Next != nil {
		t.Fatalf("after a forged cursor: %+v", page)
	}
	if _, err := rd.Get(t.Context(), "order", "k9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing entity on moto: %v", err)
	}
}
