package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/stream-to-events/stream-to-events/bench/report"
)

// Quota is one AWS quota as bench/quotas.json cites it.
type Quota struct {
	Default    float64 `json:"default"`
	Unit       string  `json:"unit"`
	Adjustable bool    `json:"adjustable"`
	Source     string  `json:"source"`
	Note       string  `json:"note"`
}

// Assumption is a figure the bench cannot measure on this machine, cited like a quota.
type Assumption struct {
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Source string  `json:"source"`
	Note   string  `json:"note"`
}

// Quotas is bench/quotas.json.
type Quotas struct {
	Region      string                `json:"region"`
	Taken       string                `json:"taken"`
	Quotas      map[string]Quota      `json:"quotas"`
	Assumptions map[string]Assumption `json:"assumptions"`
}

func loadQuotas(path string) (Quotas, error) {
	var q Quotas
	raw, err := os.ReadFile(path) // #nosec G304 -- the quota file named on the command line
	if err != nil {
		return q, fmt.Errorf("quotas: %w", err)
	}
	if err := json.Unmarshal(raw, &q); err != nil {
		return q, fmt.Errorf("quotas %s: %w", path, err)
	}
	for _, k := range quotaKeys {
		if q.Quotas[k].Default <= 0 || q.Quotas[k].Source == "" {
			return q, fmt.Errorf("quotas %s: %s needs a positive default and a source", path, k)
		}
	}
	for _, k := range []string{"dynamodb_write_latency_ms", "storer_batch_size", "responder_batch_size"} {
		if q.Assumptions[k].Value <= 0 {
			return q, fmt.Errorf("quotas %s: assumption %s needs a positive value", path, k)
		}
	}
	return q, nil
}

var quotaKeys = []string{
	"firehose_records_per_second", "firehose_requests_per_second", "firehose_mib_per_second",
	"sqs_fifo_high_throughput_tps", "lambda_concurrency", "lambda_invocations_per_concurrency",
	"sqs_esm_maximum_concurrency", "dynamodb_partition_wcu", "dynamodb_table_wcu",
	"dynamodb_stream_parallelization_factor", "eventbridge_putevents_tps",
	"eventbridge_invocations_tps", "apigateway_rps",
}

// Costs are what `make bench` measured per record, read from its outputs.
type Costs struct {
	WallNs         map[string]float64 // hop -> wall ns per record (in-memory transport)
	CallsPerK      map[string]float64 // operation -> calls per 1,000 records on this design's hops
	StoreItemBytes int                // the event store item of a 1 KB record
	USDPerMillion  []report.CostLine  // this design's bill per million 1 KB records
}

// readCosts takes from the figures `make bench` wrote the hops' wall time per record (its Go
// benchmarks), and from its local run the calls per 1,000 records of this design's hops, the store
// item of a 1 KB record and the bill per million 1 KB records.
func readCosts(r report.Report) (Costs, error) {
	c := Costs{WallNs: map[string]float64{}, CallsPerK: map[string]float64{}}
	for _, h := range r.Hops {
		if h.Found {
			c.WallNs[h.Name] = h.Ns
		}
	}
	for _, hop := range []string{"transformer", "storer", "emitter", "responder"} {
		if c.WallNs[hop] <= 0 {
			return c, fmt.Errorf("costs: no benchmark for the %s hop", hop)
		}
	}
	for _, op := range r.Calls {
		if op.Group == report.Design {
			c.CallsPerK[op.Operation] += op.PerK
		}
	}
	for _, op := range []string{"SendMessageBatch", "BatchWriteItem", "PutEvents"} {
		if c.CallsPerK[op] <= 0 {
			return c, fmt.Errorf("costs: the figures count no calls of this design's %s", op)
		}
	}
	if r.Sizes.StoreItemBytes <= 0 || len(r.Design.Lines) == 0 {
		return c, fmt.Errorf("costs: the figures hold no measured store item or no bill for this design")
	}
	c.StoreItemBytes = r.Sizes.ForRecord(report.BilledRecordBytes).StoreItemBytes
	c.USDPerMillion = r.Design.Lines
	return c, nil
}

// Check is one quota a hop needs at a rate.
type Check struct {
	Hop, Quota string
	Need       float64
	Limit      float64
	Fix        string
}

// Use is the share of the quota the rate needs.
func (c Check) Use() float64 { return c.Need / c.Limit }

const recordBytes = 1024

// Model turns measured costs and quotas into what each hop needs at a rate.
type Model struct {
	Q Quotas
	C Costs
	// Local is the hot-entity case of the bench's local run, to set beside HotEntity; nil when
	// the run left it out.
	Local *report.HotEntity
}

func (m Model) q(k string) float64 { return m.Q.Quotas[k].Default }

