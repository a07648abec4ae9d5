package jsonattr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestRoundTripKeepsEveryValue(t *testing.T) {
	in := `{"a":"x","b":12345678901234567890123456789012345678,"c":-1.5e-7,"d":true,"e":null,"f":[1,"two",{"g":[]}],"h":{},"i":""}`
	av, err := FromJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := AppendJSON(nil, av)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	dec := json.NewDecoder(strings.NewReader(in))
	dec.UseNumber()
	_ = dec.Decode(&want)
	dec = json.NewDecoder(strings.NewReader(string(out)))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("output %s is not JSON: %v", out, err)
	}
	if !jsonEqual(want, got) {
		t.Fatalf("round trip changed the value:\n in  %s\n out %s", in, out)
	}
	if !strings.Contains(string(out), "12345678901234567890123456789012345678") {
		t.Fatalf("large number lost precision: %s", out)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestFromJSONRefusesWhatDynamoDBCannotHold(t *testing.T) {
	tests := map[string]string{
		"39 digits":   `{"n":123456789012345678901234567890123456789}`,
		"too large":   `{"n":1e126}`,
		"empty key":   `{"a":{"":1}}`,
		"too small":   `{"n":1e-131}`,
		"huge exp":    `{"n":1e99999999999999999999}`,
		"deep":        strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth),
		"deep arrays": strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := FromJSON([]byte(in)); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("FromJSON = %v, want ErrUnsupported", err)
			}
		})
	}
}

func TestCheckNumberAcceptsDynamoDBRange(t *testing.T) {
	for _, n := range []string{"0", "-0", "0.000", "1e125", "9.9999999999999999999999999999999999999e125", "1e-130", "-1E-130", "0.00012", "120000000000000000000000000000000000000000"} {
		if err := CheckNumber(n); err != nil {
			t.Errorf("CheckNumber(%s) = %v, want nil", n, err)
		}
	}
}

func TestFromJSONRejectsMalformed(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a":1}{}`, `[1,]`} {
		if _, err := FromJSON([]byte(in)); err == nil {
			t.Errorf("FromJSON(%q) = nil error", in)
		}
	}
}

func TestFromLambdaMapMatchesFromJSON(t *testing.T) {
	var image map[string]events.DynamoDBAttributeValue
	raw := `{"data":{"M":{"n":{"N":"1.50"},"s":{"S":"x"},"l":{"L":[{"BOOL":true},{"NULL":true}]}}}}`
	if err := json.Unmarshal([]byte(raw), &image); err != nil {
		t.Fatal(err)
	}
	m, err := FromLambdaMap(image)
	if err != nil {
		t.Fatal(err)
	}
	out, err := AppendJSON(nil, m["data"])
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"l":[true,null],"n":1.50,"s":"x"}`; string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
}
