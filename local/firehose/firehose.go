// Package firehose runs the template's Firehose delivery streams locally, since moto has no
// Firehose processors: it answers the Firehose API (PutRecord, PutRecordBatch,
// DescribeDeliveryStream, ListDeliveryStreams) as an http.Handler that the edge routes to, reads
// the Kinesis stream of a KinesisStreamAsSource delivery stream (kinesis_source.go),
// buffers records per the template's buffering hints, calls the stream's Lambda processor with a
// real transformation event, and writes what comes back to S3 as Firehose does: Ok records under
// the prefix, failed ones in Firehose's error record format under the error output prefix.
package firehose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/local/cloudwatch"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// Options tune the local run. The zero value runs the template's settings.
type Options struct {
	// BufferInterval, when > 0, replaces every buffering interval of the template (the
	// processor's and the destination's) that is longer, so that records cross in seconds.
	BufferInterval time.Duration
	// RetryBackoff is the wait between invocations of a failing processor (default 1s).
	RetryBackoff time.Duration
	// S3Policy is how S3 writes are retried (default: 20 calls, backoff up to 2s).
	S3Policy batch.Policy
	// RejectRecord, when set, is asked for each record of a put; true rejects the record with
	// ServiceUnavailableException, as Firehose does when it throttles (fault injection).
	RejectRecord func(stream string) bool
	Logger       *slog.Logger
	// Metrics receives each stream's ExecuteProcessing.Success and DeliveryToS3.Success, as
	// Firehose reports them; nil keeps none.
	Metrics *cloudwatch.Metrics
}

// Counts are one stream's record counts since start.
type Counts struct {
	In        int64 // records accepted by PutRecord/PutRecordBatch
	Delivered int64 // records written under the prefix (after the processor: Ok records)
	Dropped   int64 // records the processor answered Dropped
	Failed    int64 // records written under the error prefix, or lost after S3 retries
}

type objectPutter interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ objectPutter = (*s3.Client)(nil)

// Service is the local Firehose: one delivery loop per stream of the template.
type Service struct {
	streams map[string]*stream // by name
	order   []string
	log     *slog.Logger
	opts    Options

	mu      sync.Mutex
	stopped bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// New reads the template's delivery streams through st and starts their delivery loops. The
// processor runs through inv; S3 writes go to st.Endpoint() signed with spec.RunnerAccessKey.
func New(st spec.Stack, inv spec.Invoker, opts Options) (*Service, error) {
	cfg := spec.RunnerConfig(st.Endpoint())
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	s, err := newService(st, inv, client, opts)
	if err != nil {
		return nil, err
	}
	s.startKinesisSources(kinesis.NewFromConfig(cfg))
	return s, nil
}

func newService(st spec.Stack, inv spec.Invoker, s3c objectPutter, opts Options) (*Service, error) {
	configs, err := readStreams(st)
	if err != nil {
		return nil, fmt.Errorf("firehose: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = time.Second
	}
	if opts.S3Policy.Attempts <= 0 {
		opts.S3Policy = batch.Policy{Attempts: 20, Base: 100 * time.Millisecond, Max: 2 * time.Second}
	}
	s := &Service{streams: map[string]*stream{}, log: opts.Logger, opts: opts, stop: make(chan struct{})}
	for _, c := range configs {
		if opts.BufferInterval > 0 {
			c.BufferInterval = min(c.BufferInterval, opts.BufferInterval)
			if c.Processor != nil {
				c.Processor.BufferInterval = min(c.Processor.BufferInterval, opts.BufferInterval)
			}
		}
		if _, dup := s.streams[c.Name]; dup {
			return nil, fmt.Errorf("firehose: two delivery streams named %s", c.Name)
		}
		s.streams[c.Name] = newStream(c, inv, s3c, opts)
		s.order = append(s.order, c.Name)
	}
	for _, name := range s.order {
		st := s.streams[name]
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			st.run(s.stop)
		}()
	}
	return s, nil
}

// Streams are the names of the delivery streams producers put to (DirectPut), in the template's
// order of logical IDs; Kinesis-sourced streams read their records themselves.
func (s *Service) Streams() []string {
	var out []string
	for _, name := range s.order {
		if s.streams[name].cfg.SourceStreamARN == "" {
			out = append(out, name)
		}
	}
	return out
}

// Counts are the record counts of every stream, by name.
func (s *Service) Counts() map[string]Counts {
	out := make(map[string]Counts, len(s.streams))
	for name, st := range s.streams {
		out[name] = st.counts()
	}
	return out
}

// Flush processes and delivers what every stream holds now, without waiting for the buffering
// hints (the demo calls it to finish quickly; Firehose itself has no such call).
func (s *Service) Flush(ctx context.Context) error {
	var errs []error
	for _, name := range s.order {
		if err := s.streams[name].flush(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stop refuses further puts, then processes and delivers everything still buffered, so that
// nothing accepted is lost; it returns when that is done or ctx ends.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.stop)
	}
	s.mu.Unlock()
	if err := spec.Wait(ctx, &s.wg); err != nil {
		return fmt.Errorf("firehose: stop: %w", err)
	}
	return s.Flush(ctx)
}

func (s *Service) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

var _ http.Handler = (*Service)(nil)
