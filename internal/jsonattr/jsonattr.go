// Package jsonattr converts a record's JSON data to DynamoDB attribute values and back without
// losing anything on the way: numbers stay the decimal strings they were written as (no float64
// rounding), and what DynamoDB cannot hold (numbers beyond its range or precision, nesting past
// its depth limit) is refused with an error instead of failing a whole batch write later.
package jsonattr

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/jsonscan"
)

// MaxDepth is DynamoDB's limit on nested attributes; a record's data is nested one level below
// the item, so data may be nested MaxDepth-1 levels.
const MaxDepth = 32

// ErrUnsupported is wrapped by every error about data DynamoDB cannot store.
var ErrUnsupported = errors.New("not storable in DynamoDB")

// FromJSON converts one JSON value to an attribute value.
func FromJSON(data []byte) (types.AttributeValue, error) {
	// One copy of the text: every plain string of the value is a substring of it.
	scratch := scratchPool.Get().(*[]member)
	c := converter{d: jsonscan.NewDecoder(string(data)), members: *scratch}
	av, ok := c.value()
	ok = ok && c.d.End()
	clear(c.members[:cap(c.members)]) // the pool keeps no values alive
	*scratch = c.members[:0]
	scratchPool.Put(scratch)
	if ok {
		return av, nil
	}
	// The converter stops at the first thing it cannot convert. When the text is not JSON at
	// all, that is what the error says, whatever the converter met first.
	if c.err != nil && json.Valid(data) {
		return nil, c.err
	}
	var v any
	err := json.Unmarshal(data, &v) // for the error's detail
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return nil, fmt.Errorf("jsonattr: %w", err)
}

// scratchPool keeps the converters' member lists for the next conversion: every record's data
// is converted, and a list is as large as the members of all the objects open at once.
var scratchPool = sync.Pool{New: func() any {
	s := make([]member, 0, 16)
	return &s
}}

// converter reads one JSON text with a jsonscan.Decoder, which checks it as it goes, and stops
// at the first thing it cannot convert: the decoder reports the malformed, err the rest.
type converter struct {
	d   jsonscan.Decoder
	err error // what DynamoDB cannot store, when that stopped the converter

	// The members and elements of the objects and arrays being read, innermost last: a map or
	// list is made once its size is known.
	members []member
	items   []types.AttributeValue

	// Strings, numbers and maps are allocated in slabs: a few allocations for a whole value, not
	// one for each.
	strs []types.AttributeValueMemberS
	nums []types.AttributeValueMemberN
	maps []types.AttributeValueMemberM
}

type member struct {
	name  string
	value types.AttributeValue
}

// slabSize is the number of values of a kind allocated at once.
const slabSize = 16

func (c *converter) newS(v string) *types.AttributeValueMemberS {
	if len(c.strs) == cap(c.strs) {
		c.strs = make([]types.AttributeValueMemberS, 0, slabSize)
	}
	c.strs = append(c.strs, types.AttributeValueMemberS{Value: v})
	return &c.strs[len(c.strs)-1]
}

func (c *converter) newN(v string) *types.AttributeValueMemberN {
	if len(c.nums) == cap(c.nums) {
		c.nums = make([]types.AttributeValueMemberN, 0, slabSize/4)
	}
	c.nums = append(c.nums, types.AttributeValueMemberN{Value: v})
	return &c.nums[len(c.nums)-1]
}

func (c *converter) newM(v map[string]types.AttributeValue) *types.AttributeValueMemberM {
	if len(c.maps) == cap(c.maps) {
		c.maps = make([]types.AttributeValueMemberM, 0, slabSize/2)
	}
	c.maps = append(c.maps, types.AttributeValueMemberM{Value: v})
	return &c.maps[len(c.maps)-1]
}

// value reads the next value; it reports false when the text is malformed or c.err says why not.
func (c *converter) value() (types.AttributeValue, bool) {
	switch b := c.d.Peek(); {
	case b == '{' || b == '[':
		if c.d.Depth() >= MaxDepth-1 {
			c.err = fmt.Errorf("jsonattr: nested deeper than %d levels: %w", MaxDepth-1, ErrUnsupported)
			return nil, false
		}
		if b == '{' {
			return c.object()
		}
		return c.array()
	case b == '"':
		s, ok := c.d.String()
		if !ok {
			return nil, false
		}
		return c.newS(s), true
	case b == 't':
		return &types.AttributeValueMemberBOOL{Value: true}, c.d.Skip()
	case b == 'f':
		return &types.AttributeValueMemberBOOL{Value: false}, c.d.Skip()
	case b == 'n':
		return &types.AttributeValueMemberNULL{Value: true}, c.d.Skip()
	}
	return c.number()
}

func (c *converter) object() (types.AttributeValue, bool) {
	base := len(c.members)
	ok := c.d.AnyObject(func(name string) bool {
		if name == "" {
			c.err = fmt.Errorf("jsonattr: empty object key: %w", ErrUnsupported)
			return false
		}
		v, ok := c.value()
		c.members = append(c.members, member{name: name, value: v})
		return ok
	})
	if !ok {
		return nil, false
	}
	m := make(map[string]types.AttributeValue, len(c.members)-base)
	for _, kv := range c.members[base:] {
		m[kv.name] = kv.value // a repeated name keeps its last value, as encoding/json does
	}
	c.members = c.members[:base]
	return c.newM(m), true
}

func (c *converter) array() (types.AttributeValue, bool) {
	base := len(c.items)
	ok := c.d.Array(func() bool {
		v, ok := c.value()
		c.items = append(c.items, v)
		return ok
	})
	if !ok {
		return nil, false
	}
	l := make([]types.AttributeValue, len(c.items)-base)
	copy(l, c.items[base:])
	c.items = c.items[:base]
	return &types.AttributeValueMemberL{Value: l}, true
}

// number reads a number and checks that DynamoDB can hold it. Numbers of at most 38 characters
// without an exponent always fit, so only the others pay for the check.
func (c *converter) number() (types.AttributeValue, bool) {
	n, ok := c.d.Number()
	if !ok {
		return nil, false
	}
	if len(n) > 38 || hasExponent(n) {
		if c.err = CheckNumber(n); c.err != nil {
			return nil, false
		}
	}
	return c.newN(n), true
}

// hasExponent reports whether the JSON number n has an exponent.
func hasExponent(n string) bool {
	for i := range len(n) {
		if n[i]|0x20 == 'e' { // e or E
			return true
		}
	}
	return false
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
