package esm

import (
	"encoding/json"
	"fmt"
	"strings"
)

// filter is a mapping's FilterCriteria: a record passes when any pattern matches, or when there
// are no patterns. The patterns are Lambda's event filtering syntax (EventBridge patterns):
// objects nest, arrays list accepted values (equality) or operators (prefix, suffix,
// equals-ignore-case, anything-but, exists, numeric).
type filter struct {
	patterns []map[string]any
}

func newFilter(criteria any) (*filter, error) {
	fc, _ := criteria.(map[string]any)
	list, _ := fc["Filters"].([]any)
	f := &filter{}
	for i, raw := range list {
		entry, _ := raw.(map[string]any)
		var p map[string]any
		switch x := entry["Pattern"].(type) {
		case string:
			if err := json.Unmarshal([]byte(x), &p); err != nil {
				return nil, fmt.Errorf("FilterCriteria.Filters[%d].Pattern: %w", i, err)
			}
		case map[string]any:
			p = x
		default:
			return nil, fmt.Errorf("FilterCriteria.Filters[%d] has no Pattern", i)
		}
		f.patterns = append(f.patterns, p)
	}
	return f, nil
}

// match reports whether record (the record as JSON decodes into any) passes the filter.
func (f *filter) match(record map[string]any) bool {
	if f == nil || len(f.patterns) == 0 {
		return true
	}
	for _, p := range f.patterns {
		if matchObject(p, record) {
			return true
		}
	}
	return false
}

func matchObject(pattern, value map[string]any) bool {
	for k, pv := range pattern {
		v, present := value[k]
		switch p := pv.(type) {
		case map[string]any:
			obj, ok := v.(map[string]any)
			if !ok || !matchObject(p, obj) {
				return false
			}
		case []any:
			if !matchValues(p, v, present) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// matchValues matches one field against a list of accepted values and operators.
func matchValues(accepted []any, v any, present bool) bool {
	values := []any{v}
	if l, ok := v.([]any); ok {
		values = l
	}
	for _, a := range accepted {
		if op, ok := a.(map[string]any); ok {
			if matchOperator(op, values, present) {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		for _, x := range values {
			if equal(a, x) {
				return true
			}
		}
	}
	return false
}

func matchOperator(op map[string]any, values []any, present bool) bool {
	if e, ok := op["exists"].(bool); ok {
		return e == present
	}
	if !present {
		return false
	}
	for _, x := range values {
		s, isString := x.(string)
		switch {
		case op["prefix"] != nil:
			if p, ok := op["prefix"].(string); ok && isString && strings.HasPrefix(s, p) {
				return true
			}
		case op["suffix"] != nil:
			if p, ok := op["suffix"].(string); ok && isString && strings.HasSuffix(s, p) {
				return true
			}
		case op["equals-ignore-case"] != nil:
			if p, ok := op["equals-ignore-case"].(string); ok && isString && strings.EqualFold(s, p) {
				return true
			}
		case op["anything-but"] != nil:
			if anythingBut(op["anything-but"], x) {
				return true
			}
		case op["numeric"] != nil:
			if n, ok := x.(float64); ok && numeric(op["numeric"], n) {
				return true
			}
		}
	}
	return false
}

func anythingBut(spec, x any) bool {
	switch s := spec.(type) {
	case []any:
		for _, e := range s {
			if equal(e, x) {
				return false
			}
		}
		return true
	case map[string]any:
		if p, ok := s["prefix"].(string); ok {
			xs, isString := x.(string)
			return !isString || !strings.HasPrefix(xs, p)
		}
		return false
	default:
		return !equal(s, x)
	}
}

// numeric checks conditions like [">", 0, "<=", 5].
func numeric(cond any, n float64) bool {
	l, _ := cond.([]any)
	for i := 0; i+1 < len(l); i += 2 {
		op, _ := l[i].(string)
		v, ok := l[i+1].(float64)
		if !ok {
			return false
		}
		var holds bool
		switch op {
		case "=":
			holds = n == v
		case "<":
			holds = n < v
		case "<=":
			holds = n <= v
		case ">":
			holds = n > v
		case ">=":
			holds = n >= v
		}
		if !holds {
			return false
		}
	}
	return len(l) >= 2
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string, bool, float64:
		return x == b
	}
	return false
}

// asJSONObject turns v into the generic form filters match against.
func asJSONObject(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}
