package lambdaproc

import (
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

// traceContext is the X-Ray context of one invocation: the trigger's trace continued (a new one
// when the trigger had none), and the ID of the function segment the runner writes for it.
type traceContext struct {
	root      string
	parent    string // the trigger's segment, "" when the trace starts here
	segmentID string
}

func newTraceContext(header string) traceContext {
	root, parent := spec.ContinueTrace(header, time.Now())
	return traceContext{root: root, parent: parent, segmentID: spec.RandomHex(8)}
}

// header is what the function gets as Lambda-Runtime-Trace-Id (and so _X_AMZN_TRACE_ID): the
// SDK inside hangs its subsegments under the function segment.
func (tc traceContext) header() string { return spec.TraceHeader(tc.root, tc.segmentID) }

// functionSegment is the AWS::Lambda::Function segment Lambda writes for an invocation: an
// Initialization subsegment on a cold start, an Invocation subsegment, and a fault with the
// error when the function failed. The SDK's subsegments from inside the function name this
// segment as their parent and join it at the daemon.
func functionSegment(fn spec.Function, tc traceContext, requestID string, out outcome) xraylocal.Document {
	seg := xraylocal.Document{
		ID: tc.segmentID, TraceID: tc.root, ParentID: tc.parent,
		Name: fn.Name, Origin: "AWS::Lambda::Function",
		StartTime: xraylocal.Epoch(out.start), EndTime: xraylocal.Epoch(out.end),
		AWS:         map[string]any{"account_id": spec.Account, "function_arn": fn.ARN, "request_id": requestID},
		Annotations: map[string]any{"function": fn.LogicalID},
	}
	invStart := out.start
	if !out.initStart.IsZero() {
		seg.Subsegments = append(seg.Subsegments, xraylocal.Document{
			ID: spec.RandomHex(8), Name: "Initialization",
			StartTime: xraylocal.Epoch(out.initStart), EndTime: xraylocal.Epoch(out.initEnd),
		})
		invStart = out.initEnd
	}
	if out.duration > 0 {
		invStart = out.end.Add(-out.duration)
	}
	inv := xraylocal.Document{ID: spec.RandomHex(8), Name: "Invocation", StartTime: xraylocal.Epoch(invStart), EndTime: xraylocal.Epoch(out.end)}
	if out.errorType != "" {
		seg.Fault, inv.Fault = true, true
		seg.Cause = &xraylocal.Cause{Exceptions: []xraylocal.Exception{{ID: spec.RandomHex(8), Type: out.errorType, Message: errorOf(out.payload).ErrorMessage}}}
	}
	seg.Subsegments = append(seg.Subsegments, inv)
	return seg
}

// sendSegment writes the function segment to the X-Ray daemon, if there is one. Tracing never
// fails an invocation: a send that fails is logged.
func (r *Runtime) sendSegment(fn spec.Function, tc traceContext, c *call, out outcome) {
	if !r.xray.Open() {
		return
	}
	if err := r.xray.Send(functionSegment(fn, tc, c.id, out)); err != nil {
		r.log.Warn("x-ray function segment", "function", fn.LogicalID, "error", err)
	}
}
