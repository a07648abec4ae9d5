package lambdaproc

import (
	"io"
	"slices"
	"sync"

	"github.com/stream-to-events/stream-to-events/local/cloudwatch"
)

// logSink writes the functions' lines, each prefixed with the function's logical ID the way
// `sam logs` names its source, one whole line at a time so that concurrent processes never
// interleave within a line.
type logSink struct {
	mu      sync.Mutex
	w       io.Writer
	only    []string
	metrics *cloudwatch.Metrics // takes the EMF lines, as CloudWatch Logs extracts them
}

func newLogSink(w io.Writer, only []string, metrics *cloudwatch.Metrics) *logSink {
	return &logSink{w: w, only: only, metrics: metrics}
}

func (s *logSink) line(logicalID, text string) {
	s.metrics.EMF(text)
	if s.w == nil || (len(s.only) > 0 && !slices.Contains(s.only, logicalID)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A writer that fails (a closed terminal) must not stop the function: its pipe is still
	// drained by the caller.
	_, _ = io.WriteString(s.w, logicalID+" "+text+"\n")
}
