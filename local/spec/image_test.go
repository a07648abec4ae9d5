package spec

import (
	"encoding/json"
	"strings"
	"testing"

	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// TestLambdaImageJSON: an image of every attribute type marshals to the attribute-value JSON of
// Kinesis change records and Lambda stream events, names sorted at every level.
func TestLambdaImageJSON(t *testing.T) {
	image := map[string]streamtypes.AttributeValue{
		"s":    &streamtypes.AttributeValueMemberS{Value: "a<b"},
		"n":    &streamtypes.AttributeValueMemberN{Value: "12.50"},
		"b":    &streamtypes.AttributeValueMemberB{Value: []byte("hi")},
		"bool": &streamtypes.AttributeValueMemberBOOL{Value: true},
		"null": &streamtypes.AttributeValueMemberNULL{Value: true},
		"ss":   &streamtypes.AttributeValueMemberSS{Value: []string{"x", "y"}},
		"ns":   &streamtypes.AttributeValueMemberNS{Value: []string{"1", "2.0"}},
		"bs":   &streamtypes.AttributeValueMemberBS{Value: [][]byte{[]byte("hi")}},
		"l":    &streamtypes.AttributeValueMemberL{Value: []streamtypes.AttributeValue{&streamtypes.AttributeValueMemberN{Value: "1"}}},
		"el":   &streamtypes.AttributeValueMemberL{},
		"m": &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{
			"z": &streamtypes.AttributeValueMemberS{Value: "last"},
			"a": &streamtypes.AttributeValueMemberS{Value: "first"},
		}},
		"em": &streamtypes.AttributeValueMemberM{},
	}
	m, err := lambdaImage(image)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b":{"B":"aGk="},"bool":{"BOOL":true},"bs":{"BS":["aGk="]},"el":{"L":[]},"em":{"M":{}},` +
		`"l":{"L":[{"N":"1"}]},"m":{"M":{"a":{"S":"first"},"z":{"S":"last"}}},"n":{"N":"12.50"},` +
		`"ns":{"NS":["1","2.0"]},"null":{"NULL":true},"s":{"S":"a\u003cb"},"ss":{"SS":["x","y"]}}`
	if string(got) != want {
		t.Errorf("image JSON\n got %s\nwant %s", got, want)
	}
	if m, err := lambdaImage(nil); m != nil || err != nil {
		t.Errorf("nil image: %v, %v; want nil", m, err)
	}
}

// TestLambdaImageRefusesUnknownTypes: a value of no DynamoDB type is an error naming where it is.
func TestLambdaImageRefusesUnknownTypes(t *testing.T) {
	image := map[string]streamtypes.AttributeValue{"outer": &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{
		"inner": &streamtypes.UnknownUnionMember{Tag: "X"},
	}}}
	if _, err := lambdaImage(image); err == nil || !strings.Contains(err.Error(), "outer: inner: unsupported") {
		t.Errorf("err = %v, want the attribute named", err)
	}
}
