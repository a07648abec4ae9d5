package record

import (
	"fmt"

	"github.com/stream-to-events/stream-to-events/internal/jsonattr"
)

// scanDepth is the deepest nesting the scanner follows: an envelope (one level) around data
// nested as deep as DynamoDB allows. Anything deeper is refused on the spot, so a record nested
// 10,000 levels costs 33 steps of recursion, not 10,000.
const scanDepth = jsonattr.MaxDepth

// maxDataDepth is how deep data may be nested, its own object counting as one: DynamoDB's limit
// less the item level that holds data.
const maxDataDepth = jsonattr.MaxDepth - 1

// span is a value's place in the input: b[start:end].
type span struct{ start, end int }

// member is a top-level member of the record object.
type member struct {
	key     span // inside the quotes
	escaped bool // the key has escape sequences
	val     span
	depth   int // nesting of the value, its own object or array counting as one; 0 for a scalar
}

// scanner checks in one pass, without allocating, that the input is one JSON value that
// DynamoDB, SQS and EventBridge can all carry: well-formed, nested no deeper than scanDepth,
// every number within DynamoDB's range and precision, no character SQS refuses. It records the
// top-level members of the record object so that the envelope can be read without decoding.
type scanner struct {
	b        []byte
	i        int
	depth    int
	maxDepth int
}

// syntaxError is a malformed input: it is not JSON.
type syntaxError struct {
	msg string
	at  int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.at) }

func (s *scanner) fail(msg string) error { return &syntaxError{msg: msg, at: s.i} }

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value() error {
	s.skipSpace()
	if s.i >= len(s.b) {
		return s.fail("unexpected end of input")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return s.fail(fmt.Sprintf("unexpected character %q", s.b[s.i]))
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > s.maxDepth {
		s.maxDepth = s.depth
	}
	if s.depth > scanDepth {
		return fmt.Errorf("%w: nested deeper than DynamoDB's %d levels", ErrUnstorable, maxDataDepth)
	}
	return nil
}

// object scans an object; when top is not nil it is called with each member (the root object).
func (s *scanner) object(top func(member) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++ // {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail("expected a member name")
		}
		keyStart := s.i + 1
		escaped, err := s.str()
		if err != nil {
			return err
		}
		m := member{key: span{keyStart, s.i - 1}, escaped: escaped}
		if err := checkName(s.b, m); err != nil {
			return err
		}
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail("expected ':' after a member name")
		}
		s.i++
		s.skipSpace()
		m.val.start = s.i
		outer := s.maxDepth
		s.maxDepth = s.depth
		if err := s.value(); err != nil {
			return err
		}
		m.val.end, m.depth = s.i, s.maxDepth-s.depth
		s.maxDepth = max(outer, s.maxDepth)
		if top != nil {
			if err := top(m); err != nil {
				return err
			}
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input in an object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("expected ',' or '}' in an object")
		}
	}
}

// maxNameBytes is DynamoDB's limit on an attribute name, nested map keys included.
const maxNameBytes = 64 << 10

// checkName refuses a member name DynamoDB would refuse as an attribute name (empty, or over
// 64 KiB): the store's batch write would fail for the whole batch.
func checkName(b []byte, m member) error {
	n := m.key.end - m.key.start
	if n > maxNameBytes && m.escaped {
		n = len(unquote(b, m.key))
	}
	if n == 0 || n > maxNameBytes {
		return fmt.Errorf("%w: a member name at byte %d is empty or over 64 KiB, which DynamoDB refuses as an attribute name", ErrUnstorable, m.key.start-1)
	}
	return nil
}

func (s *scanner) array() error {
	if err := s.enter(); err != nil {
		return err
	}
	s.i++ // [
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if err := s.value(); err != nil {
			return err
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input in an array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.fail("expected ',' or ']' in an array")
		}
	}
}

// str scans a string starting at its opening quote, leaving s.i after the closing one. The input
// is known to be valid UTF-8.
func (s *scanner) str() (escaped bool, err error) {
	s.i++ // "
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return false, s.fail("unexpected end of input in a string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex4(s.b[s.i+2:s.i+6]) {
					return false, s.fail(`invalid \u escape in a string`)
				}
				s.i += 6
			default:
				return false, s.fail("invalid escape in a string")
			}
		case c < 0x20:
			return false, s.fail("control character in a string")
		case c == 0xEF && s.i+2 < len(s.b) && s.b[s.i+1] == 0xBF && s.b[s.i+2] >= 0xBE:
			// U+FFFE and U+FFFF are valid UTF-8 but outside the characters an SQS message may
			// hold: the queue would refuse the record, and with it the whole Firehose batch.
			return false, fmt.Errorf("%w: noncharacter U+FFF%X at byte %d is not allowed in an SQS message", ErrUnstorable, s.b[s.i+2]&0xF, s.i)
		default:
			s.i++
		}
	}
	return false, s.fail("unexpected end of input in a string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.i += len(lit)
	return nil
}

// number scans a number and checks that DynamoDB can hold it. Short numbers without an
// exponent always fit (at most 38 digits, magnitude within 1e-38 and 1e38), so only the others
// pay for the full check.
func (s *scanner) number() error {
	start := s.i
	exp := false
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return s.fail("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.fail("invalid number: no digit after '.'")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		exp = true
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.fail("invalid number: no digit in the exponent")
		}
	}
	if exp || s.i-start > 38 {
		if err := jsonattr.CheckNumber(string(s.b[start:s.i])); err != nil {
			return fmt.Errorf("%w: number %.40s at byte %d is beyond DynamoDB's 38 digits or range 1e-130 to 1e126", ErrUnstorable, s.b[start:s.i], start)
		}
	}
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}
