package generate

import (
	"context"
	"strconv"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/transform"
)

// TestGeneratedRecords keeps the generator and the transformer in step: every record the
// generator calls valid comes out Ok with the type, key, id and time it meant, and every record
// it made flawed is ProcessingFailed.
func TestGeneratedRecords(t *testing.T) {
	rs, err := Generate(Options{Seed: 7, Invalid: 0.3, Raw: 0.1, Duplicates: 0.1}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	set, err := contracts.Load("../../../layers/contracts")
	if err != nil {
		t.Fatal(err)
	}
	in := make([]transform.Input, len(rs))
	for i, g := range rs {
		in[i] = transform.Input{RecordID: strconv.Itoa(i), Data: g.Data, ArrivalMillis: 1795428000456, Source: "ingest"}
	}
	fake := &queueTaker{}
	tr := &transform.Transformer{Parser: record.NewParser(set), Sender: fake}
	res, err := tr.Transform(t.Context(), in)
	out := res.Outputs
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for i, g := range rs {
		o := out[i]
		if (o.Result == transform.Ok) != g.Valid() {
			t.Errorf("record %d (flaw %q): %v %v", g.Seq, g.Flaw, o.Result, o.Err)
			continue
		}
		if o.Result != transform.Ok {
			continue
		}
		r := fake.sent[sent].Record
		sent++
		if r.Type != g.Type || (g.Key != "" && r.Key != g.Key) || (g.ID != "" && r.ID != g.ID) || (g.Time != "" && r.Time != g.Time) {
			t.Errorf("record %d: got %s %s %s %s, generator meant %s %s %s %s", g.Seq, r.Type, r.Key, r.ID, r.Time, g.Type, g.Key, g.ID, g.Time)
		}
	}
	if sent != len(fake.sent) {
		t.Errorf("%d Ok records, %d sent to the queue", sent, len(fake.sent))
	}
}

// queueTaker takes every message the transformer sends.
type queueTaker struct{ sent []queue.Message }

func (q *queueTaker) SendMessages(_ context.Context, msgs []queue.Message, _ string) error {
	q.sent = append(q.sent, msgs...)
	return nil
}
