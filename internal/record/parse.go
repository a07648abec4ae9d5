package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Limits of a record.
const (
	// MaxInputSize is the design's limit of an input record.
	MaxInputSize = 1000 << 10
	// MaxCanonicalSize bounds the canonical JSON of a record. It is narrower than the input
	// limit because every record travels on as one SQS message, one DynamoDB item (400 KB with
	// its attribute names and keys) and one EventBridge entry (256 KB with the event's own
	// fields): a record past this would be refused further down, after it was accepted here.
	MaxCanonicalSize = 240 << 10
	// MaxKeySize bounds an envelope's key, which becomes part of the store's partition key.
	MaxKeySize = 1024
	// idHexLen is the length of a derived id: 128 bits of SHA-256 in hex.
	idHexLen = 32
)

// Errors of Parse, so callers can tell why a record was refused. Every error Parse returns wraps
// exactly one of them, with a message meant for the producer.
var (
	ErrTooLarge    = errors.New("record too large")
	ErrInvalidUTF8 = errors.New("record is not valid UTF-8")
	ErrNotJSON     = errors.New("record is not JSON")
	ErrNotObject   = errors.New("record is not a JSON object")
	ErrEnvelope    = errors.New("invalid envelope")
	ErrSchema      = errors.New("record does not match the schema of its type")
	ErrUnstorable  = errors.New("record cannot be stored")
)

// Meta is what the transport says about a record: the delivery stream it came through and when
// Firehose received it. Both go into the derived id, so a retried Firehose batch gets the same
// ids again.
type Meta struct {
	Source        string
	ArrivalMillis int64
}

// Parser turns input records into canonical records, validating each envelope against the
// schema of its type. It is safe for concurrent use.
type Parser struct {
	schemas Schemas
}

// Schemas checks a record, already known to be valid JSON, against the schema of its type
// (contracts.Set does). Only the transformer validates; naming this one method rather than the
// contracts package keeps the JSON Schema library, and its start-up, out of the other functions,
// which parse records too.
type Schemas interface {
	CheckValidJSON(typ string, doc []byte) error
}

// NewParser returns a parser that validates against schemas; nil validates no type.
func NewParser(schemas Schemas) *Parser { return &Parser{schemas: schemas} }

// envelope holds the top-level members of the record object that make up the envelope.
type envelope struct {
	typ, key, id, time, data member
	has                      uint8 // bit per field seen
	dup                      string
	unknown                  string
}

const (
	hasType = 1 << iota
	hasKey
	hasID
	hasTime
	hasData
)

// Parse validates raw and builds its canonical record. A record with both "type" and "data" at
// the top is an envelope and must be a valid one; any other JSON object is a raw record, which
// becomes data as a whole with type raw.
func (p *Parser) Parse(raw []byte, meta Meta) (Record, error) {
	if len(raw) > MaxInputSize {
		return Record{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(raw), MaxInputSize)
	}
	if !utf8.Valid(raw) {
		return Record{}, ErrInvalidUTF8
	}
	s := scanner{b: raw}
	s.skipSpace()
	if s.i == len(raw) {
		return Record{}, fmt.Errorf("%w: the record is empty", ErrNotJSON)
	}
	if raw[s.i] != '{' {
		return Record{}, notObject(&s)
	}
	var env envelope
	if err := s.object(env.add(raw)); err != nil {
		return Record{}, scanError(err)
	}
	s.skipSpace()
	if s.i != len(raw) {
		return Record{}, fmt.Errorf("%w: data after the end of the object at byte %d", ErrNotJSON, s.i)
	}

	r := Record{Source: meta.Source, ReceivedAt: FormatTime(time.UnixMilli(meta.ArrivalMillis))}
	var data span
	if env.has&hasType != 0 && env.has&hasData != 0 {
		if err := env.read(raw, &r); err != nil {
			return Record{}, fmt.Errorf("%w: %w", ErrEnvelope, err)
		}
		if env.data.depth > maxDataDepth {
			return Record{}, fmt.Errorf("%w: data nested deeper than DynamoDB's %d levels", ErrUnstorable, maxDataDepth)
		}
		data = env.data.val
	} else {
		if s.maxDepth > maxDataDepth {
			return Record{}, fmt.Errorf("%w: nested deeper than DynamoDB's %d levels", ErrUnstorable, maxDataDepth)
		}
		r.Type, data = RawType, span{0, len(raw)}
	}
	if r.ID == "" {
		r.ID = derivedID(meta, raw)
	}
	if r.Key == "" {
		r.Key = r.ID
	}
	if r.Time == "" {
		r.Time = r.ReceivedAt
	}
	r.Data = canonicalData(raw[data.start:data.end])

	if p.schemas != nil {
		// The schemas describe the envelope as the producer sent it.
		if err := p.schemas.CheckValidJSON(r.Type, raw); err != nil {
			return Record{}, fmt.Errorf("%w: %w", ErrSchema, err)
		}
	}
	if n := r.JSONLen(); n > MaxCanonicalSize {
		return Record{}, fmt.Errorf("%w: the canonical record is %d bytes, the limit is %d (one SQS message, DynamoDB item and EventBridge entry)", ErrTooLarge, n, MaxCanonicalSize)
	}
	return r, nil
}

