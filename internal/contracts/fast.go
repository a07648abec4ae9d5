package contracts

import (
	"math/big"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast path. The schema library validates decoded documents and allocates for every value
// it visits (some seventy allocations for an order), which is most of the transformer's cost per
// record. Most records are valid, so each schema that uses only common keywords is also compiled
// into a node tree that checks the record's JSON bytes directly, without allocating. It can only
// say yes: a record it does not accept for certain (a violation, or anything it does not model,
// such as escaped strings or a number on a bound) goes to the library, which decides and
// explains. So the library stays the one judge of what is invalid; the fast path never
// accepts what the library would refuse (checked by the differential tests).

type node struct {
	never     bool // the false schema
	refs      []*node
	types     uint8 // bits of jsonKind; 0 allows every kind
	constStr  *string
	dateTime  bool
	required  map[string]int // name -> bit
	reqMask   uint64
	props     map[string]*node
	addl      *node
	addlFalse bool
	minProps  int
	maxProps  int // -1: none
	minItems  int
	maxItems  int // -1: none
	items     *node
	minLen    int
	maxLen    int // -1: none
	pattern   *regexp.Regexp
	min, max  *float64
}

const (
	kindNull uint8 = 1 << iota
	kindBool
	kindNumber
	kindInteger
	kindString
	kindArray
	kindObject
)

// compileFast builds the node tree of sch, or nil when sch uses a keyword the fast path does
// not model (then the library alone validates that type).
func compileFast(sch *jsonschema.Schema) *node {
	memo := map[*jsonschema.Schema]*node{}
	n, ok := buildNode(sch, memo)
	if !ok {
		return nil
	}
	return n
}

func buildNode(s *jsonschema.Schema, memo map[*jsonschema.Schema]*node) (*node, bool) {
	if n, ok := memo[s]; ok {
		return n, true
	}
	n := &node{maxProps: -1, maxItems: -1, maxLen: -1}
	memo[s] = n
	if s.Bool != nil {
		n.never = !*s.Bool
		return n, true
	}
	if s.DraftVersion < 2019 || s.RecursiveRef != nil || s.DynamicRef != nil || s.Enum != nil || s.Not != nil ||
		len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.If != nil || s.Then != nil || s.Else != nil ||
		s.PropertyNames != nil || len(s.PatternProperties) > 0 || len(s.Dependencies) > 0 ||
		len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 || s.UnevaluatedProperties != nil ||
		s.UniqueItems || s.Contains != nil || s.MinContains != nil || s.MaxContains != nil || s.Items != nil ||
		s.AdditionalItems != nil || len(s.PrefixItems) > 0 || s.UnevaluatedItems != nil ||
		s.ContentEncoding != nil || s.ContentMediaType != nil || s.ContentSchema != nil ||
		s.ExclusiveMaximum != nil || s.ExclusiveMinimum != nil || s.MultipleOf != nil || len(s.Extensions) > 0 {
		return nil, false
	}
	if s.Ref != nil {
		r, ok := buildNode(s.Ref, memo)
		if !ok {
			return nil, false
		}
		n.refs = append(n.refs, r)
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			switch t {
			case "null":
				n.types |= kindNull
			case "boolean":
				n.types |= kindBool
			case "number":
				n.types |= kindNumber | kindInteger
			case "integer":
				n.types |= kindInteger
			case "string":
				n.types |= kindString
			case "array":
				n.types |= kindArray
			case "object":
				n.types |= kindObject
			default:
				return nil, false
			}
		}
	}
	if s.Const != nil {
		str, ok := (*s.Const).(string)
		if !ok {
			return nil, false
		}
		n.constStr = &str
	}
	if s.Format != nil {
		if s.Format.Name != "date-time" {
			return nil, false
		}
		n.dateTime = true
	}
	if len(s.Required) > 64 {
		return nil, false
	}
	if len(s.Required) > 0 {
		n.required = make(map[string]int, len(s.Required))
		for i, r := range s.Required {
			n.required[r] = i
			n.reqMask |= 1 << i
		}
	}
	if len(s.Properties) > 0 {
		n.props = make(map[string]*node, len(s.Properties))
		for k, ps := range s.Properties {
			pn, ok := buildNode(ps, memo)
			if !ok {
				return nil, false
			}
			n.props[k] = pn
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		n.addlFalse = !a
	case *jsonschema.Schema:
		an, ok := buildNode(a, memo)
		if !ok {
			return nil, false
		}
		n.addl = an
	default:
		return nil, false
	}
	if s.MinProperties != nil {
		// The walk counts members as written; a duplicate name counts twice there but once in
		// the decoded document, so only "at least one" is decided here.
		if *s.MinProperties > 1 {
			return nil, false
		}
		n.minProps = *s.MinProperties
	}
	if s.MaxProperties != nil {
		n.maxProps = *s.MaxProperties
	}
	if s.MinItems != nil {
		n.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		n.maxItems = *s.MaxItems
	}
	if s.Items2020 != nil {
		in, ok := buildNode(s.Items2020, memo)
		if !ok {
			return nil, false
		}
		n.items = in
	}
	if s.MinLength != nil {
		n.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		n.maxLen = *s.MaxLength
	}
	if s.Pattern != nil {
		re, ok := s.Pattern.(*regexp.Regexp)
		if !ok {
			return nil, false
		}
		n.pattern = re
	}
	n.min, n.max = ratFloat(s.Minimum), ratFloat(s.Maximum)
	return n, true
}

func ratFloat(r *big.Rat) *float64 {
	if r == nil {
		return nil
	}
	f, _ := r.Float64()
	return &f
}

// accepts reports whether the well-formed JSON value starting at b[i] (after any space)
// certainly satisfies n, and where the value ends.
func (n *node) accepts(b []byte, i int) (end int, ok bool) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, false
	}
	end = skipValue(b, i)
	if n.never {
		return end, false
	}
	for _, r := range n.refs {
		if _, ok := r.accepts(b, i); !ok {
			return end, false
		}
	}
	switch c := b[i]; {
	case c == '{':
		return end, n.typeOK(kindObject) && n.object(b, i)
	case c == '[':
		return end, n.typeOK(kindArray) && n.array(b, i)
	case c == '"':
		return end, n.typeOK(kindString) && n.str(b[i+1:end-1])
	case c == 't' || c == 'f':
		return end, n.typeOK(kindBool) && n.constStr == nil
	case c == 'n':
		return end, n.typeOK(kindNull) && n.constStr == nil
	default:
		return end, n.number(b[i:end])
	}
}

