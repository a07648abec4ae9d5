package lambdaproc

import (
	"io"
	"slices"
	"sync"
)

// logSink writes the functions' lines, each prefixed with the function's logical ID the way
// `sam logs` names its source, one whole line at a time so that concurrent processes never
// interleave within a line.
type logSink struct {
	mu   sync.Mutex
	w    io.Writer
	only []string
}

func newLogSink(w io.Writer, only []string) *logSink {
	return &logSink{w: w, only: only}
}

func (s *logSink) line(logicalID, text string) {
	if s.w == nil || (len(s.only) > 0 && !slices.Contains(s.only, logicalID)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// A writer that fails (a closed terminal) must not stop the function: its pipe is still
	// drained by the caller.
	_, _ = io.WriteString(s.w, logicalID+" "+text+"\n")
}
