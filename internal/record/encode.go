package record

import (
	"encoding/json"
)

// AppendJSON appends the canonical JSON of r to dst: the bytes json.Marshal(r) gives, without
// its reflection, when r.Data is compact and HTML-escaped as Parse leaves it. Nil data is null.
func (r Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, r.Type)
	dst = append(dst, `,"key":`...)
	dst = appendString(dst, r.Key)
	dst = append(dst, `,"time":`...)
	dst = appendString(dst, r.Time)
	dst = append(dst, `,"receivedAt":`...)
	dst = appendString(dst, r.ReceivedAt)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, r.Source)
	dst = append(dst, `,"data":`...)
	if r.Data == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, r.Data...)
	}
	return append(dst, '}')
}

// JSONLen is len(r.AppendJSON(nil)), without building it, to size buffers.
func (r Record) JSONLen() int {
	n := len(`{"id":,"type":,"key":,"time":,"receivedAt":,"source":,"data":}`) + len(r.Data)
	if r.Data == nil {
		n += len("null")
	}
	for _, s := range [...]string{r.ID, r.Type, r.Key, r.Time, r.ReceivedAt, r.Source} {
		n += stringLen(s)
	}
	return n
}

// plain reports whether encoding/json writes s as is between quotes: printable ASCII without
// the characters it escapes (quote, backslash and, for HTML safety, < > &).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

func appendString(dst []byte, s string) []byte {
	if plain(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(s) // the rare string that needs escaping: encoding/json's own rules
	return append(dst, b...)
}

func stringLen(s string) int {
	if plain(s) {
		return len(s) + 2
	}
	b, _ := json.Marshal(s)
	return len(b)
}

// canonicalData returns data as json.Marshal writes a json.RawMessage: compact, with < > & and
// U+2028/U+2029 escaped inside strings. Most producers already send that (it is what their own
// json.Marshal wrote), and then data is returned as is, a slice of the input; otherwise a
// rewritten copy. Compacting also keeps the lake's one-record-per-line promise: a pretty-printed
// record would otherwise spread over many lines.
func canonicalData(src []byte) []byte {
	var dst []byte // nil until the first byte that must change
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		var repl []byte
		var skip int
		if inString {
			switch {
			case c == '\\':
				i++ // the escaped character never ends the string
				if dst != nil {
					dst = append(dst, c, src[i])
				}
				continue
			case c == '"':
				inString = false
			case c == '<' || c == '>' || c == '&':
				repl = []byte{'\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF]}
			case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
				repl, skip = []byte{'\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF]}, 2
			}
		} else {
			switch c {
			case ' ', '\t', '\n', '\r':
				repl = []byte{}
			case '"':
				inString = true
			}
		}
		if repl != nil {
			if dst == nil {
				dst = make([]byte, i, len(src)+16)
				copy(dst, src[:i])
			}
			dst = append(dst, repl...)
			i += skip
			continue
		}
		if dst != nil {
			dst = append(dst, c)
		}
	}
	if dst == nil {
		return src
	}
	return dst
}

const hexDigits = "0123456789abcdef"
