// Package generate produces the records a producer sends into the pipeline: the four sample kinds
// of the original example (orders, device readings, inventory lists, security findings) in
// envelope form, with chosen shares of raw records, invalid records and duplicates, and sends
// them to Firehose at the API's batch limits without dropping any. Each generated record says
// what it is, so that the demo and the end-to-end tests can compute what must land where.
//
// A generator is deterministic: the same Options give the same bytes, so a failing run can be
// replayed with its seed.
package generate

import (
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

// The record types of the four sample kinds, as the envelope's "type" names them and the
// contracts layer names their schemas.
const (
	TypeOrder     = "order"
	TypeDevice    = "device"
	TypeInventory = "inventory"
	TypeSecurity  = "security"
)

// Types are the envelope types the generator sends, in the order it cycles through them.
var Types = []string{TypeOrder, TypeDevice, TypeInventory, TypeSecurity}

// Flaw says why a record must be refused by the transformer; "" for a valid record.
type Flaw string

// The flaws of invalid records: every way the design says a record is refused that a producer
// can actually send (the size limit is left out: Firehose itself refuses such a record).
const (
	FlawNotJSON     Flaw = "not-json"     // a truncated envelope
	FlawInvalidUTF8 Flaw = "invalid-utf8" // an envelope with a Latin-1 byte in a string
	FlawArray       Flaw = "array"        // an envelope wrapped in a JSON array
	FlawScalar      Flaw = "scalar"       // a JSON string, not an object
	FlawSchema      Flaw = "schema"       // an envelope whose data breaks its type's schema
	FlawEmpty       Flaw = "empty"        // no bytes at all
)

// Flaws are all flaws, in the order the generator cycles through them.
var Flaws = []Flaw{FlawNotJSON, FlawInvalidUTF8, FlawArray, FlawScalar, FlawSchema, FlawEmpty}

// Record is one generated record: the bytes to send and what the pipeline must make of them.
type Record struct {
	Seq  int    // position in the generated sequence, from 0; unique
	Data []byte // the bytes sent, exactly
	// Type is the canonical type the record gets: one of Types, or record.RawType for a record
	// without the envelope. For an invalid record it is the envelope's type where there is one
	// (FlawSchema), else "".
	Type string
	Key  string // the envelope's key; "" for raw and most invalid records
	ID   string // the producer's id (idempotency key); "" for raw and most invalid records
	Time string // the producer's time in record.TimeLayout; "" where the record has none
	Flaw Flaw   // why the transformer must refuse it; "" when valid
	// DuplicateOf is the Seq of the record whose bytes this one sends again, or -1 for an
	// original. A duplicate has the same Type, Key, ID, Time and Flaw as its original.
	DuplicateOf int
}

// Valid reports whether the pipeline must accept the record.
func (r Record) Valid() bool { return r.Flaw == "" }

// Duplicate reports whether the record sends an earlier record's bytes again.
func (r Record) Duplicate() bool { return r.DuplicateOf >= 0 }

// Raw reports whether the record is a valid JSON object without the envelope.
func (r Record) Raw() bool { return r.Valid() && r.Type == record.RawType }

// EntityKey is the event store's partition key of an envelope record ("type#key"), or "" for raw
// and invalid records, whose key the pipeline derives itself.
func (r Record) EntityKey() string {
	if !r.Valid() || r.Key == "" {
		return ""
	}
	return record.Record{Type: r.Type, Key: r.Key}.EntityKey()
}

// Options shape a generated sequence. The shares are fractions of all records, 0..1, and their
// sum must not exceed 1; they are met exactly (to within one record) at every prefix of the
// sequence, so 200 records with Invalid 0.05 hold exactly 10 invalid ones.
type Options struct {
	Seed       uint64
	Raw        float64 // share of valid JSON objects without the envelope
	Invalid    float64 // share of records the transformer must refuse
	Duplicates float64 // share of records that resend an earlier record's bytes
	// Entities is how many distinct entities (keys) each type has; records of one entity repeat
	// with increasing time. 0 means DefaultEntities.
	Entities int
	// Start is the time of the first record; later records are a few milliseconds to a few
	// hundred apart, so time increases strictly along the sequence. The zero value means a fixed
	// instant, keeping the sequence a function of the Options alone.
	Start time.Time
}

// DefaultEntities is the number of entities per type when Options.Entities is 0: few enough that
// a few hundred records give several records per entity, many enough to spread FIFO groups.
const DefaultEntities = 20

// MaxEntities bounds Options.Entities: keys carry the entity's index in a few bits to stay
// distinct.
const MaxEntities = 4096

// defaultStart is the first record's time when Options.Start is zero.
var defaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrOptions is wrapped by New's error when the options cannot be met.
var ErrOptions = errors.New("invalid generator options")

// Generator produces a deterministic sequence of records. It is not safe for concurrent use.
type Generator struct {
	opts Options
	rng  *rand.Rand
	now  time.Time
	seq  int

	entities map[string][]*entity // by type
	credit   [3]float64           // owed raw, invalid, duplicate records: see pick
	// eligible are the Seqs of records a duplicate may copy: envelope records (valid or not).
	// Raw records are left out: without a producer id the pipeline cannot tell a resent raw
	// record from a new one, so their count in the store would depend on arrival timestamps.
	eligible []Record
	nextType int
	nextFlaw int
}

// New checks opts and returns a generator.
func New(opts Options) (*Generator, error) {
	for name, share := range map[string]float64{"raw": opts.Raw, "invalid": opts.Invalid, "duplicates": opts.Duplicates} {
		if share < 0 || share > 1 {
			return nil, fmt.Errorf("%w: %s share %v is outside 0..1", ErrOptions, name, share)
		}
	}
	if sum := opts.Raw + opts.Invalid + opts.Duplicates; sum > 1+1e-9 {
		return nil, fmt.Errorf("%w: raw + invalid + duplicates shares add up to %v, more than 1", ErrOptions, sum)
	}
	if opts.Entities < 0 || opts.Entities > MaxEntities {
		return nil, fmt.Errorf("%w: entities %d is outside 0..%d", ErrOptions, opts.Entities, MaxEntities)
	}
	if opts.Entities == 0 {
		opts.Entities = DefaultEntities
	}
	if opts.Start.IsZero() {
		opts.Start = defaultStart
	}
	g := &Generator{
		opts:     opts,
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed5eed5eed5eed)), // #nosec G404 -- test data must repeat from its seed; nothing here is secret
		now:      opts.Start.UTC().Truncate(time.Millisecond),
		entities: make(map[string][]*entity),
	}
	for _, typ := range Types {
		pool := make([]*entity, opts.Entities)
		for i := range pool {
			pool[i] = newEntity(g.rng, typ, i)
		}
		g.entities[typ] = pool
	}
	return g, nil
}

