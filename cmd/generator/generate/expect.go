package generate

import "github.com/stream-to-events/stream-to-events/internal/record"

// Expected is what the pipeline must make of a sequence of sent records, hop by hop, derived
// from the design's contracts: the lake keeps every valid record as often as it was sent
// (Firehose does not deduplicate), the store keeps one item per producer id, the projection the
// newest record of each entity, and the error prefix every invalid record as often as it was
// sent, with its original bytes.
type Expected struct {
	Sent    int // records sent, duplicates included
	Valid   int // valid records sent, duplicates included: lines in the lake's records/
	Invalid int // invalid records sent, duplicates included: records under the error prefix

	// Unique is the number of distinct valid records: items in the event store and integration
	// events emitted. Each raw record counts once: the generator never resends one.
	Unique int
	// UniqueByType counts the distinct valid records by canonical type (raw included).
	UniqueByType map[string]int

	// SentByID is how often each producer id was sent in a valid record: the lake lines of
	// that id. Raw records carry no id and are not in it.
	SentByID map[string]int
	// Newest is the newest envelope record of each entity, by entity key ("type#key"): what the
	// projection and the API must hold. Raw records are left out: the pipeline derives their key.
	Newest map[string]Record
	// Raw are the raw records (each sent once); the lake and the store hold their bytes as data.
	Raw []Record
	// Failed are the invalid records in the order sent, duplicates included: the error prefix
	// must hold each one's bytes as often as it appears here.
	Failed []Record
}

// Expect computes what the pipeline must make of records sent in full.
func Expect(records []Record) Expected {
	x := Expected{
		UniqueByType: make(map[string]int),
		SentByID:     make(map[string]int),
		Newest:       make(map[string]Record),
	}
	for _, r := range records {
		x.Sent++
		if !r.Valid() {
			x.Invalid++
			x.Failed = append(x.Failed, r)
			continue
		}
		x.Valid++
		if !r.Duplicate() {
			x.Unique++
			x.UniqueByType[r.Type]++
		}
		if r.Type == record.RawType {
			x.Raw = append(x.Raw, r)
			continue
		}
		x.SentByID[r.ID]++
		k := r.EntityKey()
		old, seen := x.Newest[k]
		if !seen || newer(r, old) {
			x.Newest[k] = r
		}
	}
	return x
}

// newer compares as the projection does (record.Record.Newer): time, then id.
func newer(r, old Record) bool {
	return record.Record{Time: r.Time, ID: r.ID}.Newer(record.Record{Time: old.Time, ID: old.ID})
}
