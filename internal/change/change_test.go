package change

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// kinesisData builds a record as DynamoDB's Kinesis streaming destination writes it, with the
// dynamodb object given.
func kinesisData(eventName, dynamodb string) []byte {
	return []byte(`{"awsRegion":"us-east-1","eventID":"c5d7a4e9-0001","eventName":"` + eventName + `",` +
		`"userIdentity":null,"recordFormat":"application/json","tableName":"stream-to-events-EventStoreTable-X",` +
		`"dynamodb":` + dynamodb + `,"eventSource":"aws:dynamodb"}`)
}

const keys = `"Keys":{"pk":{"S":"order#SKU-1"},"sk":{"S":"2026-11-23T10:00:00.120Z#o-1"}}`

func TestLineOperations(t *testing.T) {
	tests := []struct {
		name, event, dynamodb, want string
	}{
		{
			name:     "insert has the new image only",
			event:    "INSERT",
			dynamodb: `{"ApproximateCreationDateTime":1795428000123,"ApproximateCreationDateTimePrecision":"MILLISECOND",` + keys + `,"NewImage":{"pk":{"S":"order#SKU-1"},"price":{"N":"42.50"}},"SizeBytes":80}`,
			want: `{"operation":"INSERT","table":"stream-to-events-EventStoreTable-X","keys":{"pk":"order#SKU-1","sk":"2026-11-23T10:00:00.120Z#o-1"},` +
				`"newImage":{"pk":"order#SKU-1","price":42.50},"oldImage":null,"approximateCreationTime":"2026-11-23T10:00:00.123Z","eventId":"c5d7a4e9-0001"}` + "\n",
		},
		{
			name:     "modify has both images",
			event:    "MODIFY",
			dynamodb: `{"ApproximateCreationDateTime":1795428000123456,"ApproximateCreationDateTimePrecision":"MICROSECOND",` + keys + `,"NewImage":{"n":{"N":"2"}},"OldImage":{"n":{"N":"1"}},"SizeBytes":80}`,
			want: `{"operation":"MODIFY","table":"stream-to-events-EventStoreTable-X","keys":{"pk":"order#SKU-1","sk":"2026-11-23T10:00:00.120Z#o-1"},` +
				`"newImage":{"n":2},"oldImage":{"n":1},"approximateCreationTime":"2026-11-23T10:00:00.123Z","eventId":"c5d7a4e9-0001"}` + "\n",
		},
		{
			name:     "remove has the old image only",
			event:    "REMOVE",
			dynamodb: `{"ApproximateCreationDateTime":1795428000123,` + keys + `,"OldImage":{"n":{"N":"1"}},"SizeBytes":80}`,
			want: `{"operation":"REMOVE","table":"stream-to-events-EventStoreTable-X","keys":{"pk":"order#SKU-1","sk":"2026-11-23T10:00:00.120Z#o-1"},` +
				`"newImage":null,"oldImage":{"n":1},"approximateCreationTime":"2026-11-23T10:00:00.123Z","eventId":"c5d7a4e9-0001"}` + "\n",
		},
		{
			name:     "microseconds without a stated precision",
			event:    "INSERT",
			dynamodb: `{"ApproximateCreationDateTime":1795428000123999,` + keys + `,"NewImage":{}}`,
			want: `{"operation":"INSERT","table":"stream-to-events-EventStoreTable-X","keys":{"pk":"order#SKU-1","sk":"2026-11-23T10:00:00.120Z#o-1"},` +
				`"newImage":{},"oldImage":null,"approximateCreationTime":"2026-11-23T10:00:00.123Z","eventId":"c5d7a4e9-0001"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Line(kinesisData(tt.event, tt.dynamodb))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("line\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestLineAttributeTypes: every DynamoDB type becomes the plain JSON a reader expects.
func TestLineAttributeTypes(t *testing.T) {
	tests := []struct {
		name, attr, want string
	}{
		{"string as DynamoDB escaped it", `{"S":"héllo \"x\" <b> \u00e9"}`, `"héllo \"x\" <b> \u00e9"`},
		{"number kept exactly", `{"N":"12345678901234567890.123456789"}`, `12345678901234567890.123456789`},
		{"negative exponent number", `{"N":"-1E-130"}`, `-1E-130`},
		{"binary as base64", `{"B":"AAEC/w=="}`, `"AAEC/w=="`},
		{"true", `{"BOOL":true}`, `true`},
		{"false", `{"BOOL":false}`, `false`},
		{"null", `{"NULL":true}`, `null`},
		{"map with sorted keys", `{"M":{"b":{"N":"2"},"a":{"S":"x"}}}`, `{"a":"x","b":2}`},
		{"empty map", `{"M":{}}`, `{}`},
		{"list of mixed types", `{"L":[{"S":"a"},{"N":"1"},{"NULL":true},{"L":[]}]}`, `["a",1,null,[]]`},
		{"string set", `{"SS":["a","b"]}`, `["a","b"]`},
		{"number set", `{"NS":["1","2.5"]}`, `[1,2.5]`},
		{"binary set", `{"BS":["AQ==","Ag=="]}`, `["AQ==","Ag=="]`},
		{"nested deep", `{"M":{"l":{"L":[{"M":{"ss":{"SS":["z"]}}}]}}}`, `{"l":[{"ss":["z"]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Line(kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"v":`+tt.attr+`}}`))
			if err != nil {
				t.Fatal(err)
			}
			var line struct {
				NewImage map[string]json.RawMessage `json:"newImage"`
			}
			if err := json.Unmarshal(got, &line); err != nil {
				t.Fatalf("line is not JSON: %v\n%s", err, got)
			}
			if v := string(line.NewImage["v"]); v != tt.want {
				t.Errorf("newImage.v = %s, want %s", v, tt.want)
			}
		})
	}
}

func TestLineRefuses(t *testing.T) {
	good := `{"ApproximateCreationDateTime":1795428000123,` + keys + `,"NewImage":{"a":{"S":"x"}}}`
	tests := []struct {
		name string
		data []byte
		why  string
	}{
		{"not JSON", []byte("order,SKU-1,42.5"), "invalid character"},
		{"empty", nil, "unexpected end"},
		{"a JSON array", []byte(`[1]`), "cannot unmarshal"},
		{"another source", []byte(strings.Replace(string(kinesisData("INSERT", good)), "aws:dynamodb", "aws:kinesis", 1)), "eventSource"},
		{"another format", []byte(strings.Replace(string(kinesisData("INSERT", good)), "application/json", "ION", 1)), "recordFormat"},
		{"unknown operation", kinesisData("UPSERT", good), "eventName"},
		{"no table", []byte(strings.Replace(string(kinesisData("INSERT", good)), "stream-to-events-EventStoreTable-X", "", 1)), "tableName"},
		{"no event ID", []byte(strings.Replace(string(kinesisData("INSERT", good)), "c5d7a4e9-0001", "", 1)), "eventID"},
		{"no dynamodb", []byte(`{"eventID":"e","eventName":"INSERT","tableName":"t","eventSource":"aws:dynamodb"}`), "no dynamodb"},
		{"no keys", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,"NewImage":{}}`), "Keys"},
		{"insert without new image", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`}`), "NewImage"},
		{"no creation time", kinesisData("INSERT", `{`+keys+`,"NewImage":{}}`), "ApproximateCreationDateTime"},
		{"fractional creation time", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000.5,`+keys+`,"NewImage":{}}`), "positive integer"},
		{"unknown precision", kinesisData("INSERT", `{"ApproximateCreationDateTime":1,"ApproximateCreationDateTimePrecision":"SECOND",`+keys+`,"NewImage":{}}`), "Precision"},
		{"unknown attribute type", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":{"X":"1"}}}`), "X"},
		{"malformed number", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":{"N":"1.2.3"}}}`), "not a number"},
		{"number set with a string", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":{"NS":["1","x"]}}}`), "not a number"},
		{"two types in one value", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":{"S":"x","N":"1"}}}`), "one type"},
		{"string typed as number", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":{"S":1}}}`), "must be a string"},
		{"NULL false", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":{"NULL":false}}}`), "NULL"},
		{"image not an object", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":[1]}`), "JSON object"},
		{"list member not a value", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":{"L":["x"]}}}`), "JSON object"},
		{"deeper than DynamoDB allows", kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":`+strings.Repeat(`{"M":{"a":`, 40)+`{"S":"x"}`+strings.Repeat(`}}`, 40)+`}}`), "deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("kept")
			got, err := AppendLine(dst, tt.data)
			if !errors.Is(err, ErrNotChange) {
				t.Fatalf("err = %v, want ErrNotChange", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("err = %v, want it to say %q", err, tt.why)
			}
			if string(got) != "kept" {
				t.Errorf("dst = %q after a refusal, want it as it was", got)
			}
		})
	}
}

// TestAppendLineAppends: lines of a batch can share one buffer.
func TestAppendLineAppends(t *testing.T) {
	data := kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,`+keys+`,"NewImage":{"a":{"S":"x"}}}`)
	buf, err := AppendLine(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	one := string(buf)
	if buf, err = AppendLine(buf, data); err != nil {
		t.Fatal(err)
	}
	if string(buf) != one+one || strings.Count(string(buf), "\n") != 2 {
		t.Errorf("two appended lines = %q", buf)
	}
}

func BenchmarkLine(b *testing.B) {
	data := kinesisData("INSERT", `{"ApproximateCreationDateTime":1795428000123,"ApproximateCreationDateTimePrecision":"MILLISECOND",`+keys+
		`,"NewImage":{"pk":{"S":"order#SKU-1001"},"sk":{"S":"2026-11-23T10:00:00.120Z#order-20261123-0001"},"id":{"S":"order-20261123-0001"},`+
		`"type":{"S":"order"},"key":{"S":"SKU-1001"},"time":{"S":"2026-11-23T10:00:00.120Z"},"receivedAt":{"S":"2026-11-23T10:00:00.456Z"},`+
		`"source":{"S":"stream-to-events-IngestDeliveryStream-X"},"data":{"M":{"customer":{"M":{"name":{"S":"Ada Lovelace"}}},"sku":{"S":"SKU-1001"},`+
		`"price":{"N":"42.5"},"shipTo":{"M":{"name":{"S":"Ada Lovelace"},"address":{"S":"12 Analytical Way"},"city":{"S":"Springfield"},"state":{"S":"IL"},"zip":{"S":"62701"}}}}}},"SizeBytes":420}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = AppendLine(buf[:0], data); err != nil {
			b.Fatal(err)
		}
	}
}
