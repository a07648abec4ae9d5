package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/cmd/s2e/redrive"
)

// TestReplayFromStore loses the projection after every record crossed the flow, replays each
// record type from the event store (as `s2e replay --type T` does, no stream involved) and finds
// the projection holding the newest record of every entity again.
func TestReplayFromStore(t *testing.T) {
	f := startFlow(t)
	start, crossedBefore := time.Now(), f.crossings(t.Context())
	recs, err := generate.Generate(generate.Options{Seed: 310, Entities: 4, Start: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)}, 40)
	if err != nil {
		t.Fatal(err)
	}
	x := expect(recs)
	f.send(t.Context(), recs)
	if _, o := f.await(t.Context(), x, 3*time.Minute); len(o.lost) > 0 || len(o.stale) > 0 {
		t.Fatalf("before the replay: lost %v, stale %v", o.lost, o.stale)
	}

	// The projection goes wrong: every entry is gone.
	var keys []map[string]ddbtypes.AttributeValue
	if err := f.scan(t.Context(), f.projection, func(it map[string]ddbtypes.AttributeValue) {
		keys = append(keys, map[string]ddbtypes.AttributeValue{"pk": it["pk"], "sk": it["sk"]})
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := f.db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(f.projection), Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := f.observe(t.Context()); len(s.projection) != 0 {
		t.Fatalf("projection still holds %d entries", len(s.projection))
	}

	rd := f.redriver()
	byType := generate.Expect(recs).UniqueByType // type -> distinct records the store holds
	read := 0
	for typ, n := range byType {
		c, err := rd.Replay(t.Context(), redrive.Selection{Type: typ})
		if err != nil {
			t.Fatalf("replay %s: %v", typ, err)
		}
		if c.Read != n || c.Emitted != n {
			t.Errorf("replay %s: %d read, %d emitted; the store holds %d", typ, c.Read, c.Emitted, n)
		}
		read += c.Read
	}
	s, o := f.await(t.Context(), x, 3*time.Minute)
	if len(o.stale) > 0 || len(s.projection) != len(x.newest) {
		t.Errorf("after the replay the projection holds %d entries, want %d; stale: %v", len(s.projection), len(x.newest), o.stale)
	}
	if unique := len(x.sentByID); read != unique {
		t.Errorf("the replay read %d records, the store holds %d", read, unique)
	}
	// A time range selects on the sort key: nothing before the generated records' start.
	c, err := rd.Replay(t.Context(), redrive.Selection{Type: recs[0].Type, To: time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)})
	if err != nil || c.Read != 0 {
		t.Errorf("replay before the records' time: %d read, %v; want none", c.Read, err)
	}
	addFigure(t, figure{Case: fmt.Sprintf("projection lost, replayed from the store (%d records, %d types)", read, len(byType)),
		Sent: len(recs), Valid: x.valid, Lost: len(o.lost), DupStore: o.dupStore, DupEmitted: o.dupEmitted,
		Crossed: f.crossings(t.Context()).since(crossedBefore), Took: time.Since(start)})
	t.Logf("replayed %d records in %s", read, time.Since(start).Round(time.Millisecond))
}
