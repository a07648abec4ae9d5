package report

import (
	"maps"
	"slices"
	"strings"
)

// Call is how often one caller called one operation, as the local runner's edge counts them
// (GET /_local/calls; edge.CallCount has the same fields).
type Call struct {
	Caller    string
	Service   string
	Operation string
	Calls     int
}

// Who a call is counted for in the report.
const (
	Design   = "this design"
	Baseline = "baseline"
	Consumer = "consumer"         // the responder: the same one write per event in both designs
	Platform = "platform"         // Firehose delivery and the triggers' polling, done by the runner
	Other    = "producer & bench" // the producer's puts and the bench's own reads
)

// WriteOperations are the calls that write data, the ones the goal counts.
var WriteOperations = map[string]bool{
	"SendMessage": true, "SendMessageBatch": true,
	"PutItem": true, "BatchWriteItem": true, "UpdateItem": true, "TransactWriteItems": true,
	"PutEvents": true,
	"PutObject": true, "CompleteMultipartUpload": true,
}

// Groups says which design each caller (access key) belongs to. Callers not in it are Other.
type Groups map[string]string

// OpCount is the calls of one group to one operation, and the same per 1,000 records.
type OpCount struct {
	Group     string
	Service   string
	Operation string
	Calls     int
	PerK      float64
	Write     bool
}

// PerThousand sums calls by group, service and operation and scales them to 1,000 records.
// X-Ray segment uploads are left out: they are the tracing daemon's, not the data path's.
func PerThousand(calls []Call, groups Groups, records int) []OpCount {
	type key struct{ group, service, op string }
	sums := map[key]int{}
	for _, c := range calls {
		if strings.EqualFold(c.Service, "xray") {
			continue
		}
		g, ok := groups[c.Caller]
		if !ok {
			g = Other
		}
		sums[key{g, c.Service, c.Operation}] += c.Calls
	}
	out := make([]OpCount, 0, len(sums))
	for _, k := range slices.SortedFunc(maps.Keys(sums), func(a, b key) int {
		return strings.Compare(a.group+"\x00"+a.service+"\x00"+a.op, b.group+"\x00"+b.service+"\x00"+b.op)
	}) {
		n := sums[k]
		per := 0.0
		if records > 0 {
			per = float64(n) * 1000 / float64(records)
		}
		out = append(out, OpCount{Group: k.group, Service: k.service, Operation: k.op, Calls: n, PerK: per, Write: WriteOperations[k.op]})
	}
	return out
}

// WritesPerK is the write calls of a group per 1,000 records.
func WritesPerK(counts []OpCount, group string) float64 {
	total := 0.0
	for _, c := range counts {
		if c.Group == group && c.Write {
			total += c.PerK
		}
	}
	return total
}

// CallsOf is the calls of a group to an operation (0 when none).
func CallsOf(counts []OpCount, group, operation string) int {
	n := 0
	for _, c := range counts {
		if c.Group == group && c.Operation == operation {
			n += c.Calls
		}
	}
	return n
}
