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
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

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
	// Validate first (json.Valid does not allocate), so the conversion below can read the bytes
	// without error paths of its own; trailing data and malformed input are refused here.
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // for the error's detail
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("jsonattr: %w", err)
	}
	c := converter{data: data}
	return c.value(1)
}

// converter reads a JSON text that json.Valid accepted.
type converter struct {
	data []byte
	pos  int
}

func (c *converter) space() {
	for c.pos < len(c.data) {
		switch c.data[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *converter) value(depth int) (types.AttributeValue, error) {
	c.space()
	switch b := c.data[c.pos]; {
	case b == '{':
		if depth >= MaxDepth {
			return nil, fmt.Errorf("jsonattr: nested deeper than %d levels: %w", MaxDepth-1, ErrUnsupported)
		}
		c.pos++
		m := map[string]types.AttributeValue{}
		c.space()
		if c.data[c.pos] == '}' {
			c.pos++
			return &types.AttributeValueMemberM{Value: m}, nil
		}
		for {
			c.space()
			k := c.str()
			if k == "" {
				return nil, fmt.Errorf("jsonattr: empty object key: %w", ErrUnsupported)
			}
			c.space()
			c.pos++ // ':'
			v, err := c.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k] = v
			c.space()
			if c.data[c.pos] == '}' {
				c.pos++
				return &types.AttributeValueMemberM{Value: m}, nil
			}
			c.pos++ // ','
		}
	case b == '[':
		if depth >= MaxDepth {
			return nil, fmt.Errorf("jsonattr: nested deeper than %d levels: %w", MaxDepth-1, ErrUnsupported)
		}
		c.pos++
		l := []types.AttributeValue{}
		c.space()
		if c.data[c.pos] == ']' {
			c.pos++
			return &types.AttributeValueMemberL{Value: l}, nil
		}
		for {
			v, err := c.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			c.space()
			if c.data[c.pos] == ']' {
				c.pos++
				return &types.AttributeValueMemberL{Value: l}, nil
			}
			c.pos++ // ','
		}
	case b == '"':
		return &types.AttributeValueMemberS{Value: c.str()}, nil
	case b == 't':
		c.pos += len("true")
		return &types.AttributeValueMemberBOOL{Value: true}, nil
	case b == 'f':
		c.pos += len("false")
		return &types.AttributeValueMemberBOOL{Value: false}, nil
	case b == 'n':
		c.pos += len("null")
		return &types.AttributeValueMemberNULL{Value: true}, nil
	default: // a number
		start := c.pos
		for c.pos < len(c.data) && strings.IndexByte("+-.0123456789eE", c.data[c.pos]) >= 0 {
			c.pos++
		}
		n := string(c.data[start:c.pos])
		if err := CheckNumber(n); err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberN{Value: n}, nil
	}
}

// str reads a string at c.pos. Strings without escapes and in valid UTF-8 (nearly all) are
// copied as they are; the others are decoded by encoding/json, whose rules (escapes, invalid
// UTF-8 replaced by U+FFFD) the result must follow.
func (c *converter) str() string {
	start := c.pos
	c.pos++
	plain := true
	for {
		b := c.data[c.pos]
		if b == '"' {
			break
		}
		if b == '\\' {
			plain = false
			c.pos++ // the escaped character never ends the string
		} else if b >= utf8.RuneSelf {
			plain = false
		}
		c.pos++
	}
	c.pos++
	raw := c.data[start+1 : c.pos-1]
	if plain || (!bytes.ContainsRune(raw, '\\') && utf8.Valid(raw)) {
		return string(raw)
	}
	var s string
	_ = json.Unmarshal(c.data[start:c.pos], &s) // valid: json.Valid accepted the whole text
	return s
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

// appendString appends s as encoding/json writes it. Printable ASCII without the characters it
// escapes is copied as is; anything else goes through encoding/json.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
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
