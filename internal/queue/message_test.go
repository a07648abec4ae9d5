package queue

import (
	"encoding/json"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

func TestFIFOOfDeduplicatesOnIdentityAndData(t *testing.T) {
	base := record.Record{
		ID: "id-1", Type: "order", Key: "sku-1", Time: "2026-11-23T10:00:00.000Z",
		ReceivedAt: "2026-11-23T10:00:00.456Z", Source: "ingest", Data: json.RawMessage(`{"price":1}`),
	}
	with := func(f func(*record.Record)) record.Record { r := base; f(&r); return r }
	tests := []struct {
		name string
		r    record.Record
		same bool
	}{
		{"a Firehose retry of the same bytes", base, true},
		{"another arrival time and stream", with(func(r *record.Record) { r.ReceivedAt, r.Source = "2026-11-23T11:00:00.000Z", "other" }), true},
		{"other data under the same identity", with(func(r *record.Record) { r.Data = json.RawMessage(`{"price":2}`) }), false},
		{"another id", with(func(r *record.Record) { r.ID = "id-2" }), false},
		{"another time", with(func(r *record.Record) { r.Time = "2026-11-23T10:00:00.001Z" }), false},
		{"another type", with(func(r *record.Record) { r.Type = "device" }), false},
		{"bytes moved from key to time", with(func(r *record.Record) { r.Key, r.Time = "sku-12", "026-11-23T10:00:00.000Z" }), false},
	}
	want := FIFOOf(base)
	if len(want.DeduplicationID) > 128 || want.GroupID != "order#sku-1" {
		t.Fatalf("FIFOOf = %+v: SQS takes at most 128 characters, and the group is the entity", want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FIFOOf(tt.r)
			if (got.DeduplicationID == want.DeduplicationID) != tt.same {
				t.Errorf("deduplication id %s vs %s; want same = %v", got.DeduplicationID, want.DeduplicationID, tt.same)
			}
		})
	}
}
