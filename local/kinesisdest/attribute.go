package kinesisdest

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// appendItem writes an item (keys or an image) in DynamoDB's attribute-value JSON, as the
// Kinesis record format has it: {"name":{"S":"…"},…}, names sorted so that the same item always
// gives the same bytes (the partition key and the identical-rewrite check rely on it).
func appendItem(dst []byte, item map[string]types.AttributeValue) ([]byte, error) {
	names := make([]string, 0, len(item))
	for k := range item {
		names = append(names, k)
	}
	slices.Sort(names)
	dst = append(dst, '{')
	for i, k := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSON(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, item[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return append(dst, '}'), nil
}

func appendValue(dst []byte, av types.AttributeValue) ([]byte, error) {
	typed := func(t string, v any) []byte {
		dst = append(dst, `{"`...)
		dst = append(dst, t...)
		dst = append(dst, `":`...)
		dst = appendJSON(dst, v)
		return append(dst, '}')
	}
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return typed("S", v.Value), nil
	case *types.AttributeValueMemberN:
		return typed("N", v.Value), nil
	case *types.AttributeValueMemberB:
		return typed("B", v.Value), nil // encoding/json writes []byte as base64, as DynamoDB does
	case *types.AttributeValueMemberBOOL:
		return typed("BOOL", v.Value), nil
	case *types.AttributeValueMemberNULL:
		return typed("NULL", true), nil
	case *types.AttributeValueMemberSS:
		return typed("SS", v.Value), nil
	case *types.AttributeValueMemberNS:
		return typed("NS", v.Value), nil
	case *types.AttributeValueMemberBS:
		return typed("BS", v.Value), nil
	case *types.AttributeValueMemberL:
		dst = append(dst, `{"L":[`...)
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, "]}"...), nil
	case *types.AttributeValueMemberM:
		dst = append(dst, `{"M":`...)
		var err error
		if dst, err = appendItem(dst, v.Value); err != nil {
			return nil, err
		}
		return append(dst, '}'), nil
	}
	return nil, fmt.Errorf("unsupported attribute value %T", av)
}

// appendJSON appends v as encoding/json writes it; the values here (strings, bools, byte and
// string slices) always marshal.
func appendJSON(dst []byte, v any) []byte {
	b, _ := json.Marshal(v)
	return append(dst, b...)
}
