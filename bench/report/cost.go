package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
)

// Price is one list price: USD for Per units of Unit, where it was read and what it covers.
type Price struct {
	USD    float64 `json:"usd"`
	Per    float64 `json:"per"`
	Unit   string  `json:"unit"`
	Source string  `json:"source"`
	Note   string  `json:"note,omitempty"`
}

// PriceList is bench/prices.json.
type PriceList struct {
	Region   string           `json:"region"`
	Currency string           `json:"currency"`
	Taken    string           `json:"taken"`
	Prices   map[string]Price `json:"prices"`
	// Baseline holds the assumptions about the original design's Node.js functions, whose
	// durations cannot be measured here.
	Baseline BaselineAssumptions `json:"baseline"`
}

// BaselineAssumptions estimate the original design's Lambda bill.
type BaselineAssumptions struct {
	Arch            string  `json:"arch"`
	MemoryMB        int     `json:"memoryMB"`
	CallMS          float64 `json:"callMS"`          // one awaited AWS call, in-region
	CPUMSPerRecord  float64 `json:"cpuMSPerRecord"`  // Node.js parse, validate, marshal
	InvocationsFrom string  `json:"invocationsFrom"` // how the invocation counts were set
	Note            string  `json:"note"`
}

// The price keys the cost model reads.
const (
	PriceFirehoseGB      = "firehose_ingest_gb"
	PriceLambdaArmGBs    = "lambda_arm64_gb_second"
	PriceLambdaX86GBs    = "lambda_x86_64_gb_second"
	PriceLambdaRequests  = "lambda_requests"
	PriceSQSFIFORequests = "sqs_fifo_requests"
	PriceSQSRequests     = "sqs_standard_requests"
	PriceDynamoDBWRU     = "dynamodb_write_request_units"
	PriceDynamoDBRRU     = "dynamodb_read_request_units"
	PriceStreamsRRU      = "dynamodb_streams_read_request_units"
	PriceEventBridge     = "eventbridge_custom_events"
	PriceS3Put           = "s3_put_requests"
)

var requiredPrices = []string{PriceFirehoseGB, PriceLambdaArmGBs, PriceLambdaX86GBs, PriceLambdaRequests,
	PriceSQSFIFORequests, PriceSQSRequests, PriceDynamoDBWRU, PriceEventBridge, PriceS3Put}

