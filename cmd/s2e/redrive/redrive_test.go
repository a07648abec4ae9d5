package redrive

import (
	"errors"
	"strings"
	"testing"
)

func TestDLQEvent(t *testing.T) {
	const event = `{"version":"0","id":"e1","detail-type":"DataInserted","source":"stream-to-events.ingest","account":"123456789012","time":"2026-11-23T10:00:00Z","region":"us-east-1","resources":["arn:aws:dynamodb:us-east-1:123456789012:table/EventStore"],"detail":{"id":"r1","price":19.990000000000000000001}}`
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{"the event itself", event, false},
		{"not JSON", `not json`, true},
		{"an array", `[` + event + `]`, true},
		{"an object that is no event", `{"id":"r1"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := dlqEvent(tt.body)
			if tt.wantErr {
				if !errors.Is(err, ErrNotAnEvent) {
					t.Fatalf("error %v, want ErrNotAnEvent", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The detail goes back byte for byte: its numbers are not rounded through float64.
			if ev.Source != "stream-to-events.ingest" || ev.DetailType != "DataInserted" ||
				string(ev.Detail) != `{"id":"r1","price":19.990000000000000000001}` || len(ev.Resources) != 1 || ev.Time == nil {
				t.Errorf("event %+v (detail %s)", ev, ev.Detail)
			}
		})
	}
}

func TestBatchInfo(t *testing.T) {
	body := `{"requestContext":{"condition":"RetryAttemptsExhausted"},"version":"1.0","DDBStreamBatchInfo":{"shardId":"shardId-1","startSequenceNumber":"900","endSequenceNumber":"1100","batchSize":3,"streamArn":"arn:aws:dynamodb:us-east-1:1:table/T/stream/2026"}}`
	info, err := batchInfo(body)
	if err != nil {
		t.Fatal(err)
	}
	if info.ShardID != "shardId-1" || info.StartSequenceNumber != "900" || info.EndSequenceNumber != "1100" || info.BatchSize != 3 {
		t.Errorf("info %+v", info)
	}
	for _, bad := range []string{`{}`, `{"DDBStreamBatchInfo":{"shardId":"s"}}`, `[`} {
		if _, err := batchInfo(bad); !errors.Is(err, ErrNoBatchInfo) {
			t.Errorf("batchInfo(%s) error %v, want ErrNoBatchInfo", bad, err)
		}
	}
}

func TestSeqLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"9", "10", true}, // numbers, not strings: 9 < 10 though "9" > "10"
		{"10", "9", false},
		{"100", "100", false},
		{"49000000000000000000010", "49000000000000000000011", true},
	}
	for _, tt := range tests {
		if got := seqLess(tt.a, tt.b); got != tt.want {
			t.Errorf("seqLess(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}

func TestIngestDedupID(t *testing.T) {
	id := IngestDedupID("9f2c0e", 1)
	if id == "9f2c0e" || !strings.HasPrefix(id, "9f2c0e#redrive-") {
		t.Errorf("dedup id %q must differ from the original (FIFO drops a seen id for 5 minutes)", id)
	}
	if IngestDedupID("9f2c0e", 1) != id {
		t.Error("the id of one attempt must be stable, so that the SDK's retries of one send deduplicate")
	}
	if IngestDedupID("9f2c0e", 2) == id {
		t.Error("a second redrive of the message must get a fresh id")
	}
	long := IngestDedupID(strings.Repeat("a", 128), 1)
	if len(long) > maxDedupID || long == IngestDedupID(strings.Repeat("a", 128), 2) {
		t.Errorf("long id %q: over %d or not unique per attempt", long, maxDedupID)
	}
}

// Every part is named once, and a redrive of every place leaves out only the conflicts, which
// replayed unchanged would only conflict again.
func TestParts(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Parts {
		if seen[p.Name] || p.Label == "" || p.run == nil || p.counts == nil {
			t.Errorf("part %+v: named twice, or without a label, a run or counts", p)
		}
		seen[p.Name] = true
		if p.Default == (p.Name == "conflicts") {
			t.Errorf("part %s: Default = %v", p.Name, p.Default)
		}
	}
}
