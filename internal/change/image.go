package change

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
)

// The images are turned from DynamoDB's attribute-value JSON into plain JSON straight from the
// bytes, without building attribute values in between: decoding through aws-lambda-go's
// DynamoDBAttributeValue re-validates each nested value at every level and allocated about 280
// times for a typical event store item. The input has already passed encoding/json (the record
// was unmarshalled with the images as json.RawMessage), so the scanner below may assume valid
// JSON; what it checks is the attribute-value shape. Keys are written in byte order of their
// JSON form, so the same item always gives the same line.

// appendPlainItem appends the plain JSON of an item ({"name":{"S":"x"},…} → {"name":"x",…}).
func appendPlainItem(dst, src []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	type member struct{ key, value []byte }
	var members []member
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return nil, errors.New("an item or map must be a JSON object")
	}
	i = skipSpace(src, i+1)
	for i < len(src) && src[i] != '}' {
		end := stringEnd(src, i)
		key := src[i:end]
		i = skipSpace(src, end)
		i = skipSpace(src, i+1) // ':'
		vend := valueEnd(src, i)
		members = append(members, member{key, src[i:vend]})
		i = skipSpace(src, vend)
		if i < len(src) && src[i] == ',' {
			i = skipSpace(src, i+1)
		}
	}
	slices.SortFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	dst = append(dst, '{')
	for k, m := range members {
		if k > 0 {
			if bytes.Equal(m.key, members[k-1].key) {
				return nil, fmt.Errorf("attribute %s twice", m.key)
			}
			dst = append(dst, ',')
		}
		dst = append(dst, m.key...)
		dst = append(dst, ':')
		var err error
		if dst, err = appendPlainValue(dst, m.value, depth+1); err != nil {
			return nil, fmt.Errorf("attribute %s: %w", m.key, err)
		}
	}
	return append(dst, '}'), nil
}

// maxDepth bounds nesting: DynamoDB allows 32 levels.
const maxDepth = 32

// appendPlainValue appends the plain JSON of one attribute value ({"N":"1.5"} → 1.5).
func appendPlainValue(dst, src []byte, depth int) ([]byte, error) {
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return nil, errors.New("an attribute value must be a JSON object")
	}
	i = skipSpace(src, i+1)
	if i >= len(src) || src[i] != '"' {
		return nil, errors.New("an attribute value must have one type")
	}
	end := stringEnd(src, i)
	typ := string(src[i+1 : end-1])
	i = skipSpace(src, end)
	i = skipSpace(src, i+1) // ':'
	vend := valueEnd(src, i)
	v := src[i:vend]
	if rest := skipSpace(src, vend); rest >= len(src) || src[rest] != '}' {
		return nil, fmt.Errorf("an attribute value must have one type, not %s and more", typ)
	}
	switch typ {
	case "S":
		if v[0] != '"' {
			return nil, errors.New("the value of S must be a string")
		}
		return append(dst, v...), nil
	case "B":
		return appendBinary(dst, v)
	case "N":
		return appendNumber(dst, v)
	case "BOOL":
		if !bytes.Equal(v, []byte("true")) && !bytes.Equal(v, []byte("false")) {
			return nil, errors.New("BOOL value must be true or false")
		}
		return append(dst, v...), nil
	case "NULL":
		if !bytes.Equal(v, []byte("true")) {
			return nil, errors.New("NULL value must be true")
		}
		return append(dst, "null"...), nil
	case "SS", "BS", "NS", "L":
		return appendList(dst, typ, v, depth)
	case "M":
		return appendPlainItem(dst, v, depth)
	}
	return nil, fmt.Errorf("unsupported attribute type %q", typ)
}

// appendNumber writes a number DynamoDB sent as a string ("12.50") as a JSON number, as written.
func appendNumber(dst, v []byte) ([]byte, error) {
	if len(v) < 3 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 || !isNumber(v[1:len(v)-1]) {
		return nil, fmt.Errorf("number %.40s is not a number", v)
	}
	return append(dst, v[1:len(v)-1]...), nil
}

// appendBinary writes a binary value as the base64 string DynamoDB sent, once it is known to be
// base64 as DynamoDB writes it (standard alphabet, padded, no escapes).
func appendBinary(dst, v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return nil, fmt.Errorf("binary value %.40s is not a base64 string", v)
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(string(v[1 : len(v)-1])); err != nil {
		return nil, fmt.Errorf("binary value %.40s is not base64: %w", v, err)
	}
	return append(dst, v...), nil
}

// appendList writes a set or a list as a JSON array.
func appendList(dst []byte, typ string, v []byte, depth int) ([]byte, error) {
	if v[0] != '[' {
		return nil, fmt.Errorf("%s value must be an array", typ)
	}
	dst = append(dst, '[')
	i := skipSpace(v, 1)
	for n := 0; i < len(v) && v[i] != ']'; n++ {
		end := valueEnd(v, i)
		e := v[i:end]
		if n > 0 {
			dst = append(dst, ',')
		}
		var err error
		switch typ {
		case "SS":
			if e[0] != '"' {
				return nil, errors.New("SS members must be strings")
			}
			dst = append(dst, e...)
		case "BS":
			dst, err = appendBinary(dst, e)
		case "NS":
			dst, err = appendNumber(dst, e)
		case "L":
			dst, err = appendPlainValue(dst, e, depth+1)
		}
		if err != nil {
			return nil, fmt.Errorf("%s member %d: %w", typ, n, err)
		}
		i = skipSpace(v, end)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return append(dst, ']'), nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string starting at b[i] ('"').
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the JSON value starting at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
		j++
	}
	return j
}

// isNumber reports whether n is a JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func isNumber(n []byte) bool {
	i := 0
	if i < len(n) && n[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(n) && n[i] >= '0' && n[i] <= '9' {
			i++
		}
		return i - start
	}
	switch {
	case i < len(n) && n[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(n) && n[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(n) && (n[i] == 'e' || n[i] == 'E') {
		i++
		if i < len(n) && (n[i] == '+' || n[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(n)
}
