package main

import (
	"fmt"
	"math"

	"github.com/stream-to-events/stream-to-events/bench/report"
)

// perMillion is the volume the cost is quoted for.
const perMillion = 1e6

// pipelineFunctions are the functions on the write path, whose invocations and durations are
// billed per record; the records API is billed per read and left out.
var pipelineFunctions = []string{"TransformerFunction", "EventStorerFunction", "EventEmitterFunction", "EventResponderFunction"}

// costs prices a million 1 KB records for the floor, this design (the local run's calls,
// invocations, billed durations and memory, scaled) and the baseline (its calls as counted, its
// Node.js durations as assumed in the price list).
func costs(prices report.PriceList, l localResult, hops []report.HopResult) (floor, design, base report.Bill, assumptions []string) {
	// The generated records are smaller than 1 KB; the items and events carry a fixed overhead
	// on top of the record, which the run measured.
	sizes := l.sizes.ForRecord(report.BilledRecordBytes)
	floorUsage := report.Floor(perMillion, sizes)
	floor = bill(prices, "floor", floorUsage)
	if l.unique == 0 {
		return floor, report.Bill{Name: "this design"}, report.Bill{Name: "baseline"}, []string{"No local run: only the floor is priced."}
	}
	scale := perMillion / float64(l.unique)
	stats := map[string]report.FunctionStats{}
	for _, f := range l.functions {
		stats[f.Function] = f
	}
	bufferMB := l.bufferMB
	if bufferMB <= 0 {
		bufferMB = 5
	}
	s3Puts := math.Ceil(perMillion * float64(sizes.EventBytes) / (bufferMB * 1024 * 1024))
	storerBatches := float64(stats["EventStorerFunction"].Invocations) * scale

	// The rule delivers each event to the responder's queue, read in full batches of 10: a local
	// run whose emitter timed out on moto delivers some events twice, and a quiet local flow
	// hands out smaller batches, neither of which a healthy, busy pipeline on AWS does.
	responderInvocations := perMillion / responderBatch
	responderQueueRequests := perMillion + 2*responderInvocations
	d := floorUsage
	d.LambdaGBs = map[string]float64{}
	var localGBs float64
	for _, id := range pipelineFunctions {
		f := stats[id]
		inv := float64(f.Invocations) * scale
		if id == "EventResponderFunction" {
			inv = responderInvocations
		}
		d.LambdaGBs[report.PriceLambdaArmGBs] += report.GBSeconds(inv, modelledMS(l, hops, id, prices.Baseline.CallMS), f.MemorySizeMB)
		localGBs += report.GBSeconds(inv, f.MeanBilledMS, f.MemorySizeMB)
		d.LambdaRequests += inv
	}
	d.SQSRequests = float64(report.CallsOf(l.calls, report.Design, "SendMessageBatch"))*scale + 2*storerBatches
	d.SQSStandard = responderQueueRequests
	d.S3Puts = s3Puts
	design = bill(prices, "this design", d)

	a := prices.Baseline
	arch := report.PriceLambdaX86GBs
	if a.Arch == "arm64" {
		arch = report.PriceLambdaArmGBs
	}
	b := floorUsage
	b.LambdaGBs = map[string]float64{}
	for _, id := range pipelineFunctions[:3] {
		f := stats[id]
		inv := float64(f.Invocations) * scale
		if inv == 0 {
			continue
		}
		perInvocation := perMillion / inv * (a.CPUMSPerRecord + a.CallMS) // one awaited call per record
		b.LambdaGBs[arch] += report.GBSeconds(inv, math.Ceil(perInvocation), a.MemoryMB)
		b.LambdaRequests += inv
	}
	resp := stats["EventResponderFunction"]
	respInv := responderInvocations
	b.LambdaGBs[report.PriceLambdaArmGBs] += report.GBSeconds(respInv, modelledMS(l, hops, "EventResponderFunction", a.CallMS), resp.MemorySizeMB)
	b.LambdaRequests += respInv
	b.SQSRequests = float64(report.CallsOf(l.calls, report.Baseline, "SendMessage"))*scale + 2*storerBatches
	b.SQSStandard = responderQueueRequests
	b.S3Puts = s3Puts
	base = bill(prices, "baseline", b)

	assumptions = []string{
		fmt.Sprintf("Records of 1 KB: items and events are 1 KB plus the overhead measured on the generated records (store item %d B, projection item %d B, event entry %d B); Firehose bills each record as 5 KB.",
			sizes.StoreItemBytes, sizes.ProjectionBytes, sizes.EventBytes),
		fmt.Sprintf("Lambda durations on AWS are modelled alike for both designs: the CPU time per record (this design: the hop benchmarks; baseline: the assumption below) times the records per invocation, plus %.0f ms per AWS call made one after another, rounded up to the billed millisecond; invocations per record and memory are the local run's and the template's. Billed with the local run's own durations, which wait on moto_server, this design's Lambda duration would cost $%.3f per million instead.",
			a.CallMS, localGBs*prices.Prices[report.PriceLambdaArmGBs].USD/prices.Prices[report.PriceLambdaArmGBs].Per),
		"SQS reads: Lambda's poller makes one ReceiveMessage and one DeleteMessageBatch per storer batch (counted from the storer's invocations), in both designs; empty long polls of an idle queue are left out.",
		"DynamoDB stream reads by the emitter's trigger are free (Lambda's GetRecords); the rule's delivery to the responder's queue is free as an EventBridge invocation (same account) and billed as one SQS SendMessage per event, the trigger's reads as one ReceiveMessage and one DeleteMessageBatch per batch of 10.",
		fmt.Sprintf("S3 PUTs: one object per %.0f MB of records (the template's Firehose buffer), in both designs.", bufferMB),
		"The responder (the consumer) is the same in both designs: one invocation per batch of 10 events and one conditional write per event (the local run's extra deliveries after emitter retries are not billed), its duration modelled as above.",
		"Baseline: " + a.Note,
	}
	return floor, design, base, assumptions
}

func bill(p report.PriceList, name string, u report.Usage) report.Bill {
	lines := p.Bill(u)
	return report.Bill{Name: name, Lines: lines, Total: report.Total(lines)}
}

// hopOf names the benchmark hop of each function.
var hopOf = map[string]string{
	"TransformerFunction": "transformer", "EventStorerFunction": "storer",
	"EventEmitterFunction": "emitter", "EventResponderFunction": "responder",
}

// responderBatch is the responder's SQS BatchSize in the template, the batch a busy queue fills.
const responderBatch = 10

// modelledMS is a function's billed milliseconds per invocation on AWS: its records per
// invocation times the hop's CPU time per record, plus callMS for each AWS call it made per
// invocation in the local run (one after another), rounded up. Without the hop's benchmark it
// falls back to the local mean billed duration.
func modelledMS(l localResult, hops []report.HopResult, id string, callMS float64) float64 {
	var f report.FunctionStats
	for _, s := range l.functions {
		if s.Function == id {
			f = s
		}
	}
	if f.Invocations == 0 {
		return 0
	}
	for _, h := range hops {
		if h.Name == hopOf[id] && h.Found {
			inv := float64(f.Invocations)
			records := float64(l.unique) / inv
			calls := float64(l.callsByCaller[id]) / inv
			if id == "EventResponderFunction" {
				// A full batch, its conditional writes one after another.
				records, calls = responderBatch, responderBatch
			}
			return math.Max(1, math.Ceil(records*h.PerRecordNs()/1e6+calls*callMS))
		}
	}
	return f.MeanBilledMS
}
