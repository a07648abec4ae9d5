package queue

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

// FIFO is what a FIFO queue is told about a record's message besides its body.
type FIFO struct {
	// GroupID keeps order per entity while entities run in parallel.
	GroupID string
	// DeduplicationID is a hash of the record's identity (type, key, time, id) and its data. A
	// Firehose retry of the same bytes makes the same id, so SQS drops the copy; other data under
	// the same identity makes another id, so it reaches the storer, which reports the conflict
	// instead of the queue hiding it.
	DeduplicationID string
}

// FIFOOf returns the FIFO attributes of r's message. Every sender to the ingest queue uses it, so
// that the queue deduplicates the same way whoever sends.
func FIFOOf(r record.Record) FIFO {
	return FIFO{GroupID: r.GroupID(), DeduplicationID: ContentHash(r)}
}

// ContentHash is the hex SHA-256 of r's identity and data. Ingest metadata (receivedAt, source)
// does not count: a re-send of the same record through another hop hashes the same. Each field is
// length-prefixed, so no two different records hash alike by shifting bytes between fields.
func ContentHash(r record.Record) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range [][]byte{[]byte(r.Type), []byte(r.Key), []byte(r.Time), []byte(r.ID), r.Data} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}