func (n *node) typeOK(k uint8) bool { return n.types == 0 || n.types&k != 0 }

func (n *node) object(b []byte, i int) bool {
	if n.constStr != nil {
		return false
	}
	i++ // {
	var seen uint64
	count := 0
	for {
		i = skipSpace(b, i)
		if b[i] == '}' {
			break
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		ks := i + 1
		ke := skipValue(b, i)
		key := b[ks : ke-1]
		for _, c := range key {
			if c == '\\' {
				return false // an escaped name: let the library decode it
			}
		}
		i = skipSpace(b, ke) + 1 // :
		count++
		if bit, ok := n.required[string(key)]; ok {
			seen |= 1 << bit
		}
		sub, known := n.props[string(key)]
		switch {
		case known:
		case n.addl != nil:
			sub = n.addl
		case n.addlFalse:
			return false
		}
		var ok bool
		if sub != nil {
			if i, ok = sub.accepts(b, i); !ok {
				return false
			}
		} else {
			i = skipValue(b, skipSpace(b, i))
		}
	}
	return seen == n.reqMask && count >= n.minProps && (n.maxProps < 0 || count <= n.maxProps)
}

func (n *node) array(b []byte, i int) bool {
	if n.constStr != nil {
		return false
	}
	i++ // [
	count := 0
	for {
		i = skipSpace(b, i)
		if b[i] == ']' {
			break
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		count++
		if n.items != nil {
			var ok bool
			if i, ok = n.items.accepts(b, i); !ok {
				return false
			}
		} else {
			i = skipValue(b, i)
		}
	}
	return count >= n.minItems && (n.maxItems < 0 || count <= n.maxItems)
}

// str checks a string's content, between the quotes.
func (n *node) str(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return false // escaped: let the library decode it
		}
	}
	if n.constStr != nil && string(s) != *n.constStr {
		return false
	}
	if n.minLen > 0 || n.maxLen >= 0 {
		l := utf8.RuneCount(s)
		if l < n.minLen || (n.maxLen >= 0 && l > n.maxLen) {
			return false
		}
	}
	if n.pattern != nil && !n.pattern.Match(s) {
		return false
	}
	return !n.dateTime || dateTime(s)
}

func (n *node) number(num []byte) bool {
	if n.constStr != nil {
		return false
	}
	integer := true
	for _, c := range num {
		if c == '.' || c == 'e' || c == 'E' {
			integer = false // 1.0 is an integer to JSON Schema: the library decides
		}
	}
	if n.types != 0 && n.types&kindNumber == 0 && !(integer && n.types&kindInteger != 0) {
		return false
	}
	if n.min == nil && n.max == nil {
		return true
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return false
	}
	// Rounding to float64 keeps order, so a strict comparison is exact; on a bound the library
	// decides with exact rationals.
	return (n.min == nil || f > *n.min) && (n.max == nil || f < *n.max)
}

// dateTime accepts the common RFC 3339 form, a subset of what the library's date-time format
// accepts: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM), a real calendar day, no leap second.
func dateTime(s []byte) bool {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	num := func(b []byte) int {
		v := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d := num(s[0:4]), num(s[5:7]), num(s[8:10])
	h, mi, se := num(s[11:13]), num(s[14:16]), num(s[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59 {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 {
			return false
		}
		rest = rest[j:]
	}
	if len(rest) == 1 && rest[0] == 'Z' {
		return true
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return false
	}
	oh, om := num(rest[1:3]), num(rest[4:6])
	return oh >= 0 && oh <= 23 && om >= 0 && om <= 59
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the well-formed value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		i++
		for b[i] != '"' {
			if b[i] == '\\' {
				i++
			}
			i++
		}
		return i + 1
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			case '"':
				i = skipValue(b, i) - 1
			}
		}
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
