package lambdaproc

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
)

// traceContext is the X-Ray context of one invocation: the trigger's trace continued (a new one
// when the trigger had none), and the ID of the function segment the runner writes for it.
type traceContext struct {
	root      string
	parent    string // the trigger's segment, "" when the trace starts here
	segmentID string
}

func newTraceContext(header string) traceContext {
	root, parent := spec.TraceIDs(header)
	if root == "" {
		root = newTraceID(time.Now())
		parent = ""
	}
	return traceContext{root: root, parent: parent, segmentID: spec.RandomHex(8)}
}

// header is what the function gets as Lambda-Runtime-Trace-Id (and so _X_AMZN_TRACE_ID): the
// SDK inside hangs its subsegments under the function segment. Locally everything is sampled.
func (tc traceContext) header() string {
	return fmt.Sprintf("Root=%s;Parent=%s;Sampled=1", tc.root, tc.segmentID)
}

// newTraceID is an X-Ray trace ID: version 1, epoch seconds in hex, 96 random bits.
func newTraceID(now time.Time) string {
	return fmt.Sprintf("1-%08x-%s", now.Unix(), spec.RandomHex(12))
}

type segment struct {
	ID          string         `json:"id"`
	TraceID     string         `json:"trace_id,omitempty"`
	ParentID    string         `json:"parent_id,omitempty"`
	Name        string         `json:"name"`
	Origin      string         `json:"origin,omitempty"`
	StartTime   float64        `json:"start_time"`
	EndTime     float64        `json:"end_time"`
	Fault       bool           `json:"fault,omitempty"`
	Error       bool           `json:"error,omitempty"`
	Cause       *cause         `json:"cause,omitempty"`
	AWS         map[string]any `json:"aws,omitempty"`
	Annotations map[string]any `json:"annotations,omitempty"`
	Subsegments []segment      `json:"subsegments,omitempty"`
}

type cause struct {
	Exceptions []exception `json:"exceptions"`
}

type exception struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Type    string `json:"type"`
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// functionSegment is the AWS::Lambda::Function segment Lambda writes for an invocation: an
// Initialization subsegment on a cold start, an Invocation subsegment, and a fault with the
// error when the function failed. The SDK's subsegments from inside the function name this
// segment as their parent and join it at the daemon.
func functionSegment(fn spec.Function, tc traceContext, requestID string, out outcome) segment {
	seg := segment{
		ID: tc.segmentID, TraceID: tc.root, ParentID: tc.parent,
		Name: fn.Name, Origin: "AWS::Lambda::Function",
		StartTime: epoch(out.start), EndTime: epoch(out.end),
		AWS:         map[string]any{"account_id": spec.Account, "function_arn": fn.ARN, "request_id": requestID},
		Annotations: map[string]any{"function": fn.LogicalID},
	}
	invStart := out.start
	if !out.initStart.IsZero() {
		seg.Subsegments = append(seg.Subsegments, segment{
			ID: spec.RandomHex(8), Name: "Initialization",
			StartTime: epoch(out.initStart), EndTime: epoch(out.initEnd),
		})
		invStart = out.initEnd
	}
	if out.duration > 0 {
		invStart = out.end.Add(-out.duration)
	}
	inv := segment{ID: spec.RandomHex(8), Name: "Invocation", StartTime: epoch(invStart), EndTime: epoch(out.end)}
	if out.errorType != "" {
		seg.Fault, inv.Fault = true, true
		seg.Cause = &cause{Exceptions: []exception{{ID: spec.RandomHex(8), Type: out.errorType, Message: errorMessageOf(out.payload)}}}
	}
	seg.Subsegments = append(seg.Subsegments, inv)
	return seg
}

func errorMessageOf(payload []byte) string {
	var e struct {
		ErrorMessage string `json:"errorMessage"`
	}
	_ = json.Unmarshal(payload, &e)
	return e.ErrorMessage
}

// sendSegment writes the function segment to the X-Ray daemon, if there is one. Tracing never
// fails an invocation: a send that fails is logged.
func (r *Runtime) sendSegment(fn spec.Function, tc traceContext, c *call, out outcome) {
	r.xrayMu.Lock()
	defer r.xrayMu.Unlock()
	if r.xray == nil {
		return
	}
	doc, err := json.Marshal(functionSegment(fn, tc, c.id, out))
	if err != nil {
		r.log.Warn("x-ray function segment", "function", fn.LogicalID, "error", err)
		return
	}
	if _, err := r.xray.Write(append([]byte("{\"format\": \"json\", \"version\": 1}\n"), doc...)); err != nil {
		r.log.Warn("x-ray function segment", "function", fn.LogicalID, "error", err)
	}
}
