package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
)

const contractsDir = "../../layers/contracts"

var meta = Meta{Source: "ingest", ArrivalMillis: 1795428000456} // 2026-11-23T10:00:00.456Z

func newParser(t testing.TB) *Parser {
	t.Helper()
	set, err := contracts.Load(contractsDir)
	if err != nil {
		t.Fatal(err)
	}
	return NewParser(set)
}

const (
	order  = `{"type":"order","key":"SKU-1","id":"o-1","time":"2026-11-23T11:00:00.1234+01:00","data":{"customer":{"name":"Ada"},"sku":"SKU-1","price":12.5,"shipTo":{"name":"Ada","address":"1 Main St","city":"Springfield","state":"IL","zip":"62701"},"billTo":{"name":"Ada","address":"1 Main St","city":"Springfield","state":"IL","zip":"62701"}}}`
	device = `{"type":"device","key":"motor-7","data":{"motorId":"motor-7","sensorData":{"readingId":"r-1","pressure":101.3,"temperature":-4}}}`
)

func TestParseAccepts(t *testing.T) {
	p := newParser(t)
	tests := []struct {
		name string
		in   string
		want Record // Data compared as a string; ID "" means derived (checked separately)
	}{
		{"order envelope with id and time", order, Record{ID: "o-1", Type: "order", Key: "SKU-1", Time: "2026-11-23T10:00:00.123Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(order[strings.Index(order, `{"customer"`) : len(order)-1])}},
		{"device envelope without id and time", device, Record{Type: "device", Key: "motor-7", Time: "2026-11-23T10:00:00.456Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(`{"motorId":"motor-7","sensorData":{"readingId":"r-1","pressure":101.3,"temperature":-4}}`)}},
		{"type without schema", `{"type":"parcel","key":"p-1","data":{"weight":3}}`, Record{Type: "parcel", Key: "p-1", Time: "2026-11-23T10:00:00.456Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(`{"weight":3}`)}},
		{"raw object", `{"hello":"world","n":[1,2,{"x":null}]}`, Record{Type: RawType, Time: "2026-11-23T10:00:00.456Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(`{"hello":"world","n":[1,2,{"x":null}]}`)}},
		{"type without data is raw", `{"type":"order","key":"x"}`, Record{Type: RawType, Time: "2026-11-23T10:00:00.456Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(`{"type":"order","key":"x"}`)}},
		{"pretty printed, HTML characters: compacted and escaped for one line per record", "{\n  \"type\": \"note\",\n  \"key\": \"a<b\",\n  \"data\": {\n    \"text\": \"x & y\\n\",\n    \"sep\": \"\u2028\"\n  }\n}\n",
			Record{Type: "note", Key: "a<b", Time: "2026-11-23T10:00:00.456Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
				Data: json.RawMessage(`{"text":"x \u0026 y\n","sep":"\u2028"}`)}},
		{"escaped envelope names and values", `{"typ\u0065":"n\u006fte","key":"k\"1","data":{}}`, Record{Type: "note", Key: `k"1`, Time: "2026-11-23T10:00:00.456Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(`{}`)}},
		{"31 levels of data", `{"type":"deep","key":"k","data":` + strings.Repeat(`{"a":`, 30) + `{}` + strings.Repeat(`}`, 30) + `}`, Record{Type: "deep", Key: "k", Time: "2026-11-23T10:00:00.456Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(strings.Repeat(`{"a":`, 30) + `{}` + strings.Repeat(`}`, 30))}},
		{"big but storable numbers", `{"n":1e125,"m":-12345678901234567890123456789012345678,"s":1.5E-129}`, Record{Type: RawType, Time: "2026-11-23T10:00:00.456Z", ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest",
			Data: json.RawMessage(`{"n":1e125,"m":-12345678901234567890123456789012345678,"s":1.5E-129}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Parse([]byte(tt.in), meta)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.want.ID == "" {
				if len(got.ID) != 32 || strings.Trim(got.ID, "0123456789abcdef") != "" {
					t.Errorf("derived id = %q, want 32 hex digits", got.ID)
				}
				tt.want.ID = got.ID
			}
			if tt.want.Key == "" {
				tt.want.Key = got.ID // a raw record is keyed by its id
			}
			if string(got.Data) != string(tt.want.Data) {
				t.Errorf("data = %s\nwant   %s", got.Data, tt.want.Data)
			}
			got.Data, tt.want.Data = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("record = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	p := newParser(t)
	big := `{"pad":"` + strings.Repeat("x", MaxInputSize) + `"}`
	canonicalTooBig := `{"pad":"` + strings.Repeat("x", MaxCanonicalSize) + `"}`
	tests := []struct {
		name, in string
		want     error
		mention  string // a piece of the message a producer needs
	}{
		{"empty", ``, ErrNotJSON, "empty"},
		{"blank", " \n", ErrNotJSON, "empty"},
		{"not JSON", `hello`, ErrNotJSON, "unexpected character"},
		{"truncated", `{"a":1`, ErrNotJSON, "end of input"},
		{"trailing data", `{"a":1} {"b":2}`, ErrNotJSON, "after the end"},
		{"single quotes", `{'a':1}`, ErrNotJSON, "member name"},
		{"control character", "{\"a\":\"x\ty\"}", ErrNotJSON, "control character"},
		{"bad escape", `{"a":"\x"}`, ErrNotJSON, "escape"},
		{"leading zero", `{"a":01}`, ErrNotJSON, "expected"},
		{"array", `[{"a":1}]`, ErrNotObject, "array"},
		{"string", `"x"`, ErrNotObject, "string"},
		{"number", `42`, ErrNotObject, "number"},
		{"null", `null`, ErrNotObject, "null"},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", ErrInvalidUTF8, "UTF-8"},
		{"over 1,000 KiB", big, ErrTooLarge, "1024000"},
		{"canonical record over 240 KiB", canonicalTooBig, ErrTooLarge, "canonical"},
		{"10,000 levels deep", strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000), ErrUnstorable, "nested"},
		{"10,000 levels deep array", strings.Repeat(`[`, 10000), ErrNotObject, "array"},
		{"32 levels of raw data", strings.Repeat(`{"a":`, 31) + `{}` + strings.Repeat(`}`, 31), ErrUnstorable, "nested"},
		{"32 levels of envelope data", `{"type":"deep","key":"k","data":` + strings.Repeat(`{"a":`, 31) + `{}` + strings.Repeat(`}`, 31) + `}`, ErrUnstorable, "nested"},
		{"huge number", `{"n":1e400}`, ErrUnstorable, "1e400"},
		{"too precise number", `{"n":1.23456789012345678901234567890123456789}`, ErrUnstorable, "38 digits"},
		{"empty member name", `{"a":[{"":1}]}`, ErrUnstorable, "empty"},
		{"empty member name in envelope data", `{"type":"x","key":"k","data":{"b":{"":1}}}`, ErrUnstorable, "empty"},
		{"member name over 64 KiB", `{"` + strings.Repeat("k", 64<<10+1) + `":1}`, ErrUnstorable, "64 KiB"},
		{"noncharacter", "{\"a\":\"\uffff\"}", ErrUnstorable, "U+FFFF"},
		{"envelope without key", `{"type":"order","data":{}}`, ErrEnvelope, `"key" is missing`},
		{"envelope with empty key", `{"type":"x","key":"","data":{}}`, ErrEnvelope, "key must be"},
		{"envelope with long key", `{"type":"x","key":"` + strings.Repeat("k", 1025) + `","data":{}}`, ErrEnvelope, "key must be"},
		{"envelope key not a string", `{"type":"x","key":7,"data":{}}`, ErrEnvelope, `"key" must be a string`},
		{"envelope type with a space", `{"type":"my type","key":"k","data":{}}`, ErrEnvelope, "type"},
		{"envelope data not an object", `{"type":"x","key":"k","data":[1]}`, ErrEnvelope, "data must be a JSON object"},
		{"envelope id with a slash", `{"type":"x","key":"k","id":"a/b","data":{}}`, ErrEnvelope, "id"},
		{"envelope id too long", `{"type":"x","key":"k","id":"` + strings.Repeat("i", 65) + `","data":{}}`, ErrEnvelope, "id"},
		{"envelope time not RFC 3339", `{"type":"x","key":"k","time":"23/11/2026","data":{}}`, ErrEnvelope, "RFC 3339"},
		{"envelope unknown field", `{"type":"x","key":"k","data":{},"extra":1}`, ErrEnvelope, `"extra"`},
		{"envelope duplicate field", `{"type":"x","key":"k","data":{},"key":"j"}`, ErrEnvelope, "twice"},
		{"schema: price as string", strings.Replace(order, `12.5`, `"12.5"`, 1), ErrSchema, "/data/price"},
		{"schema: missing sensorData", `{"type":"device","key":"m","data":{"motorId":"m"}}`, ErrSchema, "sensorData"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Parse([]byte(tt.in), meta)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestDerivedIDIsDeterministic(t *testing.T) {
	p := newParser(t)
	raw := []byte(`{"a":1}`)
	first, err := p.Parse(raw, meta)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := p.Parse(raw, meta)
	if first.ID != again.ID {
		t.Errorf("a Firehose retry got a new id: %s then %s", first.ID, again.ID)
	}
	for name, m := range map[string]Meta{
		"other stream":  {Source: "other", ArrivalMillis: meta.ArrivalMillis},
		"other arrival": {Source: meta.Source, ArrivalMillis: meta.ArrivalMillis + 1},
	} {
		r, _ := p.Parse(raw, m)
		if r.ID == first.ID {
			t.Errorf("%s: same id %s for a different arrival", name, r.ID)
		}
	}
}

// TestAppendJSONMatchesMarshal pins the hand-written encoder to encoding/json's output, which
// the other hops read and write.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	p := newParser(t)
	for _, in := range []string{order, device, `{"type":"x","key":"<&>\u2028\u00e9\"\\","data":{"a":"<b>"}}`, `{"x":"\u00e9\ud83d\ude00"}`} {
		r, err := p.Parse([]byte(in), meta)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got := r.AppendJSON(nil)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendJSON = %s\njson.Marshal = %s", got, want)
		}
		if r.JSONLen() != len(want) {
			t.Errorf("JSONLen = %d, want %d", r.JSONLen(), len(want))
		}
		if _, err := jsonattr.FromJSON(r.Data); err != nil {
			t.Errorf("the store could not hold accepted data %s: %v", r.Data, err)
		}
	}
	if got := string(Record{}.AppendJSON(nil)); got != `{"id":"","type":"","key":"","time":"","receivedAt":"","source":"","data":null}` {
		t.Errorf("empty record = %s", got)
	}
}

func TestParseWithoutContracts(t *testing.T) {
	r, err := NewParser(nil).Parse([]byte(`{"type":"order","key":"k","data":{"price":"free"}}`), meta)
	if err != nil || r.Type != "order" {
		t.Errorf("without contracts every envelope type is accepted; got %+v, %v", r, err)
	}
}

func BenchmarkParse(b *testing.B) {
	p := newParser(b)
	for _, bc := range []struct {
		name, in string
		bad      bool
	}{
		{"order", order, false}, {"device", device, false}, {"raw", `{"hello":"world","n":[1,2,{"x":null}],"when":"2026-11-23"}`, false},
		{"refused/10000-deep", strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000), true},
		{"refused/schema", strings.Replace(order, `12.5`, `"12.5"`, 1), true},
		{"refused/not-json", order[:len(order)-1], true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.in)
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := p.Parse(raw, meta); (err != nil) != bc.bad {
					b.Fatal(err)
				}
			}
		})
	}
}