// Generate returns the first n records of the sequence opts describe.
func Generate(opts Options, n int) ([]Record, error) {
	g, err := New(opts)
	if err != nil {
		return nil, err
	}
	out := make([]Record, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out, nil
}

// Records yields the next n records.
func (g *Generator) Records(n int) iter.Seq[Record] {
	return func(yield func(Record) bool) {
		for range n {
			if !yield(g.Next()) {
				return
			}
		}
	}
}

// category is what pick decides a record will be.
type category int

const (
	catEnvelope category = iota
	catRaw
	catInvalid
	catDuplicate
)

// Next returns the next record.
func (g *Generator) Next() Record {
	// Time moves on for every record, duplicates included: a producer resends later.
	g.now = g.now.Add(time.Duration(1+g.rng.IntN(250)) * time.Millisecond)
	var r Record
	switch g.pick() {
	case catDuplicate:
		orig := g.eligible[g.rng.IntN(len(g.eligible))]
		r = orig
		r.DuplicateOf = orig.Seq
	case catRaw:
		r = g.raw()
	case catInvalid:
		r = g.invalid()
	default:
		r = g.envelope(g.nextEntity())
	}
	r.Seq = g.seq
	g.seq++
	if !r.Duplicate() && r.Type != record.RawType {
		g.eligible = append(g.eligible, r)
	}
	return r
}

// pick decides the category of the next record so that each share is met at every prefix: each
// category earns its share per record, and the one owed the most is paid once it is owed half a
// record or more, so that counts round to the nearest (200 records at 0.1 hold 20, not 19 for
// a category that had to wait its turn). A duplicate is owed until there is an earlier record
// to copy.
func (g *Generator) pick() category {
	shares := [3]float64{g.opts.Raw, g.opts.Invalid, g.opts.Duplicates}
	best, bestCredit := -1, 0.5-1e-9
	for i := range g.credit {
		g.credit[i] += shares[i]
		if i == 2 && len(g.eligible) == 0 {
			continue
		}
		if g.credit[i] >= bestCredit {
			best, bestCredit = i, g.credit[i]
		}
	}
	if best < 0 {
		return catEnvelope
	}
	g.credit[best]--
	return [3]category{catRaw, catInvalid, catDuplicate}[best]
}

// nextEntity cycles through the types so that every type is present in any short sequence, and
// picks one of the type's entities at random.
func (g *Generator) nextEntity() *entity {
	typ := Types[g.nextType%len(Types)]
	g.nextType++
	pool := g.entities[typ]
	return pool[g.rng.IntN(len(pool))]
}

// randomEntity picks an entity of a random type. Raw and invalid records use it: cycling would
// tie each flaw to one type, as the flaws cycle too.
func (g *Generator) randomEntity() *entity {
	pool := g.entities[Types[g.rng.IntN(len(Types))]]
	return pool[g.rng.IntN(len(pool))]
}

// stamp is the current time in the canonical layout (RFC 3339, UTC, milliseconds).
func (g *Generator) stamp() string { return record.FormatTime(g.now) }

// uuid returns a random UUID (version 4 layout) from the generator's seeded source, so ids are
// unique in practice and still reproducible.
func (g *Generator) uuid() string {
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	hi = hi&^0xf000 | 0x4000         // version 4
	lo = lo&^(0xc<<60) | (0x8 << 60) // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, (hi>>16)&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}