// LoadPrices reads and checks a price list: every price the model uses must be there, positive,
// with a source.
func LoadPrices(path string) (PriceList, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the price list the caller names is the file to read
	if err != nil {
		return PriceList{}, fmt.Errorf("read prices: %w", err)
	}
	var p PriceList
	if err := json.Unmarshal(b, &p); err != nil {
		return PriceList{}, fmt.Errorf("prices %s: %w", path, err)
	}
	var errs []error
	for _, k := range requiredPrices {
		pr, ok := p.Prices[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("price %q missing", k))
		case pr.USD <= 0 || pr.Per <= 0:
			errs = append(errs, fmt.Errorf("price %q: usd and per must be positive", k))
		case pr.Source == "":
			errs = append(errs, fmt.Errorf("price %q has no source", k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return PriceList{}, fmt.Errorf("prices %s: %w", path, err)
	}
	return p, nil
}

// Usage is what a design consumes for some number of records, in the units prices are quoted in.
type Usage struct {
	FirehoseGB     float64
	LambdaGBs      map[string]float64 // by price key (arm64 or x86_64 GB-seconds)
	LambdaRequests float64
	SQSRequests    float64 // 64 KB chunks of FIFO requests
	SQSStandard    float64 // 64 KB chunks of standard-queue requests
	WRU            float64
	Events         float64 // 64 KB chunks of custom events
	S3Puts         float64
}

// CostLine is one line of a bill.
type CostLine struct {
	Item     string
	Quantity float64
	Unit     string
	USD      float64
}

// Bill prices a usage.
func (p PriceList) Bill(u Usage) []CostLine {
	var lines []CostLine
	add := func(item, key string, q float64) {
		if q == 0 {
			return
		}
		pr := p.Prices[key]
		lines = append(lines, CostLine{Item: item, Quantity: q, Unit: pr.Unit, USD: q / pr.Per * pr.USD})
	}
	add("Firehose ingestion", PriceFirehoseGB, u.FirehoseGB)
	for _, k := range slices.Sorted(maps.Keys(u.LambdaGBs)) {
		add("Lambda duration ("+archOf(k)+")", k, u.LambdaGBs[k])
	}
	add("Lambda requests", PriceLambdaRequests, u.LambdaRequests)
	add("SQS FIFO requests", PriceSQSFIFORequests, u.SQSRequests)
	add("SQS standard requests", PriceSQSRequests, u.SQSStandard)
	add("DynamoDB writes", PriceDynamoDBWRU, u.WRU)
	add("EventBridge events", PriceEventBridge, u.Events)
	add("S3 PUT", PriceS3Put, u.S3Puts)
	return lines
}

func archOf(key string) string {
	if key == PriceLambdaX86GBs {
		return "x86_64"
	}
	return "arm64"
}

// Total sums a bill.
func Total(lines []CostLine) float64 {
	t := 0.0
	for _, l := range lines {
		t += l.USD
	}
	return t
}

// FirehoseGB is the ingested volume Firehose bills for records of recordBytes: each record is
// rounded up to the next 5 KB, and GB is 1024×1024 KB as the pricing page's examples compute it.
func FirehoseGB(records, recordBytes float64) float64 {
	kb := math.Ceil(recordBytes/5120) * 5
	return records * kb / (1024 * 1024)
}

// WRU is the write request units of one standard write of an item of itemBytes (1 KB each,
// rounded up).
func WRU(itemBytes int) float64 { return math.Max(1, math.Ceil(float64(itemBytes)/1024)) }

// Chunks64K is how many 64 KB chunks SQS and EventBridge bill a payload of n bytes as.
func Chunks64K(n int) float64 { return math.Max(1, math.Ceil(float64(n)/65536)) }

// GBSeconds is the billed compute of invocations of billedMS each at memoryMB.
func GBSeconds(invocations, billedMS float64, memoryMB int) float64 {
	return invocations * billedMS / 1000 * float64(memoryMB) / 1024
}

// Sizes are the measured sizes of what one record becomes.
type Sizes struct {
	RecordBytes     int // what the producer sends
	StoreItemBytes  int // the event store item, as DynamoDB sizes it
	ProjectionBytes int // the projection item
	EventBytes      int // one PutEvents entry
}

// BilledRecordBytes is the record size the bill, and the capacity model built on it, are quoted
// for: 1 KB.
const BilledRecordBytes = 1024

// ForRecord is s for records of recordBytes: the items and the event carry the same overhead on
// top of the record as the measured ones did.
func (s Sizes) ForRecord(recordBytes int) Sizes {
	return Sizes{
		RecordBytes:     recordBytes,
		StoreItemBytes:  recordBytes + max(s.StoreItemBytes-s.RecordBytes, 0),
		ProjectionBytes: recordBytes + max(s.ProjectionBytes-s.RecordBytes, 0),
		EventBytes:      recordBytes + max(s.EventBytes-s.RecordBytes, 0),
	}
}

// Floor is what the service prices alone charge for records, whatever the design: Firehose
// ingestion, one write of each record to the event store and one to the projection, and one
// custom event each. No batching reduces these.
func Floor(records float64, s Sizes) Usage {
	return Usage{
		FirehoseGB: FirehoseGB(records, float64(s.RecordBytes)),
		WRU:        records * (WRU(s.StoreItemBytes) + WRU(s.ProjectionBytes)),
		Events:     records * Chunks64K(s.EventBytes),
	}
}
