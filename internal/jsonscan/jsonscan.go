// Package jsonscan reads a JSON text in one pass, without reflection and without allocating
// except for strings with escapes, for the hot paths that need a few members of an object (an
// SQS event, an EventBridge event, a canonical record) or convert a whole value (a record's data
// to DynamoDB attribute values).
//
// It takes only the plain form that AWS services and json.Marshal write. Whenever a text is
// malformed, or holds something whose meaning encoding/json decides by rules of its own (a
// member name with escapes, a name that matches a field only when case is ignored, a repeated
// member, a value of another type), a read reports false and the caller decodes the whole text
// with encoding/json instead, so that encoding/json keeps the last word on what a text means.
// AnyObject alone takes any well-formed name, decoding it as encoding/json does, for a reader
// that converts every member rather than picking fields.
package jsonscan

import (
	"encoding/json"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting the decoder follows; a deeper text is left to encoding/json.
const maxDepth = 512

// Decoder reads one JSON text.
type Decoder struct {
	s     string
	i     int
	depth int
}

// NewDecoder returns a decoder of s.
func NewDecoder(s string) Decoder { return Decoder{s: s} }

// Peek returns the first byte of the next value, or 0 at the end of the text.
func (d *Decoder) Peek() byte {
	for ; d.i < len(d.s); d.i++ {
		// Most bytes are above the space, which one test tells.
		if c := d.s[d.i]; c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

// End reports whether nothing but white space is left.
func (d *Decoder) End() bool { return d.Peek() == 0 && d.i == len(d.s) }

// Depth returns the number of objects and arrays the decoder stands within.
func (d *Decoder) Depth() int { return d.depth }

// Object reads an object. It calls member with each member's name, the decoder standing at the
// member's value, which member must read (Skip, if it has no use for it) before reporting true.
// Object reports false when the next value is not an object or is malformed, when a name has
// escapes or is not valid UTF-8 (encoding/json would decode either into other bytes), or when
// member reports false.
func (d *Decoder) Object(member func(name string) bool) bool { return d.object(plainNames, member) }

// AnyObject reads an object as Object does, but takes any well-formed name, handing member the
// name json.Unmarshal decodes it to (escapes decoded, invalid UTF-8 replaced by U+FFFD). A name
// the object repeats is handed over each time.
func (d *Decoder) AnyObject(member func(name string) bool) bool {
	return d.object(decodedNames, member)
}

// names says which member names an object read takes and what it hands over for them.
type names uint8

const (
	rawNames     names = iota // any well-formed name, as its raw text: for Skip, which reads no name
	plainNames                // names without escapes in valid UTF-8, as they are: for Object
	decodedNames              // any well-formed name, decoded: for AnyObject
)

// object reads an object, taking the member names that take says.
func (d *Decoder) object(take names, member func(name string) bool) bool {
	if d.Peek() != '{' || !d.enter() {
		return false
	}
	d.i++
	if d.Peek() == '}' {
		d.i++
		d.depth--
		return true
	}
	for {
		if d.Peek() != '"' {
			return false
		}
		start := d.i
		esc, ok := d.str()
		if !ok {
			return false
		}
		name := d.s[start+1 : d.i-1]
		switch {
		case take == rawNames || esc == noEscapes && validUTF8(d.s, start+1, d.i-1):
		case take == plainNames:
			return false
		default:
			if name, ok = d.decode(start, esc); !ok {
				return false
			}
		}
		if d.Peek() != ':' {
			return false
		}
		d.i++
		if !member(name) {
			return false
		}
		switch d.Peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return true
		default:
			return false
		}
	}
}

// Array reads an array, calling elem with the decoder standing at each element, which elem must
// read. It reports false when the next value is not an array or is malformed, or when elem
// reports false.
func (d *Decoder) Array(elem func() bool) bool {
	if d.Peek() != '[' || !d.enter() {
		return false
	}
	d.i++
	if d.Peek() == ']' {
		d.i++
		d.depth--
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch d.Peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return true
		default:
			return false
		}
	}
}

func (d *Decoder) enter() bool {
	d.depth++
	return d.depth <= maxDepth
}

// Skip reads over the next value, checking that it is well-formed.
func (d *Decoder) Skip() bool {
	switch c := d.Peek(); {
	case c == '{':
		return d.object(rawNames, func(string) bool { return d.Skip() })
	case c == '[':
		return d.Array(d.Skip)
	case c == '"':
		_, ok := d.str()
		return ok
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return false
}

// Raw reads the next value and returns its text, as encoding/json hands it to a
// json.RawMessage.
func (d *Decoder) Raw() (string, bool) {
	d.Peek()
	start := d.i
	if !d.Skip() {
		return "", false
	}
	return d.s[start:d.i], true
}

// Number reads a number and returns its text, as a json.Number holds it.
func (d *Decoder) Number() (string, bool) {
	if c := d.Peek(); c != '-' && (c < '0' || '9' < c) {
		return "", false
	}
	start := d.i
	ok := d.number()
	return d.s[start:d.i], ok
}

// String reads a string and returns the string it stands for, as json.Unmarshal decodes it. A
// string without escapes in valid UTF-8 is returned as a part of the text, without a copy.
func (d *Decoder) String() (string, bool) {
	if d.Peek() != '"' {
		return "", false
	}
	start := d.i
	esc, ok := d.str()
	if !ok {
		return "", false
	}
	if esc == noEscapes && validUTF8(d.s, start+1, d.i-1) {
		return d.s[start+1 : d.i-1], true
	}
	return d.decode(start, esc)
}

// decode returns the string that the quoted text from start to d.i stands for, which str has
// read and found to have the escapes esc.
func (d *Decoder) decode(start int, esc escapes) (string, bool) {
	raw := d.s[start+1 : d.i-1]
	switch {
	case esc == unicodeEscapes || !utf8.ValidString(raw):
		// encoding/json's rules: invalid bytes and lone surrogates become U+FFFD.
		return unquote(d.s[start:d.i])
	case esc == shortEscapes:
		return unescape(raw), true
	}
	return raw, true
}

// validUTF8 reports whether s[i:j] is valid UTF-8. Most strings are short and ASCII, which it
// tells eight bytes at a time; the last eight may run past j when s goes on, the bytes past j
// shifted out.
func validUTF8(s string, i, j int) bool {
	for ; j-i > 8; i += 8 {
		if word(s[i:i+8])&highs != 0 {
			return utf8.ValidString(s[i:j])
		}
	}
	if i+8 <= len(s) && word(s[i:i+8])<<(uint(64-8*(j-i))&63)&highs == 0 {
		return true
	}
	return utf8.ValidString(s[i:j])
}

// unescape decodes the escapes of raw, which are all two-character ones (\" \\ \/ \b \f \n \r
// \t): str has checked them.
func unescape(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	from := 0 // the first byte not written yet
	for i := 0; i < len(raw); {
		i = nextBackslash(raw, i)
		if i == len(raw) {
			break
		}
		b.WriteString(raw[from:i])
		c := raw[i+1]
		switch c {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		}
		b.WriteByte(c)
		i += 2
		from = i
	}
	b.WriteString(raw[from:])
	return b.String()
}

// nextBackslash returns the index of the first backslash of s from i on, or len(s).
func nextBackslash(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := backslashes(word(s[i : i+8])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(s) && s[i] != '\\' {
		i++
	}
	return i
}

// unquote decodes the quoted string q as encoding/json does, for the strings whose decoding
// follows its rules for \u escapes and invalid UTF-8.
func unquote(q string) (string, bool) {
	var s string
	if err := json.Unmarshal([]byte(q), &s); err != nil {
		return "", false
	}
	return s, true
}

// special marks the bytes a string's scan stops at: its end, an escape, and the control
// characters JSON does not allow in a string.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// escapes says what escapes a string has.
type escapes uint8

const (
	noEscapes      escapes = iota
	shortEscapes           // only two-character ones: \" \\ \/ \b \f \n \r \t
	unicodeEscapes         // \u escapes, maybe others too
)

// str reads over the string at d.i, checking it, and reports what escapes it has.
func (d *Decoder) str() (esc escapes, ok bool) {
	s := d.s
	i := d.i + 1
	for {
		i = plain(s, i)
		if i >= len(s) {
			return 0, false
		}
		switch s[i] {
		case '"':
			d.i = i + 1
			return esc, true
		case '\\':
			if i+1 >= len(s) {
				return 0, false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				esc = max(esc, shortEscapes)
				i += 2
			case 'u':
				if i+6 > len(s) || !isHex4(s[i+2:i+6]) {
					return 0, false
				}
				esc = unicodeEscapes
				i += 6
			default:
				return 0, false
			}
		default: // a control character
			return 0, false
		}
	}
}

// plain returns the index of the first byte from i on that ends a string, starts an escape or is
// a control character, or len(s). It tests eight bytes at a time: the bodies of SQS messages are
// long strings.
func plain(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := specialBytes(word(s[i : i+8])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(s) && !special[s[i]] {
		i++
	}
	return i
}

// Eight bytes in a word, the first in the lowest bits.
const ones, highs = 0x0101010101010101, 0x8080808080808080

func word(b string) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// specialBytes sets the high bit of each byte of x that is below 0x20, a quote or a backslash.
// Past the first such byte it may set others too (a borrow carries into the next byte), so only
// the lowest bit set is sure.
func specialBytes(x uint64) uint64 {
	return ((x - ones*0x20) | ((x ^ ones*'"') - ones) | ((x ^ ones*'\\') - ones)) &^ x & highs
}

// backslashes is specialBytes for backslashes alone.
func backslashes(x uint64) uint64 {
	return ((x ^ ones*'\\') - ones) &^ x & highs
}

func isHex4(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (d *Decoder) literal(lit string) bool {
	if !strings.HasPrefix(d.s[d.i:], lit) {
		return false
	}
	d.i += len(lit)
	return true
}

// number reads over a number in JSON's grammar.
func (d *Decoder) number() bool {
	if d.s[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.s) && d.s[d.i] == '0':
		d.i++
	case d.i < len(d.s) && '1' <= d.s[d.i] && d.s[d.i] <= '9':
		d.digits()
	default:
		return false
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			return false
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return false
		}
	}
	return true
}

func (d *Decoder) digits() int {
	start := d.i
	for d.i < len(d.s) && '0' <= d.s[d.i] && d.s[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}

// FoldsTo reports whether encoding/json would decode a member called name into a field called
// one of fields although name is none of them: it matches field names without regard to case
// (Unicode simple folding, as strings.EqualFold).
func FoldsTo(name string, fields ...string) bool {
	for _, f := range fields {
		if name != f && strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// Members notes which of an object's members (up to 16, by a reader's own numbering) were read,
// for a reader that refuses an object naming one twice: encoding/json would keep the last value,
// and a one-pass reader has already handed out the first.
type Members uint16

// First reports whether member n is read for the first time, and notes it read.
func (m *Members) First(n int) bool {
	bit := Members(1) << n
	first := *m&bit == 0
	*m |= bit
	return first
}
