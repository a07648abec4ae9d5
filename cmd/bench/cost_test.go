package main

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stream-to-events/stream-to-events/bench/report"
	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
)

func TestCostsFromARun(t *testing.T) {
	prices, err := report.LoadPrices("../../bench/prices.json")
	if err != nil {
		t.Fatal(err)
	}
	l := localResult{
		unique: 1000,
		calls: report.PerThousand([]report.Call{
			{Caller: "TransformerFunction", Service: "sqs", Operation: "SendMessageBatch", Calls: 100},
			{Caller: "EventStorerFunction", Service: "dynamodb", Operation: "BatchWriteItem", Calls: 100},
			{Caller: "EventEmitterFunction", Service: "events", Operation: "PutEvents", Calls: 100},
			{Caller: "baseline", Service: "sqs", Operation: "SendMessage", Calls: 1000},
			{Caller: "baseline", Service: "dynamodb", Operation: "PutItem", Calls: 1000},
			{Caller: "baseline", Service: "events", Operation: "PutEvents", Calls: 1000},
		}, groups, 1000),
		functions: []report.FunctionStats{
			{Function: "TransformerFunction", Invocations: 1, MeanBilledMS: 60000, MemorySizeMB: 128},
			{Function: "EventStorerFunction", Invocations: 100, MeanBilledMS: 500, MemorySizeMB: 128},
			{Function: "EventEmitterFunction", Invocations: 10, MeanBilledMS: 20000, MemorySizeMB: 128},
			// duplicates after emitter timeouts: billed once per event all the same
			{Function: "EventResponderFunction", Invocations: 1500, MeanBilledMS: 700, MemorySizeMB: 128},
		},
		callsByCaller: map[string]int{"TransformerFunction": 100, "EventStorerFunction": 100, "EventEmitterFunction": 100, "EventResponderFunction": 1500},
		sizes:         report.Sizes{RecordBytes: 500, StoreItemBytes: 700, ProjectionBytes: 600, EventBytes: 720},
		bufferMB:      5,
	}
	hops := []report.HopResult{
		{Hop: report.Hop{Name: "transformer"}, Found: true, CPUNs: 10_000},
		{Hop: report.Hop{Name: "storer"}, Found: true, CPUNs: 10_000},
		{Hop: report.Hop{Name: "emitter"}, Found: true, CPUNs: 10_000},
		{Hop: report.Hop{Name: "responder"}, Found: true, Ns: 100_000},
	}
	floor, design, base, assumptions := costs(prices, l, hops)
	line := func(b report.Bill, item string) report.CostLine {
		for _, c := range b.Lines {
			if c.Item == item {
				return c
			}
		}
		return report.CostLine{}
	}
	// 1 KB records: items 1024 + 200 and 1024 + 100 bytes, both 2 WRU; 4 million WRU.
	if got := line(floor, "DynamoDB writes").Quantity; got != 4e6 {
		t.Errorf("floor WRU = %v, want 4e6", got)
	}
	// Sends 100 per 1,000 plus a receive and a delete per storer batch (100 per 1,000).
	if got := line(design, "SQS FIFO requests").Quantity; got != 3e5 {
		t.Errorf("design SQS requests = %v, want 3e5", got)
	}
	if got := line(base, "SQS FIFO requests").Quantity; got != 1.2e6 {
		t.Errorf("baseline SQS requests = %v, want 1.2e6", got)
	}
	// Invocations per million: 1,000 + 100,000 + 10,000 + one per batch of 10 events 100,000.
	if got := line(design, "Lambda requests").Quantity; got != 2.11e5 {
		t.Errorf("design Lambda requests = %v, want 2.11e5", got)
	}
	// The responder's queue: the rule's send per event, a receive and a delete per batch of 10.
	if got := line(design, "SQS standard requests").Quantity; got != 1.2e6 {
		t.Errorf("design SQS standard requests = %v, want 1.2e6", got)
	}
	// Modelled: the storer's 10 records × 10 µs + 1 call × 10 ms = 10.1 → 11 ms per invocation.
	if got := modelledMS(l, hops, "EventStorerFunction", 10); got != 11 {
		t.Errorf("storer modelled billed ms = %v, want 11", got)
	}
	if design.Total <= floor.Total || base.Total <= design.Total {
		t.Errorf("want floor < design < baseline, got %.3f, %.3f, %.3f", floor.Total, design.Total, base.Total)
	}
	if math.Abs(design.Total-report.Total(design.Lines)) > 1e-12 || len(assumptions) == 0 {
		t.Errorf("bill total or assumptions missing: %+v %v", design, assumptions)
	}
}

type fakeScan struct {
	items []map[string]types.AttributeValue
}

func (f *fakeScan) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return &dynamodb.ScanOutput{Items: f.items}, nil
}

func TestWatcherTimesOnlyTheNewestRecord(t *testing.T) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	want := generate.Expected{Newest: map[string]generate.Record{"order#a": {ID: "2"}, "order#b": {ID: "3"}}}
	received := time.Now().Add(-3 * time.Second).UTC()
	db := &fakeScan{items: []map[string]types.AttributeValue{
		{"pk": s("order"), "sk": s("a"), "id": s("1"), "receivedAt": s(received.Format("2006-01-02T15:04:05.000Z"))}, // an older record of a
		{"pk": s("order"), "sk": s("b"), "id": s("3"), "receivedAt": s(received.Format("2006-01-02T15:04:05.000Z"))},
	}}
	w := newWatcher(db, "Projection", want)
	w.poll(t.Context())
	if w.complete() || w.seenCount() != 1 {
		t.Fatalf("seen %d, complete %v: only b holds its newest record", w.seenCount(), w.complete())
	}
	db.items[0]["id"] = s("2")
	w.poll(t.Context())
	if !w.complete() {
		t.Fatal("both entities hold their newest records now")
	}
	lat, _ := w.latencies()
	for _, d := range lat {
		if d < 3*time.Second || d > 10*time.Second {
			t.Errorf("latency %v, want about 3 s (receivedAt 3 s ago)", d)
		}
	}
}

// The bill counts the responder's invocations by its batch size, which must be the template's.
func TestResponderBatchIsTheTemplates(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := tmpl.Event("EventResponderFunction", "DataInserted")
	if err != nil {
		t.Fatal(err)
	}
	if want := samtemplate.Int(ev["BatchSize"], 10); responderBatch != want {
		t.Errorf("responderBatch = %d, the template's BatchSize = %d", responderBatch, want)
	}
}
