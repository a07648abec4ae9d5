package jsonattr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// FromJSON converts one JSON value to an attribute value.
func oldFromJSON(data []byte) (types.AttributeValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	av, err := oldDecode(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("jsonattr: trailing data after JSON value")
	}
	return av, nil
}

func oldDecode(dec *json.Decoder, depth int) (types.AttributeValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("jsonattr: %w", err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if depth >= MaxDepth {
			return nil, fmt.Errorf("jsonattr: nested deeper than %d levels: %w", MaxDepth-1, ErrUnsupported)
		}
		if v == '{' {
			m := map[string]types.AttributeValue{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("jsonattr: %w", err)
				}
				if kt.(string) == "" {
					return nil, fmt.Errorf("jsonattr: empty object key: %w", ErrUnsupported)
				}
				item, err := oldDecode(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m[kt.(string)] = item
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("jsonattr: %w", err)
			}
			return &types.AttributeValueMemberM{Value: m}, nil
		}
		l := []types.AttributeValue{}
		for dec.More() {
			item, err := oldDecode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, item)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("jsonattr: %w", err)
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case string:
		return &types.AttributeValueMemberS{Value: v}, nil
	case json.Number:
		if err := CheckNumber(string(v)); err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberN{Value: string(v)}, nil
	case bool:
		return &types.AttributeValueMemberBOOL{Value: v}, nil
	case nil:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	}
	return nil, fmt.Errorf("jsonattr: unexpected token %v", tok)
}

func oldAppendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// FuzzFastMatchesOld keeps the scanner in agreement with the encoding/json decoder it replaced.
func FuzzFastMatchesOld(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":"\u00e9\ud83d\ude00","b":[1,2.5e3,-0,true,false,null,{}],"c":"x\"y\\z"}`, `"\xff"`, `[1,]`, ``, ` { "a" : [ ] } `, `{"a":1,"a":2}`, `1e200`, `"<&>\u2028"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, errA := oldFromJSON(data)
		b, errB := FromJSON(data)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%q: old err %v, new err %v", data, errA, errB)
		}
		if errA == nil && !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: old %#v new %#v", data, a, b)
		}
		if s := string(data); true {
			if got, want := string(appendString(nil, s)), string(oldAppendString(nil, s)); got != want {
				t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
			}
		}
	})
}
