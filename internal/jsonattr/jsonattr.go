// Package jsonattr converts a record's JSON data to DynamoDB attribute values and back without
// losing anything on the way: numbers stay the decimal strings they were written as (no float64
// rounding), and what DynamoDB cannot hold (numbers beyond its range or precision, nesting past
// its depth limit) is refused with an error instead of failing a whole batch write later.
package jsonattr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MaxDepth is DynamoDB's limit on nested attributes; a record's data is nested one level below
// the item, so data may be nested MaxDepth-1 levels.
const MaxDepth = 32

// ErrUnsupported is wrapped by every error about data DynamoDB cannot store.
var ErrUnsupported = errors.New("not storable in DynamoDB")

// FromJSON converts one JSON value to an attribute value.
func FromJSON(data []byte) (types.AttributeValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	av, err := decode(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("jsonattr: trailing data after JSON value")
	}
	return av, nil
}

func decode(dec *json.Decoder, depth int) (types.AttributeValue, error) {
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
				item, err := decode(dec, depth+1)
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
			item, err := decode(dec, depth+1)
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

// CheckNumber reports whether the JSON number n fits a DynamoDB number: at most 38 significant
// digits, magnitude between 1e-130 and 1e126 (or zero).
func CheckNumber(n string) error {
	s := strings.TrimPrefix(n, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return fmt.Errorf("jsonattr: number %.40s: exponent out of range: %w", n, ErrUnsupported)
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	// The decimal exponent of the leading significant digit.
	lead := len(strings.TrimLeft(intPart, "0")) - 1 + exp
	if strings.TrimLeft(intPart, "0") == "" {
		lead = -(len(frac) - len(strings.TrimLeft(frac, "0"))) - 1 + exp
	}
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return nil // zero
	}
	if len(digits) > 38 {
		return fmt.Errorf("jsonattr: number %.40s… has more than 38 significant digits: %w", n, ErrUnsupported)
	}
	if lead > 125 || lead < -130 {
		return fmt.Errorf("jsonattr: number %.40s is out of DynamoDB's range (1e-130 to 1e126): %w", n, ErrUnsupported)
	}
	return nil
}

// AppendJSON appends the JSON form of av to dst. Numbers are written as stored; map keys are
// sorted, so the same item always gives the same bytes.
func AppendJSON(dst []byte, av types.AttributeValue) ([]byte, error) {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return appendString(dst, v.Value), nil
	case *types.AttributeValueMemberN:
		return append(dst, v.Value...), nil
	case *types.AttributeValueMemberBOOL:
		return strconv.AppendBool(dst, v.Value), nil
	case *types.AttributeValueMemberNULL:
		return append(dst, "null"...), nil
	case *types.AttributeValueMemberM:
		keys := make([]string, 0, len(v.Value))
		for k := range v.Value {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = AppendJSON(dst, v.Value[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case *types.AttributeValueMemberL:
		dst = append(dst, '[')
		for i, item := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = AppendJSON(dst, item); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case *types.AttributeValueMemberSS:
		l := make([]types.AttributeValue, len(v.Value))
		for i, s := range v.Value {
			l[i] = &types.AttributeValueMemberS{Value: s}
		}
		return AppendJSON(dst, &types.AttributeValueMemberL{Value: l})
	case *types.AttributeValueMemberNS:
		l := make([]types.AttributeValue, len(v.Value))
		for i, s := range v.Value {
			l[i] = &types.AttributeValueMemberN{Value: s}
		}
		return AppendJSON(dst, &types.AttributeValueMemberL{Value: l})
	case *types.AttributeValueMemberB, *types.AttributeValueMemberBS:
		b, err := json.Marshal(binaryValue(v))
		if err != nil {
			return nil, err
		}
		return append(dst, b...), nil
	}
	return nil, fmt.Errorf("jsonattr: unsupported attribute value %T", av)
}

func binaryValue(av types.AttributeValue) any {
	if b, ok := av.(*types.AttributeValueMemberB); ok {
		return b.Value // encoding/json writes []byte as base64
	}
	return av.(*types.AttributeValueMemberBS).Value
}

func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// FromLambda converts an attribute value as aws-lambda-go decodes it from a DynamoDB stream or a
// Kinesis change record to the SDK's form.
func FromLambda(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeList:
		l := make([]types.AttributeValue, 0, len(v.List()))
		for _, item := range v.List() {
			av, err := FromLambda(item)
			if err != nil {
				return nil, err
			}
			l = append(l, av)
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case events.DataTypeMap:
		m := make(map[string]types.AttributeValue, len(v.Map()))
		for k, item := range v.Map() {
			av, err := FromLambda(item)
			if err != nil {
				return nil, err
			}
			m[k] = av
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("jsonattr: unsupported stream attribute type %v", v.DataType())
}

// FromLambdaMap converts a whole stream image.
func FromLambdaMap(image map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(image))
	for k, v := range image {
		av, err := FromLambda(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}
