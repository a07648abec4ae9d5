package record

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
)

// FuzzParse feeds arbitrary bytes to the parser. Whatever comes in, Parse must not panic, must
// refuse with one of its sentinel errors, and what it accepts must be a record every later hop
// can carry: its canonical JSON is what encoding/json writes and reads back to the same record,
// on one line, within the size limit, with data the store can hold.
func FuzzParse(f *testing.F) {
	for _, s := range []string{order, device, `{"a":1}`, `[]`, `{"type":"x","key":"k","data":{"<":"\u2028"}}`, "{\"a\" : [ 1 , 2e5 ]\n}"} {
		f.Add([]byte(s))
	}
	p := newParser(f)
	sentinels := []error{ErrTooLarge, ErrInvalidUTF8, ErrNotJSON, ErrNotObject, ErrEnvelope, ErrSchema, ErrUnstorable}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := p.Parse(raw, meta)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		line := r.AppendJSON(nil)
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("json.Marshal of an accepted record: %v", err)
		}
		if !bytes.Equal(line, want) {
			t.Fatalf("AppendJSON = %s\njson.Marshal = %s", line, want)
		}
		if bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("canonical record spans lines: %s", line)
		}
		if len(line) > MaxCanonicalSize || r.JSONLen() != len(line) {
			t.Fatalf("canonical size %d, JSONLen %d", len(line), r.JSONLen())
		}
		var back Record
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatalf("canonical record does not read back: %v", err)
		}
		if again := back.AppendJSON(nil); !bytes.Equal(again, line) {
			t.Fatalf("round trip changed the record:\n%s\n%s", line, again)
		}
		av, err := jsonattr.FromJSON(r.Data)
		if err != nil {
			t.Fatalf("accepted data the store cannot hold: %v", err)
		}
		if !namesStorable(av) {
			t.Fatalf("accepted data with a name DynamoDB refuses: %s", r.Data)
		}
		if r.ID == "" || r.Key == "" || r.Type == "" || len(r.Time) != len(TimeLayout) {
			t.Fatalf("incomplete record %+v", r)
		}
	})
}

// namesStorable reports whether every map key in av is a name DynamoDB accepts.
func namesStorable(av types.AttributeValue) bool {
	switch v := av.(type) {
	case *types.AttributeValueMemberM:
		for k, item := range v.Value {
			if k == "" || len(k) > maxNameBytes || !namesStorable(item) {
				return false
			}
		}
	case *types.AttributeValueMemberL:
		for _, item := range v.Value {
			if !namesStorable(item) {
				return false
			}
		}
	}
	return true
}
