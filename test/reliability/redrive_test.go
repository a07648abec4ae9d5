package reliability

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/cmd/s2e/redrive"
	"github.com/stream-to-events/stream-to-events/local/cloudwatch"
	"github.com/stream-to-events/stream-to-events/local/edge"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// TestRedrive fills each DLQ through a permanent fault (the storer's, the emitter's and the
// responder's every call refused) and the lake's processing-failed prefix (the queue refusing the
// transformer's every send), lifts the faults, redrives, and finds every record in the store, on
// the bus and in the projection, the DLQs empty, and only bad input left under the prefix.
func TestRedrive(t *testing.T) {
	// Messages of a batch the storer fails are received again 2 s later (the runner's
	// FailedVisibility), so the five receives before IngestDLQ take seconds.
	f := startFlow(t)
	start, crossedBefore := time.Now(), f.crossings(t.Context())
	callsBefore := f.r.Edge.Calls()
	recs, err := generate.Generate(generate.Options{Seed: 300, Entities: 3, Start: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, 32)
	if err != nil {
		t.Fatal(err)
	}
	ingest, emitter, responder, lake := recs[:8], recs[8:16], recs[16:24], recs[24:]
	// One bad record rides with the lake phase: its invocation fails whole, so it is replayed
	// with the others, and then the transformer refuses it, as bad input, for good.
	bad := generate.Record{Seq: len(recs), Data: []byte(`{"type":"order","key":"k","data":"not an object"}`)}
	x := expect(recs)

	refuse := func(caller, service string) []edge.Fault {
		return []edge.Fault{{Service: service, Operation: "*", Kind: edge.ServerError, Rate: 1, Caller: caller}}
	}
	phases := []struct {
		name   string
		faults []edge.Fault
		recs   []generate.Record
		dlq    string
		want   int // messages the DLQ must hold at least
	}{
		{"storer refuses every write", refuse("EventStorerFunction", "dynamodb"), ingest, "IngestDLQ", len(ingest)},
		{"emitter refuses every put", refuse("EventEmitterFunction", "events"), emitter, "EmitterDLQ", 1},
		{"responder refuses every write", refuse("EventResponderFunction", "dynamodb"), responder, "ResponderDLQ", len(responder)},
	}
	var held [3]int
	for i, p := range phases {
		if err := f.r.Edge.SetFaults(p.faults); err != nil {
			t.Fatal(err)
		}
		f.send(t.Context(), p.recs)
		s := f.waitFor(t.Context(), 4*time.Minute, func(s state) bool { return s.depths[p.dlq] >= p.want })
		if s.depths[p.dlq] < p.want {
			t.Fatalf("%s: %s holds %d messages, want %d", p.name, p.dlq, s.depths[p.dlq], p.want)
		}
		// The emitter's OnFailure may come in several parts (bisection): let it finish.
		if p.dlq == "EmitterDLQ" {
			s = f.waitFor(t.Context(), time.Minute, func(s state) bool {
				for _, r := range p.recs {
					if s.store[r.ID] == 0 {
						return false
					}
				}
				return true
			})
			time.Sleep(5 * time.Second)
			s, _ = f.observe(t.Context())
		}
		held[i] = s.depths[p.dlq]
		t.Logf("%s: %s holds %d", p.name, p.dlq, held[i])
	}
	// Every DLQ's alarm, and the failed records of the hops whose every call was refused, are in
	// ALARM, as `s2e status --endpoint` reads them from the edge.
	wantAlarm := []string{"IngestDLQDepth", "EmitterDLQDepth", "ResponderDLQDepth", "StoreRecordsFailed"}
	alarms := f.alarms(t.Context())
	for _, id := range wantAlarm {
		if alarms[id].State != cloudwatch.StateAlarm {
			t.Errorf("with the DLQs filled, %s is %s (%s), want ALARM", id, alarms[id].State, alarms[id].Reason)
		}
	}
	// The queue refuses the transformer's every send: each invocation fails whole, Firehose
	// retries it, then writes the batch under errors/processing-failed/.
	if err := f.r.Edge.SetFaults(refuse("TransformerFunction", "sqs")); err != nil {
		t.Fatal(err)
	}
	f.send(t.Context(), append(slices.Clone(lake), bad))
	failedLines := f.awaitLakeLines(t.Context(), redrive.ProcessingFailedPrefix, len(lake)+1, 4*time.Minute)
	t.Logf("the queue refused every send: %d records under %s", failedLines, redrive.ProcessingFailedPrefix)

	if err := f.r.Edge.SetFaults(nil); err != nil {
		t.Fatal(err)
	}
	n, ops := injected(callsBefore, f.r.Edge.Calls())
	// What the DLQs hold now, which can exceed what the phases waited for: a message received
	// again while its failed batch still ran can reach IngestDLQ twice (seen with a visibility
	// timeout close to the storer's), and the emitter's failures may come in several parts.
	depths, err := f.depths(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	held = [3]int{depths["IngestDLQ"], depths["EmitterDLQ"], depths["ResponderDLQ"]}

	rd := f.redriver()
	rep, err := rd.All(t.Context())
	if err != nil {
		t.Fatalf("redrive: %v (report %+v)", err, rep)
	}
	t.Logf("redrive report: %+v", rep)
	if rep.Ingest.Redriven < held[0] || rep.Emitter.Redriven < held[1] || rep.Responder.Redriven < held[2] || len(rep.Unreplayable) > 0 {
		t.Errorf("redrive replayed %d/%d/%d messages (unreplayable %v), the DLQs held %v", rep.Ingest.Redriven, rep.Emitter.Redriven, rep.Responder.Redriven, rep.Unreplayable, held)
	}
	if rep.Lake.Records != failedLines {
		t.Errorf("redrive put back %d records from %s, which held %d", rep.Lake.Records, redrive.ProcessingFailedPrefix, failedLines)
	}

	s, o := f.await(t.Context(), x, 3*time.Minute)
	// The replayed bad record is refused again, and stays under the prefix as bad input with its
	// reason; a second redrive finds nothing more to put back.
	refused, err := f.lakeLines(t.Context(), redrive.ProcessingFailedPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 1 || refused[0].code != "Lambda.ProcessingFailed" || refused[0].data != string(bad.Data) {
		t.Errorf("after the redrive %s holds %+v, want only the bad record, refused by the transformer", redrive.ProcessingFailedPrefix, refused)
	}
	again, err := f.redriver().Lake(t.Context())
	if err != nil || again.Records != 0 {
		t.Errorf("a second lake redrive put back %d records (%v), want none", again.Records, err)
	}
	addFigure(t, figure{
		Case: "permanent faults, then redrive", Injected: n, ByOp: ops, Sent: x.sent, Valid: x.valid, Lost: len(o.lost),
		DupStore: o.dupStore, DupEmitted: o.dupEmitted, DLQ: held,
		Redriven: rep.Ingest.Redriven + rep.Emitter.Redriven + rep.Responder.Redriven + rep.Lake.Records,
		Crossed:  f.crossings(t.Context()).since(crossedBefore), Took: time.Since(start),
	})
	if len(o.lost) > 0 {
		t.Errorf("%d records not delivered after the redrive: %v", len(o.lost), o.lost)
	}
	if len(o.stale) > 0 {
		t.Errorf("projection not the newest state: %v", o.stale)
	}
	if o.dupStore > 0 {
		t.Errorf("%d duplicate store items", o.dupStore)
	}
	if d := s.depths["IngestDLQ"] + s.depths["EmitterDLQ"] + s.depths["ResponderDLQ"]; d > 0 {
		t.Errorf("DLQs not empty after the redrive: %v", s.depths)
	}
	// The DLQ alarms are back to OK once the redrive emptied them. (The hops' RecordsFailed
	// alarms stay in ALARM until their five-minute period has passed, as on AWS.)
	alarms = f.alarms(t.Context())
	for _, id := range wantAlarm[:3] {
		if alarms[id].State != cloudwatch.StateOK {
			t.Errorf("after the redrive, %s is %s (%s), want OK", id, alarms[id].State, alarms[id].Reason)
		}
	}
}

// alarms reads the template's alarms as the local edge evaluates them (GET /_local/alarms, what
// `s2e status --endpoint` prints), by logical ID.
func (f *flow) alarms(ctx context.Context) map[string]cloudwatch.Status {
	f.t.Helper()
	alarms, err := cloudwatch.FetchLocal(ctx, f.r.Endpoint())
	if err != nil {
		f.t.Fatal(err)
	}
	var table strings.Builder
	cloudwatch.WriteTable(&table, alarms)
	f.t.Logf("alarms:\n%s", table.String())
	out := map[string]cloudwatch.Status{}
	for _, a := range alarms {
		out[a.LogicalID] = a
	}
	if len(out) == 0 {
		f.t.Fatal("the edge evaluated no alarm")
	}
	return out
}

// redriver is what `s2e redrive --endpoint` and `s2e replay --endpoint` run against the flow:
// the stack's resources from the edge's DescribeStacks, calls signed as the redrive's own.
func (f *flow) redriver() *redrive.Redriver {
	f.t.Helper()
	cfg := spec.ClientConfig(f.r.Endpoint(), "redrive")
	names, err := redrive.NamesFromStack(f.t.Context(), cloudformation.NewFromConfig(cfg), spec.StackName)
	if err != nil {
		f.t.Fatal(err)
	}
	return &redrive.Redriver{Names: names, Clients: redrive.NewClients(cfg), Logger: slog.New(slog.DiscardHandler)}
}

// waitFor polls the flow until cond holds or timeout passes, and returns the last state.
func (f *flow) waitFor(ctx context.Context, timeout time.Duration, cond func(state) bool) state {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		_ = f.r.Firehose.Flush(ctx)
		s, err := f.observe(context.WithoutCancel(ctx))
		if err != nil {
			f.t.Fatal(fmt.Errorf("observe: %w", err))
		}
		if cond(s) {
			return s
		}
		select {
		case <-ctx.Done():
			return s
		case <-time.After(time.Second):
		}
	}
}
