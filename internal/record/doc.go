package record

import (
	"encoding/json"
)

// envelopeDoc builds the envelope as the schema validator wants it (maps, slices, strings,
// json.Number, bool, nil), from the record's own fields and its data, which the scanner has
// already found well-formed. data is converted to a string once; every string and number in the
// document is a slice of it, so the document costs one allocation per map, slice and boxed
// value, and none per map key.
func envelopeDoc(r Record, has uint8, data []byte) map[string]any {
	doc := make(map[string]any, 5)
	doc["type"] = r.Type
	doc["key"] = r.Key
	if has&hasID != 0 {
		doc["id"] = r.ID
	}
	if has&hasTime != 0 {
		doc["time"] = r.Time
	}
	d := docDecoder{s: string(data)}
	doc["data"] = d.value()
	return doc
}

// docDecoder decodes well-formed JSON; it does not check syntax again.
type docDecoder struct {
	s string
	i int
}

func (d *docDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *docDecoder) value() any {
	d.space()
	switch d.s[d.i] {
	case '{':
		d.i++
		m := make(map[string]any)
		d.space()
		if d.s[d.i] == '}' {
			d.i++
			return m
		}
		for {
			d.space()
			k := d.str()
			d.space()
			d.i++ // :
			m[k] = d.value()
			d.space()
			c := d.s[d.i]
			d.i++
			if c == '}' {
				return m
			}
		}
	case '[':
		d.i++
		l := []any{}
		d.space()
		if d.s[d.i] == ']' {
			d.i++
			return l
		}
		for {
			l = append(l, d.value())
			d.space()
			c := d.s[d.i]
			d.i++
			if c == ']' {
				return l
			}
		}
	case '"':
		return d.str()
	case 't':
		d.i += 4
		return true
	case 'f':
		d.i += 5
		return false
	case 'n':
		d.i += 4
		return nil
	}
	start := d.i
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			d.i++
			continue
		}
		break
	}
	return json.Number(d.s[start:d.i])
}

func (d *docDecoder) str() string {
	start := d.i
	d.i++
	escaped := false
	for d.s[d.i] != '"' {
		if d.s[d.i] == '\\' {
			escaped = true
			d.i++
		}
		d.i++
	}
	d.i++
	if !escaped {
		return d.s[start+1 : d.i-1]
	}
	var s string
	_ = json.Unmarshal([]byte(d.s[start:d.i]), &s)
	return s
}
