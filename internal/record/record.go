// Package record is the pipeline's canonical record: what the lake, the queue, the event store
// and the integration event all carry, and the keys derived from it at each hop.
package record

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Record is the canonical record. Its JSON form is the contract between hops: field order and
// names are fixed, and no field holds the wall-clock time of a later hop, so a retried write of
// the same record is byte-identical.
type Record struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Key        string          `json:"key"`
	Time       string          `json:"time"`
	ReceivedAt string          `json:"receivedAt"`
	Source     string          `json:"source"`
	Data       json.RawMessage `json:"data"`
}

// TimeLayout is the one time format of canonical records: UTC, milliseconds, fixed width, so that
// string order is time order (the store's sort key and the projection's condition rely on it).
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// RawType is the type of a record that arrived without the envelope.
const RawType = "raw"

// DetailType is the EventBridge detail-type of the integration event that carries a stored
// record: the emitter puts it, the responder's rule matches it and the responder accepts only it.
const DetailType = "DataInserted"

// EntityKey identifies the entity a record is about: "type#key". It is the event store's
// partition key.
func (r Record) EntityKey() string { return r.Type + "#" + r.Key }

// SortKey orders the records of one entity: "time#id", so two records of one entity at the
// same instant never overwrite each other.
func (r Record) SortKey() string { return r.Time + "#" + r.ID }

// GroupID is the SQS FIFO MessageGroupId of the record: its entity key, so that order is kept per
// entity while entities run in parallel. SQS allows at most 128 characters of printable ASCII; an
// entity key outside that is replaced by its type and a hash of the key, which is as stable.
func (r Record) GroupID() string {
	if k := r.EntityKey(); len(k) <= 128 && printableASCII(k) {
		return k
	}
	sum := sha256.Sum256([]byte(r.Key))
	return truncate(r.Type, 60) + "#sha256:" + hex.EncodeToString(sum[:24])
}

// ContentHash is the hex SHA-256 of r's identity (type, key, time, id) and data: what makes two
// records the same record. Ingest metadata (receivedAt, source) does not count, so a re-send of
// the same record through another hop hashes the same. The ingest queue deduplicates on it and
// the event store keeps it with the item, to tell an identical re-send from a conflict. Each
// field is length-prefixed, so no two different records hash alike by shifting bytes between
// fields.
func (r Record) ContentHash() string {
	h := sha256.New()
	var n [8]byte
	field := func(f []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	for _, f := range [...]string{r.Type, r.Key, r.Time, r.ID} {
		field([]byte(f))
	}
	field(r.Data)
	var sum [sha256.Size]byte
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], h.Sum(sum[:0]))
	return string(out[:])
}

// Newer reports whether r should replace old as the newest state of its entity: a later time,
// or the same time and a greater id, so that every replica converges whatever order it sees.
func (r Record) Newer(old Record) bool {
	if r.Time != old.Time {
		return r.Time > old.Time
	}
	return r.ID > old.ID
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
