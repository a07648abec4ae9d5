package reliability

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/internal/generate"
)

// TestLoad sends S2E_LOAD_RECORDS (default 100,000) records through the local flow and waits,
// up to S2E_LOAD_TIMEOUT (default 25m), until every one has crossed every hop. It runs only
// with S2E_LOAD=1 (make load): on two cores it takes many minutes, most of them in moto.
func TestLoad(t *testing.T) {
	if os.Getenv("S2E_LOAD") == "" {
		t.Skip("set S2E_LOAD=1 (make load) to send 100,000 records through the local flow")
	}
	n := envInt(t, "S2E_LOAD_RECORDS", 100_000)
	timeout := 25 * time.Minute
	if v := os.Getenv("S2E_LOAD_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("S2E_LOAD_TIMEOUT: %v", err)
		}
		timeout = d
	}
	// The processors keep the template's 60 s: a Firehose batch of thousands of records waits
	// on a queue that moto serves more slowly as it fills.
	f := startFlowWith(t, [][2]string{{"      Timeout: 10\n", "      Timeout: 60\n"}})
	recs, err := generate.Generate(generate.Options{Seed: 500, Invalid: 0.01, Duplicates: 0.01, Entities: 1000}, n)
	if err != nil {
		t.Fatal(err)
	}
	x := expect(recs)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()

	start := time.Now()
	sent := make(chan time.Duration, 1)
	sendErr := make(chan error, 1)
	go func() {
		_, err := generate.Send(ctx, generate.NewFirehose(f.fh, f.stream), slices.Values(recs), generate.SendOptions{})
		sendErr <- err
		sent <- time.Since(start)
	}()

	// Progress from counts, not the full state: a scan of the whole store every second would
	// load moto more than the flow does.
	var sendTook time.Duration
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case sendTook = <-sent:
			if err := <-sendErr; err != nil {
				t.Fatalf("send: %v", err)
			}
			t.Logf("sent %d records in %s (%.0f records/s into Firehose)", n, sendTook.Round(time.Second), float64(n)/sendTook.Seconds())
		case <-tick.C:
			stored, err := f.count(ctx, f.store)
			if err != nil {
				t.Logf("count: %v", err)
				continue
			}
			emitted := len(f.chaos.emittedCounts())
			depths, _ := f.depths(ctx)
			t.Logf("%s: stored %d, emitted %d of %d unique; queue %d; moto's time: %s", time.Since(start).Round(time.Second), stored, emitted,
				len(x.sentByID), depths["IngestQueue"], f.chaos.slowest(5))
			done = stored >= len(x.sentByID) && emitted >= len(x.sentByID)
		case <-ctx.Done():
			done = true
		}
	}
	took := time.Since(start)
	// Not await: its Firehose flush waits for a transformer invocation in flight, which under
	// this load can take the processor's whole timeout.
	s, err := f.observe(context.WithoutCancel(ctx))
	if err != nil {
		t.Fatal(err)
	}
	o := x.compare(s)
	t.Logf("load: %d records (%d valid, %d unique) end to end in %s: %.0f records/s; lost %d, store duplicates %d, events emitted twice %d",
		n, x.valid, len(x.sentByID), took.Round(time.Second), float64(x.valid)/took.Seconds(), len(o.lost), o.dupStore, o.dupEmitted)
	lake, stored, emitted := 0, 0, 0
	for id := range x.sentByID {
		lake += min(1, s.lake[id])
		stored += min(1, s.store[id])
		emitted += min(1, s.emitted[id])
	}
	rate := func(n int) string { return fmt.Sprintf("%d (%.1f/s)", n, float64(n)/took.Seconds()) }
	notes := fmt.Sprintf("into Firehose in %s; after %s the lake held %s, the store %s and the bus %s of %d unique records; moto's time by call: %s",
		sendTook.Round(time.Second), took.Round(time.Second), rate(lake), rate(stored), rate(emitted), len(x.sentByID), f.chaos.slowest(6))
	t.Log(notes)
	addFigure(t, figure{Case: "load: " + strconv.Itoa(n) + " records", Sent: x.sent, Valid: x.valid, Lost: len(o.lost), DupStore: o.dupStore,
		DupEmitted: o.dupEmitted, DLQ: [3]int{s.depths["IngestDLQ"], s.depths["EmitterDLQ"], s.depths["ResponderDLQ"]}, Took: took, Load: notes})
	if len(o.lost) > 0 {
		t.Errorf("%d records lost or not through within %s (first: %v)", len(o.lost), timeout, o.lost[:min(5, len(o.lost))])
	}
	if o.dupStore > 0 || len(o.stale) > 0 {
		t.Errorf("%d duplicate store items, %d stale projection entries", o.dupStore, len(o.stale))
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// count counts a table's items.
func (f *flow) count(ctx context.Context, table string) (int, error) {
	n := 0
	pages := dynamodb.NewScanPaginator(f.db, &dynamodb.ScanInput{TableName: aws.String(table), Select: ddbtypes.SelectCount})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return n, err
		}
		n += int(page.Count)
	}
	return n, nil
}
