package generate

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

func mustGenerate(t *testing.T, opts Options, n int) []Record {
	t.Helper()
	rs, err := Generate(opts, n)
	if err != nil {
		t.Fatalf("Generate(%+v, %d): %v", opts, n, err)
	}
	return rs
}

func TestGenerateIsDeterministic(t *testing.T) {
	opts := Options{Seed: 7, Raw: 0.1, Invalid: 0.1, Duplicates: 0.1}
	a, b := mustGenerate(t, opts, 300), mustGenerate(t, opts, 300)
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) || a[i].DuplicateOf != b[i].DuplicateOf || a[i].Flaw != b[i].Flaw {
			t.Fatalf("record %d differs between two runs with the same options:\n%s\n%s", i, a[i].Data, b[i].Data)
		}
	}
	opts.Seed = 8
	c := mustGenerate(t, opts, 300)
	same := 0
	for i := range a {
		if bytes.Equal(a[i].Data, c[i].Data) {
			same++
		}
	}
	if same > 10 { // empty invalid records are alike whatever the seed
		t.Fatalf("%d of 300 records are the same with another seed", same)
	}
}

func TestSharesAreMetExactly(t *testing.T) {
	tests := []struct {
		name                     string
		n                        int
		raw, invalid, duplicates float64
	}{
		{"envelope only", 200, 0, 0, 0},
		{"demo mix", 200, 0.1, 0.05, 0.1},
		{"odd shares", 997, 0.13, 0.07, 0.21},
		{"nothing valid", 120, 0, 1, 0},
		{"all shares", 400, 0.3, 0.3, 0.4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := mustGenerate(t, Options{Seed: 1, Raw: tc.raw, Invalid: tc.invalid, Duplicates: tc.duplicates}, tc.n)
			var raw, invalid, dups int
			for _, r := range rs {
				switch {
				case r.Duplicate():
					dups++
				case !r.Valid():
					invalid++
				case r.Raw():
					raw++
				}
			}
			for _, c := range []struct {
				what  string
				got   int
				share float64
			}{{"raw", raw, tc.raw}, {"invalid", invalid, tc.invalid}, {"duplicates", dups, tc.duplicates}} {
				if want := float64(tc.n) * c.share; math.Abs(float64(c.got)-want) > 1 {
					t.Errorf("%s = %d of %d, want %.1f", c.what, c.got, tc.n, want)
				}
			}
		})
	}
}

func TestNewRefusesSharesItCannotMeet(t *testing.T) {
	for _, opts := range []Options{
		{Raw: -0.1},
		{Invalid: 1.5},
		{Raw: 0.5, Invalid: 0.3, Duplicates: 0.3},
		{Entities: MaxEntities + 1},
	} {
		if _, err := New(opts); !errors.Is(err, ErrOptions) {
			t.Errorf("New(%+v) = %v, want ErrOptions", opts, err)
		}
	}
}

