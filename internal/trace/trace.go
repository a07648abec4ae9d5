// Package trace is the one place that knows the tracing SDK. Functions start a span per hop,
// annotate it with the record's id and type, and read the trace header to pass it on; the SDK
// clients are instrumented here too. Replacing X-Ray with OpenTelemetry touches this package only.
package trace

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/strategy/ctxmissing"
	"github.com/aws/aws-xray-sdk-go/xray"
	"github.com/aws/aws-xray-sdk-go/xraylog"
)

func init() {
	// Outside Lambda (tests, tools) there is no segment in the context: that is not an error
	// worth a log line per call. The SDK's own logger is silenced; errors reach us as values.
	_ = xray.Configure(xray.Config{ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy()})
	xray.SetLogger(xraylog.NewDefaultLogger(io.Discard, xraylog.LogLevelError))
}

// Instrument adds a subsegment per AWS call to every client built from cfg.
func Instrument(cfg *aws.Config) {
	awsv2.AWSV2Instrumentor(&cfg.APIOptions)
}

// Span is one traced unit of work: a hop, or a step inside one.
type Span struct {
	seg *xray.Segment
}

// Start begins a span named name under the invocation's trace. Where there is no trace (a test,
// a tool), it returns a span whose methods do nothing.
func Start(ctx context.Context, name string) (context.Context, *Span) {
	ctx, seg := xray.BeginSubsegment(ctx, name)
	return ctx, &Span{seg: seg}
}

// Annotate records an indexed key that X-Ray filter expressions can find
// (annotation.record_id = "…").
func (s *Span) Annotate(key string, value any) {
	if s == nil || s.seg == nil {
		return
	}
	if err := s.seg.AddAnnotation(key, value); err != nil {
		slog.Debug("trace annotation dropped", "key", key, "error", err)
	}
}

// End closes the span, marking it as a fault when err is not nil.
func (s *Span) End(err error) {
	if s == nil || s.seg == nil {
		return
	}
	s.seg.Close(err)
}

// Header returns the X-Ray trace header of the current span ("Root=…;Parent=…;Sampled=1"), to be
// carried with a record to the next hop, or "" where there is no trace.
func Header(ctx context.Context) string {
	seg := xray.GetSegment(ctx)
	if seg == nil || seg.TraceID == "" {
		return ""
	}
	sampled := 0
	if seg.Sampled {
		sampled = 1
	}
	return fmt.Sprintf("Root=%s;Parent=%s;Sampled=%d", seg.TraceID, seg.ID, sampled)
}
