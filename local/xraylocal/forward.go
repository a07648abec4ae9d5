package xraylocal

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/xray"

	"github.com/stream-to-events/stream-to-events/local/spec"
)

// The real daemon batches too: one PutTraceSegments call per flush interval or per full batch,
// rather than one per datagram.
const (
	forwardInterval = 200 * time.Millisecond
	forwardBatch    = 50
	forwardTimeout  = 5 * time.Second
)

type segmentPutter interface {
	PutTraceSegments(ctx context.Context, in *xray.PutTraceSegmentsInput, optFns ...func(*xray.Options)) (*xray.PutTraceSegmentsOutput, error)
}

var _ segmentPutter = (*xray.Client)(nil)

// newXRayClient signs as the runner, so that the edge counts the daemon's calls as the runner's
// and not as a function's.
func newXRayClient(endpoint string) *xray.Client {
	return xray.NewFromConfig(spec.RunnerConfig(endpoint))
}

// forwarder sends documents to PutTraceSegments in batches. A batch that fails is logged and
// dropped: the daemon's own store still has the documents, and tracing must never hold up the
// flow.
type forwarder struct {
	api  segmentPutter
	log  *slog.Logger
	mu   sync.Mutex
	docs []string
	kick chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newForwarder(api segmentPutter, log *slog.Logger) *forwarder {
	return &forwarder{
		api: api, log: log,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
}

func (f *forwarder) add(doc string) {
	f.mu.Lock()
	f.docs = append(f.docs, doc)
	full := len(f.docs) >= forwardBatch
	f.mu.Unlock()
	if full {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
}

func (f *forwarder) run() {
	defer close(f.done)
	tick := time.NewTicker(forwardInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-f.kick:
		case <-f.quit:
			f.flush()
			return
		}
		f.flush()
	}
}

func (f *forwarder) stop() {
	close(f.quit)
	<-f.done
}

func (f *forwarder) flush() {
	f.mu.Lock()
	docs := f.docs
	f.docs = nil
	f.mu.Unlock()
	for len(docs) > 0 {
		n := min(len(docs), forwardBatch)
		f.put(docs[:n])
		docs = docs[n:]
	}
}

func (f *forwarder) put(docs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	out, err := f.api.PutTraceSegments(ctx, &xray.PutTraceSegmentsInput{TraceSegmentDocuments: docs})
	if err != nil {
		f.log.Warn("xray daemon: forward segments", "documents", len(docs), "error", err)
		return
	}
	for _, u := range out.UnprocessedTraceSegments {
		f.log.Warn("xray daemon: segment not taken", "id", aws.ToString(u.Id),
			"code", aws.ToString(u.ErrorCode), "message", aws.ToString(u.Message))
	}
}