// keyOf reads the key the design names for each kind out of the record's data.
func keyOf(t *testing.T, typ string, data json.RawMessage) string {
	t.Helper()
	var d struct {
		SKU     string `json:"sku"`
		MotorID string `json:"motorId"`
		ID      string `json:"id"`
		Detail  struct {
			InsightARN string `json:"insightArn"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("data of %s: %v", typ, err)
	}
	return map[string]string{TypeOrder: d.SKU, TypeDevice: d.MotorID, TypeInventory: d.ID, TypeSecurity: d.Detail.InsightARN}[typ]
}

func TestEnvelopeRecordsSayWhatTheyAre(t *testing.T) {
	rs := mustGenerate(t, Options{Seed: 3, Raw: 0.1, Invalid: 0.1, Duplicates: 0.15}, 600)
	ids := map[string]int{}
	lastTime := map[string]string{}
	perEntity := map[string]int{}
	types := map[string]int{}
	for _, r := range rs {
		if r.Duplicate() {
			orig := rs[r.DuplicateOf]
			if r.DuplicateOf >= r.Seq || !bytes.Equal(r.Data, orig.Data) || orig.Duplicate() {
				t.Fatalf("record %d claims to duplicate %d but does not resend its bytes", r.Seq, r.DuplicateOf)
			}
			if orig.Raw() {
				t.Fatalf("record %d duplicates raw record %d: the pipeline cannot deduplicate it", r.Seq, orig.Seq)
			}
			continue
		}
		if !r.Valid() || r.Raw() {
			continue
		}
		var env struct {
			Type, Key, ID, Time string
			Data                json.RawMessage
		}
		if err := json.Unmarshal(r.Data, &env); err != nil {
			t.Fatalf("record %d: %v\n%s", r.Seq, err, r.Data)
		}
		if env.Type != r.Type || env.Key != r.Key || env.ID != r.ID || env.Time != r.Time {
			t.Fatalf("record %d says %s/%s/%s/%s, its bytes %s", r.Seq, r.Type, r.Key, r.ID, r.Time, r.Data)
		}
		if k := keyOf(t, r.Type, env.Data); k != r.Key {
			t.Fatalf("record %d: key %q, but its data's key is %q", r.Seq, r.Key, k)
		}
		if prev, seen := ids[r.ID]; seen {
			t.Fatalf("records %d and %d share the id %s", prev, r.Seq, r.ID)
		}
		ids[r.ID] = r.Seq
		if last := lastTime[r.EntityKey()]; r.Time <= last {
			t.Fatalf("record %d of %s at %s is not later than the entity's previous record at %s", r.Seq, r.EntityKey(), r.Time, last)
		}
		lastTime[r.EntityKey()] = r.Time
		perEntity[r.EntityKey()]++
		types[r.Type]++
	}
	for _, typ := range Types {
		if types[typ] < 50 {
			t.Errorf("%d %s records of 600, want every type well present", types[typ], typ)
		}
	}
	repeated := 0
	for _, n := range perEntity {
		if n > 1 {
			repeated++
		}
	}
	if repeated < len(perEntity)/2 {
		t.Errorf("only %d of %d entities have more than one record", repeated, len(perEntity))
	}
}

func TestRawAndInvalidRecordsAreWhatTheySay(t *testing.T) {
	rs := mustGenerate(t, Options{Seed: 5, Raw: 0.2, Invalid: 0.3}, 300)
	flaws := map[Flaw]int{}
	for _, r := range rs {
		switch {
		case r.Raw():
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(r.Data, &obj); err != nil {
				t.Fatalf("raw record %d is not a JSON object: %v", r.Seq, err)
			}
			_, hasType := obj["type"]
			_, hasKey := obj["key"]
			_, hasData := obj["data"]
			if hasType && hasKey && hasData {
				t.Fatalf("raw record %d has the envelope's members: %s", r.Seq, r.Data)
			}
		case !r.Valid():
			flaws[r.Flaw]++
			if err := refusal(r); err != "" {
				t.Fatalf("invalid record %d (%s) %s: %q", r.Seq, r.Flaw, err, r.Data)
			}
		}
	}
	for _, f := range Flaws {
		if flaws[f] == 0 {
			t.Errorf("no %s record among 90 invalid ones", f)
		}
	}
}

// refusal says why r would not be refused for its flaw, or "" when it would. Schema
// violations are checked against the schemas themselves (schema_test.go).
func refusal(r Record) string {
	switch r.Flaw {
	case FlawNotJSON:
		if json.Valid(r.Data) {
			return "is valid JSON"
		}
	case FlawInvalidUTF8:
		if utf8.Valid(r.Data) {
			return "is valid UTF-8"
		}
	case FlawArray:
		var a []any
		if json.Unmarshal(r.Data, &a) != nil {
			return "is not a JSON array"
		}
	case FlawScalar:
		var s string
		if json.Unmarshal(r.Data, &s) != nil {
			return "is not a JSON string"
		}
	case FlawEmpty:
		if len(r.Data) != 0 {
			return "is not empty"
		}
	case FlawSchema:
		if !json.Valid(r.Data) {
			return "is not JSON at all"
		}
	}
	return ""
}

func TestExpect(t *testing.T) {
	env := func(seq int, typ, key, id, tm string) Record {
		return Record{Seq: seq, Type: typ, Key: key, ID: id, Time: tm, DuplicateOf: -1}
	}
	rs := []Record{
		env(0, TypeOrder, "SKU-1", "a", "2026-01-01T00:00:00.002Z"),
		env(1, TypeOrder, "SKU-1", "b", "2026-01-01T00:00:00.001Z"), // older, arrives later
		{Seq: 2, Type: record.RawType, DuplicateOf: -1},
		{Seq: 3, Flaw: FlawEmpty, DuplicateOf: -1},
		env(4, TypeDevice, "motor-1", "c", "2026-01-01T00:00:00.003Z"),
		{Seq: 5, Type: TypeOrder, Key: "SKU-1", ID: "a", Time: "2026-01-01T00:00:00.002Z", DuplicateOf: 0},
		{Seq: 6, Flaw: FlawEmpty, DuplicateOf: 3},
		env(7, TypeDevice, "motor-1", "d", "2026-01-01T00:00:00.003Z"), // same instant, greater id
	}
	x := Expect(rs)
	if x.Sent != 8 || x.Valid != 6 || x.Invalid != 2 || x.Unique != 5 {
		t.Fatalf("Sent/Valid/Invalid/Unique = %d/%d/%d/%d, want 8/6/2/5", x.Sent, x.Valid, x.Invalid, x.Unique)
	}
	if x.SentByID["a"] != 2 || x.SentByID["b"] != 1 || len(x.SentByID) != 4 {
		t.Fatalf("SentByID = %v", x.SentByID)
	}
	if got := x.Newest["order#SKU-1"].ID; got != "a" {
		t.Errorf("newest order#SKU-1 = %q, want a (the later time, not the later arrival)", got)
	}
	if got := x.Newest["device#motor-1"].ID; got != "d" {
		t.Errorf("newest device#motor-1 = %q, want d (id breaks the tie)", got)
	}
	if len(x.Raw) != 1 || len(x.Failed) != 2 || x.UniqueByType[TypeOrder] != 2 || x.UniqueByType[record.RawType] != 1 {
		t.Errorf("Raw %d, Failed %d, UniqueByType %v", len(x.Raw), len(x.Failed), x.UniqueByType)
	}
}

func TestExpectOfAGeneratedSequence(t *testing.T) {
	rs := mustGenerate(t, Options{Seed: 11, Raw: 0.1, Invalid: 0.05, Duplicates: 0.1}, 200)
	x := Expect(rs)
	if x.Sent != 200 || x.Invalid != len(x.Failed) || x.Valid+x.Invalid != 200 {
		t.Fatalf("Sent %d Valid %d Invalid %d Failed %d", x.Sent, x.Valid, x.Invalid, len(x.Failed))
	}
	// Time increases along the sequence, so each entity's newest record is its last original.
	last := map[string]Record{}
	for _, r := range rs {
		if r.Valid() && !r.Raw() && !r.Duplicate() {
			last[r.EntityKey()] = r
		}
	}
	if len(last) != len(x.Newest) {
		t.Fatalf("%d entities, Expect has %d", len(last), len(x.Newest))
	}
	for k, r := range last {
		if x.Newest[k].ID != r.ID {
			t.Errorf("newest of %s = %s, want %s", k, x.Newest[k].ID, r.ID)
		}
	}
}
