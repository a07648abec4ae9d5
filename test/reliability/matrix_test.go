package reliability

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/local/edge"
)

// The calls of the flow, by who makes them: every AWS call the functions make and the runner's
// S3 and the producer's Firehose writes.
var calls = []struct {
	caller, service, operation string
	partial                    bool    // the call has a per-entry answer
	rate                       float64 // share of calls (or entries) that fail
}{
	// A case makes only about six Firehose puts and S3 objects: at 30% one case in eight would
	// meet no fault there, so these two fail at 50%.
	{"generator", "firehose", "PutRecordBatch", true, 0.5},
	{"TransformerFunction", "sqs", "SendMessageBatch", true, 0.3},
	{"runner", "s3", "PutObject", false, 0.5},
	{"EventStorerFunction", "dynamodb", "BatchWriteItem", true, 0.3},
	{"EventEmitterFunction", "events", "PutEvents", true, 0.3},
	{"EventResponderFunction", "dynamodb", "PutItem", false, 0.3},
}

type matrixCase struct {
	name   string
	faults []edge.Fault
	chaos  []chaosRule
}

// matrixCases are the transient faults: each must leave nothing lost, nothing stored twice and
// the DLQs empty. Every call gets throttling and server errors at 30% (50% for the few Firehose
// puts and S3 writes of a case), every batch call partial failures of as many of its entries; then every function is killed, and hung until its timeout,
// in the middle of a batch. By default one case injects a kind into every call at once (the
// table still counts the faults per call); with S2E_MATRIX=full each call gets its own case.
func matrixCases(full bool) []matrixCase {
	cases := []matrixCase{{name: "no faults"}}
	for _, kind := range []string{edge.Throttle, edge.ServerError, edge.PartialBatch} {
		var all []edge.Fault
		for _, c := range calls {
			if kind == edge.PartialBatch && !c.partial {
				continue
			}
			fault := edge.Fault{Service: c.service, Operation: c.operation, Kind: kind, Rate: c.rate, Caller: c.caller}
			all = append(all, fault)
			if full {
				cases = append(cases, matrixCase{name: fmt.Sprintf("%s %s %s %.0f%%", c.operation, c.caller, kind, c.rate*100), faults: []edge.Fault{fault}})
			}
		}
		if !full {
			cases = append(cases, matrixCase{name: kind + " 30% on every call", faults: all})
		}
	}
	mid := func(sig syscall.Signal) []chaosRule {
		return []chaosRule{
			{caller: "TransformerFunction", operation: "SendMessageBatch", at: 2, sig: sig},
			{caller: "EventStorerFunction", operation: "BatchWriteItem", at: 2, sig: sig},
			{caller: "EventEmitterFunction", operation: "PutEvents", at: 1, sig: sig},
			{caller: "EventResponderFunction", operation: "PutItem", at: 3, sig: sig},
		}
	}
	cases = append(cases,
		matrixCase{name: "every function killed mid-batch", chaos: mid(syscall.SIGKILL)},
		matrixCase{name: "every function hung until its timeout", chaos: mid(syscall.SIGSTOP)},
	)
	return cases
}

// TestFaultMatrix runs every case on one stack, one after the other: faults are reset between
// cases, and each case's records have their own ids and later times, so the checks of one case
// see only its own records.
func TestFaultMatrix(t *testing.T) {
	f := startFlow(t)
	perCase := 60
	for i, mc := range matrixCases(os.Getenv("S2E_MATRIX") == "full") {
		t.Run(strings.ReplaceAll(mc.name, " ", "_"), func(t *testing.T) {
			f.t = t
			if err := f.r.Edge.SetFaults(mc.faults); err != nil {
				t.Fatal(err)
			}
			f.chaos.setRules(mc.chaos)
			firedBefore := f.chaos.fired()
			callsBefore := f.r.Edge.Calls()
			crossedBefore := f.crossings(t.Context())
			start := time.Now()

			recs := records(t, uint64(100+i), perCase)
			x := expect(recs)
			// Six puts a second apart rather than one: each put is a Firehose call, an S3
			// object and a transformer batch, so every call of the flow is made several times
			// and a fault at 30% meets most of them.
			for chunk := range slices.Chunk(recs, 10) {
				f.send(t.Context(), chunk)
				time.Sleep(time.Second)
			}
			s, o := f.await(t.Context(), x, 2*time.Minute)
			_ = f.r.Edge.SetFaults(nil)
			f.chaos.setRules(nil)

			n, ops := injected(callsBefore, f.r.Edge.Calls())
			if fired := f.chaos.fired() - firedBefore; fired > 0 {
				ops["processes signalled"] = fired
				n += fired
			}
			// A transient fault must leave no message in the DLQs, which check fails on.
			f.check(t, figure{Case: mc.name, Injected: n, ByOp: ops}, x, s, o, start, crossedBefore)
			if len(mc.faults)+len(mc.chaos) > 0 && n == 0 {
				t.Errorf("no fault was injected: the case tested nothing")
			}
			for _, flt := range mc.faults {
				if ops[flt.Service+" "+flt.Operation] == 0 {
					t.Logf("note: %s %s met no fault in this run (too few calls for the rate)", flt.Service, flt.Operation)
				}
			}
		})
	}
}