// storerLatency is one storer batch: the measured work for its records plus one DynamoDB call.
func (m Model) storerLatency() float64 {
	batch := m.Q.Assumptions["storer_batch_size"].Value
	return batch*m.C.WallNs["storer"]/1e9 + m.Q.Assumptions["dynamodb_write_latency_ms"].Value/1000
}

// Checks lists every quota the flow meets at rate records/s of 1 KB.
func (m Model) Checks(rate float64) []Check {
	perK := func(op string) float64 { return rate * m.C.CallsPerK[op] / 1000 }
	callLatency := m.Q.Assumptions["dynamodb_write_latency_ms"].Value / 1000
	wcu := rate * report.WRU(m.C.StoreItemBytes)
	shards := math.Max(1, math.Ceil(wcu/m.q("dynamodb_partition_wcu")))

	// Concurrency is invocations/s times how long each lasts (Little's law).
	transformerInv := rate / (1 << 20 / recordBytes) // one 1 MB processor buffer per invocation
	transformerConc := rate * m.C.WallNs["transformer"] / 1e9
	storerInv := perK("BatchWriteItem")
	storerConc := storerInv * m.storerLatency()
	emitterInv := perK("PutEvents")
	emitterConc := rate*m.C.WallNs["emitter"]/1e9 + emitterInv*callLatency
	// The rule delivers every event to ResponderQueue (a target invocation each); the responder
	// reads the queue in batches, one invocation and one conditional write per event of each.
	ruleDeliveries := rate
	responderInv := rate / m.Q.Assumptions["responder_batch_size"].Value
	responderConc := rate * (m.C.WallNs["responder"]/1e9 + callLatency)

	return []Check{
		{"Firehose", "records/s per stream", rate, m.q("firehose_records_per_second"),
			"more delivery streams or a records/s increase"},
		{"Firehose", "MiB/s per stream", rate * recordBytes / (1 << 20), m.q("firehose_mib_per_second"),
			fmt.Sprintf("%.0f delivery streams, or a MiB/s increase (adjustable)", math.Ceil(rate*recordBytes/(1<<20)/m.q("firehose_mib_per_second")))},
		{"Firehose", "PutRecordBatch calls/s per stream", rate / 500, m.q("firehose_requests_per_second"),
			"more delivery streams or a requests/s increase"},
		{"SQS FIFO", "SendMessageBatch calls/s", perK("SendMessageBatch"), m.q("sqs_fifo_high_throughput_tps"),
			"several queues (not adjustable), records spread by entity"},
		{"SQS FIFO", "ReceiveMessage calls/s", storerInv, m.q("sqs_fifo_high_throughput_tps"),
			"several queues (not adjustable)"},
		{"storer", "concurrent batches per SQS mapping", storerConc, m.q("sqs_esm_maximum_concurrency"),
			"MaximumConcurrency on the storer's SQS event, and enough message groups"},
		{"DynamoDB", "WCU per table", wcu, m.q("dynamodb_table_wcu"),
			"a table throughput increase (adjustable)"},
		{"emitter", "concurrent batches on the stream", emitterConc, shards,
			fmt.Sprintf("ParallelizationFactor up to %.0f on the emitter's stream event (%.0f shards × 10 = %.0f)", m.q("dynamodb_stream_parallelization_factor"), shards, shards*m.q("dynamodb_stream_parallelization_factor"))},
		{"EventBridge", "PutEvents calls/s", emitterInv, m.q("eventbridge_putevents_tps"),
			"a PutEvents increase (adjustable)"},
		{"EventBridge", "rule target invocations/s", ruleDeliveries, m.q("eventbridge_invocations_tps"),
			"an invocations increase (adjustable)"},
		{"Lambda", "invocations/s (10 × concurrency quota)", transformerInv + storerInv + emitterInv + responderInv,
			m.q("lambda_concurrency") * m.q("lambda_invocations_per_concurrency"),
			"a concurrency increase (adjustable)"},
		{"Lambda", "concurrent executions", transformerConc + storerConc + emitterConc + responderConc, m.q("lambda_concurrency"),
			"a concurrency increase (adjustable)"},
	}
}

// HotEntity is what one entity can sustain: one FIFO group is handled one batch at a time, and
// its items share one DynamoDB partition.
func (m Model) HotEntity() (fifo, partition float64) {
	fifo = m.Q.Assumptions["storer_batch_size"].Value / m.storerLatency()
	partition = m.q("dynamodb_partition_wcu") / report.WRU(m.C.StoreItemBytes)
	return fifo, partition
}

// MonthlyUSD is the bench's bill per million records at rate records/s for 30 days.
func (m Model) MonthlyUSD(rate float64) float64 {
	total := 0.0
	for _, l := range m.C.USDPerMillion {
		total += l.USD
	}
	return total * rate * 30 * 24 * 3600 / 1e6
}
