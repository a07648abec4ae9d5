package record

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// FuzzUnmarshalMatchesEncodingJSON holds Unmarshal to json.Unmarshal: the same record, or an
// error both times with the same message.
func FuzzUnmarshalMatchesEncodingJSON(f *testing.F) {
	canonical := Record{
		ID: "a1", Type: "order", Key: "k<&>\u2028é", Time: "2026-11-23T10:00:00.123Z",
		ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "s", Data: json.RawMessage(`{"x":[1,{"y":"z"}]}`),
	}
	for _, s := range []string{
		string(canonical.AppendJSON(nil)),
		`{"ID":"a"}`, `{"id":null}`, `{"id":7}`,
		`{"data":null}`, `{"data":{},"data":{"a":1}}`, ` { "id" : "a\"b" , "other" : [true] } `,
		`{"id":"a"} x`, `[]`, ``, `{"ſource":"s"}`, `{"id":"\ud800"}`, "{\"id\":\"\xff\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := Unmarshal(s)
		var want Record
		wantErr := json.Unmarshal([]byte(s), &want)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("%q: error %v, json.Unmarshal %v", s, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got  %#v\n want %#v", s, got, want)
		}
	})
}

func TestUnmarshalTakesTheStringsFromTheText(t *testing.T) {
	s := string(Record{ID: "a", Type: "order", Key: "k", Time: "t", ReceivedAt: "r", Source: "s", Data: json.RawMessage(`{"x":1}`)}.AppendJSON(nil))
	// One allocation: the copy of data, which a Record holds as bytes.
	if n := testing.AllocsPerRun(100, func() { _, _ = Unmarshal(s) }); n != 1 {
		t.Errorf("%v allocations, want 1", n)
	}
}
