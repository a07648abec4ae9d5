package reliability

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
)

// TestLoad sends S2E_LOAD_RECORDS (default 100,000) records through the local flow, a thousand
// at a time as fast as the flow takes them (S2E_LOAD_MAX_BACKLOG), and waits, up to S2E_LOAD_TIMEOUT (default 60m), until every one has crossed every hop. It runs only
// with S2E_LOAD=1 (make load): on two cores it takes many minutes, most of them in moto.
func TestLoad(t *testing.T) {
	if os.Getenv("S2E_LOAD") == "" {
		t.Skip("set S2E_LOAD=1 (make load) to send 100,000 records through the local flow")
	}
	n := envInt(t, "S2E_LOAD_RECORDS", 100_000)
	timeout := 60 * time.Minute
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

	// The producer holds back while more than maxBacklog of the records it sent have not reached
	// the end of the flow (the responder's projection write, one per event): moto's SQS does work
	// in proportion to a queue's depth for every message sent, received and deleted, so a burst
	// that fills the ingest queue, or the rule's delivery queue behind the slowest hop, slows the
	// whole local flow as it grows (measured: 72 records/s at 3,500 queued, 26 at 16,000; 20/s
	// with 25,000 events waiting for the responder). The backlog is counted end to end, not from
	// a queue's depth, which lags the puts by a Firehose buffer. On AWS a queue's depth costs
	// nothing.
	maxBacklog := envInt(t, "S2E_LOAD_MAX_BACKLOG", 3000)
	start := time.Now()
	sent := make(chan time.Duration, 1)
	sendErr := make(chan error, 1)
	var held time.Duration
	go func() {
		err := func() error {
			to := generate.NewFirehose(f.fh, f.stream)
			unique := map[string]bool{}
			for chunk := range slices.Chunk(recs, 1000) {
				for len(unique)-f.chaos.answered("EventResponderFunction", "PutItem") > maxBacklog {
					held += time.Second
					if !sleepCtx(ctx, time.Second) {
						return ctx.Err()
					}
				}
				if _, err := generate.Send(ctx, to, slices.Values(chunk), generate.SendOptions{}); err != nil {
					return err
				}
				for _, r := range chunk {
					if x.sentByID[r.ID] > 0 {
						unique[r.ID] = true
					}
				}
			}
			return nil
		}()
		sendErr <- err
		sent <- time.Since(start)
	}()

	// Progress from the events the bus took (counted by the chaos proxy as they pass); the
	// projection (one item per entity) read when the bus has them all, and the store counted only
	// when the projection holds every entity's newest record: a scan of 100,000 items every few seconds
	// would load moto more than the flow does. Every 30 s a line of progress, kept for the notes.
	var sendTook time.Duration
	var samples []string
	check := time.NewTicker(2 * time.Second)
	defer check.Stop()
	lastLog, lastEmitted := start, 0
	for done := false; !done; {
		select {
		case sendTook = <-sent:
			if err := <-sendErr; err != nil {
				t.Fatalf("send: %v", err)
			}
			t.Logf("sent %d records in %s, held back %s while over %d records were on their way", n, sendTook.Round(time.Second), held, maxBacklog)
		case <-check.C:
			emitted := f.chaos.emittedIDs()
			if time.Since(lastLog) >= 30*time.Second {
				depths, _ := f.depths(ctx)
				rate := float64(emitted-lastEmitted) / time.Since(lastLog).Seconds()
				samples = append(samples, fmt.Sprintf("%s %d (%.0f/s)", time.Since(start).Round(time.Second), emitted, rate))
				t.Logf("%s: emitted %d of %d unique (%.0f/s in the last %s); ingest queue %d; moto's time: %s", time.Since(start).Round(time.Second),
					emitted, len(x.sentByID), rate, time.Since(lastLog).Round(time.Second), depths["IngestQueue"], f.chaos.slowest(5))
				lastLog, lastEmitted = time.Now(), emitted
			}
			if emitted < len(x.sentByID) || !f.projectionNewest(ctx, x) {
				continue
			}
			stored, err := f.itemCount(ctx, f.store)
			if err != nil {
				t.Logf("count: %v", err)
				continue
			}
			done = stored >= len(x.sentByID)
		case <-ctx.Done():
			done = true
		}
	}
	took := time.Since(start)
	checkStart := time.Now()
	// Not await: its Firehose flush waits for a transformer invocation in flight, which under
	// this load can take the processor's whole timeout.
	s, err := f.observe(context.WithoutCancel(ctx))
	if err != nil {
		t.Fatal(err)
	}
	o := x.compare(s)
	checkTook := time.Since(checkStart).Round(time.Second)
	t.Logf("the final check read the lake, the store and the projection in %s", checkTook)
	t.Logf("load: %d records (%d valid, %d unique) end to end in %s: %.0f records/s; lost %d, store duplicates %d, events emitted twice %d",
		n, x.valid, len(x.sentByID), took.Round(time.Second), float64(x.valid)/took.Seconds(), len(o.lost), o.dupStore, o.dupEmitted)
	lake, stored, emitted := 0, 0, 0
	for id := range x.sentByID {
		lake += min(1, s.lake[id])
		stored += min(1, s.store[id])
		emitted += min(1, s.emitted[id])
	}
	rate := func(n int) string { return fmt.Sprintf("%d (%.1f/s)", n, float64(n)/took.Seconds()) }
	notes := fmt.Sprintf("into Firehose in %s (held back while over %d records were on their way); after %s the lake held %s, the store %s and the bus %s of %d unique records; events on the bus over time: %s; the final check read every line and item in %s; moto's time by call: %s",
		sendTook.Round(time.Second), maxBacklog, took.Round(time.Second), rate(lake), rate(stored), rate(emitted), len(x.sentByID), strings.Join(samples, ", "), checkTook, f.chaos.slowest(6))
	t.Log(notes)
	addFigure(t, figure{Case: "load: " + strconv.Itoa(n) + " records", Sent: x.sent, Valid: x.valid, Lost: len(o.lost), DupStore: o.dupStore,
		DupEmitted: o.dupEmitted, DLQ: [3]int{s.depths["IngestDLQ"], s.depths["EmitterDLQ"], s.depths["ResponderDLQ"]},
		Crossed: f.crossings(context.WithoutCancel(ctx)), Took: took, Load: notes})
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

// itemCount is the table's item count as DescribeTable gives it: exact and at once on moto (AWS
// refreshes it every six hours). A Scan with Select COUNT of 100,000 items took moto minutes, as
// each page reads the table from its start; the final check reads every item anyway.
func (f *flow) itemCount(ctx context.Context, table string) (int, error) {
	out, err := f.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return 0, err
	}
	return int(aws.ToInt64(out.Table.ItemCount)), nil
}

// sleepCtx waits d, or less when ctx ends first; it reports whether the full wait passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// projectionNewest reports whether the projection holds the newest record of every entity.
func (f *flow) projectionNewest(ctx context.Context, x expectation) bool {
	held := map[string]string{}
	err := f.scan(ctx, f.projection, func(item map[string]ddbtypes.AttributeValue) {
		held[str(item["pk"])+"#"+str(item["sk"])] = str(item["id"])
	})
	if err != nil {
		return false
	}
	for k, id := range x.newest {
		if held[k] != id {
			return false
		}
	}
	return true
}