func notObject(s *scanner) error {
	kind := "a JSON value"
	switch c := s.b[s.i]; {
	case c == '[':
		kind = "an array"
	case c == '"':
		kind = "a string"
	case c == 't' || c == 'f':
		kind = "a boolean"
	case c == 'n':
		kind = "null"
	case c == '-' || (c >= '0' && c <= '9'):
		kind = "a number"
	}
	if err := s.value(); err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: %w", ErrNotJSON, err)
		}
	}
	return fmt.Errorf("%w: it is %s", ErrNotObject, kind)
}

func scanError(err error) error {
	var se *syntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	return err
}

// add returns the scanner's callback for the root object's members.
func (e *envelope) add(raw []byte) func(member) error {
	return func(m member) error {
		name := raw[m.key.start:m.key.end]
		if m.escaped {
			name = []byte(unquote(raw, m.key))
		}
		var slot *member
		var bit uint8
		switch string(name) {
		case "type":
			slot, bit = &e.typ, hasType
		case "key":
			slot, bit = &e.key, hasKey
		case "id":
			slot, bit = &e.id, hasID
		case "time":
			slot, bit = &e.time, hasTime
		case "data":
			slot, bit = &e.data, hasData
		default:
			if e.unknown == "" {
				e.unknown = string(name)
			}
			return nil
		}
		if e.has&bit != 0 && e.dup == "" {
			e.dup = string(name)
		}
		*slot = m
		e.has |= bit
		return nil
	}
}

// read checks the envelope and copies its fields into r.
func (e *envelope) read(raw []byte, r *Record) error {
	if e.dup != "" {
		return fmt.Errorf("field %q appears twice", e.dup)
	}
	if e.unknown != "" {
		return fmt.Errorf("unknown field %q (an envelope has type, key, id, time and data; send other fields inside data)", e.unknown)
	}
	var err error
	if r.Type, err = stringField(raw, e.typ, "type"); err != nil {
		return err
	}
	if !validName(r.Type, false) {
		return fmt.Errorf("type %.80q must be 1 to 64 characters of A-Z a-z 0-9 . _ -", r.Type)
	}
	if e.has&hasKey == 0 {
		return errors.New(`field "key" is missing`)
	}
	if r.Key, err = stringField(raw, e.key, "key"); err != nil {
		return err
	}
	if r.Key == "" || len(r.Key) > MaxKeySize {
		return fmt.Errorf("key must be 1 to %d bytes, it is %d", MaxKeySize, len(r.Key))
	}
	if hasNoncharacter(r.Key) {
		return errors.New("key holds U+FFFE or U+FFFF, which an SQS message cannot carry")
	}
	if raw[e.data.val.start] != '{' {
		return errors.New("data must be a JSON object")
	}
	if e.has&hasID != 0 {
		if r.ID, err = stringField(raw, e.id, "id"); err != nil {
			return err
		}
		if !validName(r.ID, true) {
			return fmt.Errorf("id %.80q must be 1 to 64 characters of A-Z a-z 0-9 . _ : - (it is the SQS deduplication id)", r.ID)
		}
	}
	if e.has&hasTime != 0 {
		ts, err := stringField(raw, e.time, "time")
		if err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return fmt.Errorf("time %.80q is not RFC 3339 (2006-01-02T15:04:05Z)", ts)
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return fmt.Errorf("time %.80q is outside the years 0001 to 9999", ts)
		}
		r.Time = FormatTime(t)
	}
	return nil
}

func stringField(raw []byte, m member, name string) (string, error) {
	if raw[m.val.start] != '"' {
		return "", fmt.Errorf("field %q must be a string", name)
	}
	in := span{m.val.start + 1, m.val.end - 1}
	if m.escaped || hasBackslash(raw[in.start:in.end]) {
		return unquote(raw, in), nil
	}
	return string(raw[in.start:in.end]), nil
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// unquote decodes the string inside the quotes at sp; the scanner has already checked it.
func unquote(raw []byte, sp span) string {
	var s string
	_ = json.Unmarshal(raw[sp.start-1:sp.end+1], &s)
	return s
}

func hasNoncharacter(s string) bool {
	for _, r := range s {
		if r == 0xFFFE || r == 0xFFFF {
			return true
		}
	}
	return false
}

// validName reports whether s is 1 to 64 characters of [A-Za-z0-9._-], with ':' too when
// colon is set: the characters SQS allows in a deduplication id, and safe in the store's keys.
func validName(s string, colon bool) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		case c == ':' && colon:
		default:
			return false
		}
	}
	return true
}

// derivedID is the id of a record without one of its own: a hash of where and when Firehose got
// it and what it is. Firehose hands a retried batch over with the same arrival timestamps, so a
// retry gets the same ids, and SQS drops the duplicate messages.
func derivedID(meta Meta, raw []byte) string {
	h := sha256.New()
	var buf [24]byte
	h.Write([]byte(meta.Source))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(buf[:0], meta.ArrivalMillis, 10))
	h.Write([]byte{0})
	h.Write(raw)
	var sum [sha256.Size]byte
	var out [idHexLen]byte
	hex.Encode(out[:], h.Sum(sum[:0])[:idHexLen/2])
	return string(out[:])
}
