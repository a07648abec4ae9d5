package change

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
)

// viaJSONAttr is the straightforward conversion the byte scanner replaces: aws-lambda-go's
// attribute values, then jsonattr. It stands as the reference the scanner must agree with.
func viaJSONAttr(image []byte) ([]byte, error) {
	var m map[string]events.DynamoDBAttributeValue
	if err := json.Unmarshal(image, &m); err != nil {
		return nil, err
	}
	avs, err := jsonattr.FromLambdaMap(m)
	if err != nil {
		return nil, err
	}
	return jsonattr.AppendJSON(nil, &types.AttributeValueMemberM{Value: avs})
}

// sameJSON compares two JSON texts as values, numbers as written.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(x []byte) any {
		d := json.NewDecoder(strings.NewReader(string(x)))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("not JSON: %v: %s", err, x)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

var imageSeeds = []string{
	`{}`,
	`{"a":{"S":"x"},"b":{"N":"-1.50E+3"},"c":{"B":"AAEC/w=="},"d":{"BOOL":false},"e":{"NULL":true}}`,
	`{"s":{"SS":["a","b\"c"]},"n":{"NS":["0","1e-130"]},"b":{"BS":["AQ=="]}}`,
	`{"l":{"L":[{"M":{"z":{"S":"é <&>"}}},{"L":[]},{"N":"12345678901234567890123456789012345678"}]}}`,
	`{ "spaced" : { "M" : { "k" : { "S" : "v" } } } }`,
	`{"a":{"N":"1.2.3"}}`,
	`{"a":{"X":"1"}}`,
	`{"a":{"S":"x","N":"1"}}`,
	`{"a":{"NS":["1","x"]}}`,
}

// TestImageAgreesWithJSONAttr: for every image both accept, the scanner gives the same JSON
// values as the aws-lambda-go + jsonattr path; what it refuses, that path refuses or turns into
// something that is not JSON.
func TestImageAgreesWithJSONAttr(t *testing.T) {
	for _, seed := range imageSeeds {
		checkAgainstJSONAttr(t, []byte(seed))
	}
}

func FuzzImage(f *testing.F) {
	for _, seed := range imageSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, image []byte) {
		if !json.Valid(image) {
			return // Line unmarshals the record first: the scanner only sees valid JSON
		}
		checkAgainstJSONAttr(t, image)
	})
}

func checkAgainstJSONAttr(t *testing.T, image []byte) {
	t.Helper()
	got, err := appendPlainItem(nil, image, 0)
	want, refErr := viaJSONAttr(image)
	switch {
	case err == nil && !json.Valid(got):
		t.Fatalf("image %s gave invalid JSON %s", image, got)
	case err == nil && refErr == nil:
		if !sameJSON(t, got, want) {
			t.Fatalf("image %s\n scanner %s\njsonattr %s", image, got, want)
		}
	case err == nil && refErr != nil:
		// The scanner is stricter or as strict everywhere, except where aws-lambda-go drops
		// what it does not read (a member after the type in the value object).
		t.Fatalf("image %s accepted as %s, though the jsonattr path refuses it: %v", image, got, refErr)
	case err != nil && refErr == nil && json.Valid(want) && !strings.Contains(err.Error(), "base64") && !strings.Contains(err.Error(), "twice") &&
		!strings.Contains(err.Error(), "not a number") && !strings.Contains(err.Error(), "one type"):
		// The scanner checks each number, where the jsonattr path writes N as it came (an
		// empty member of a number set even gives valid JSON there: "[]" for [""]).
		// Otherwise it is stricter in three places only, where DynamoDB never writes otherwise:
		// binary values (canonical base64, no JSON escapes; aws-lambda-go also takes line
		// breaks and loose padding bits), attribute names (once each; encoding/json keeps
		// the last of a repeated name) and a value's type (one member: aws-lambda-go takes
		// one of {"S":"a","S":"b"} and drops the other).
		t.Fatalf("image %s refused (%v), though the jsonattr path gives %s", image, err, want)
	}
}

const benchImage = `{"pk":{"S":"order#SKU-1001"},"sk":{"S":"2026-11-23T10:00:00.120Z#order-20261123-0001"},"id":{"S":"order-20261123-0001"},` +
	`"type":{"S":"order"},"key":{"S":"SKU-1001"},"time":{"S":"2026-11-23T10:00:00.120Z"},"receivedAt":{"S":"2026-11-23T10:00:00.456Z"},` +
	`"source":{"S":"stream-to-events-IngestDeliveryStream-X"},"data":{"M":{"customer":{"M":{"name":{"S":"Ada Lovelace"}}},"sku":{"S":"SKU-1001"},` +
	`"price":{"N":"42.5"},"shipTo":{"M":{"name":{"S":"Ada Lovelace"},"address":{"S":"12 Analytical Way"},"city":{"S":"Springfield"},"state":{"S":"IL"},"zip":{"S":"62701"}}}}}}`

// The image conversion alone, by the scanner and by the path it replaced.
func BenchmarkImage(b *testing.B) {
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = appendPlainItem(buf[:0], []byte(benchImage), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkImageViaJSONAttr(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := viaJSONAttr([]byte(benchImage)); err != nil {
			b.Fatal(err)
		}
	}
}
