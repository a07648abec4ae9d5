package queue

import "github.com/stream-to-events/stream-to-events/internal/record"

// FIFO is what a FIFO queue is told about a record's message besides its body.
type FIFO struct {
	// GroupID keeps order per entity while entities run in parallel.
	GroupID string
	// DeduplicationID is the record's ContentHash: its identity (type, key, time, id) and data. A
	// Firehose retry of the same bytes makes the same id, so SQS drops the copy; other data under
	// the same identity makes another id, so it reaches the storer, which reports the conflict
	// instead of the queue hiding it.
	DeduplicationID string
}

// FIFOOf returns the FIFO attributes of r's message. Every sender to the ingest queue uses it, so
// that the queue deduplicates the same way whoever sends.
func FIFOOf(r record.Record) FIFO {
	return FIFO{GroupID: r.GroupID(), DeduplicationID: r.ContentHash()}
}
