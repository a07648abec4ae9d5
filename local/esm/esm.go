// Package esm runs the event source mappings of the template's functions locally, since moto has
// none: it polls SQS queues and DynamoDB streams, and the SQS queues that EventBridge rules
// deliver to, and invokes the functions with the events Lambda would build, honouring the
// template's batch sizes, filters, partial batch responses, retries, bisection and failure
// destinations.
package esm

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/local/cloudwatch"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// Options tune the local run. The zero value gives Lambda's behaviour with local waits.
type Options struct {
	// PollWait is the SQS long-poll wait (default 1s; Lambda waits 20s, which would only make
	// Stop slow locally).
	PollWait time.Duration
	// SQSPollers is how many batches of one standard queue are in flight at once (default 5, as
	// Lambda starts). On a FIFO queue moto withholds a message group while a batch of it is in
	// flight, so pollers never overlap on one group.
	SQSPollers int
	// FailedVisibility, when > 0, makes SQS messages of a failed batch visible again after this
	// long instead of the queue's visibility timeout (a local shortcut; Lambda leaves it).
	FailedVisibility time.Duration
	// StreamPollInterval is how often an idle shard is read (default 250ms, as Lambda does).
	StreamPollInterval time.Duration
	// RetryBackoff is the wait before a stream batch is retried (default 500ms).
	RetryBackoff time.Duration
	// AsyncRetryDelay is the wait between retries of an asynchronous (EventBridge) invocation
	// (default 1s; Lambda waits about 1 then 2 minutes).
	AsyncRetryDelay time.Duration
	Logger          *slog.Logger
	// Metrics receives each stream mapping's IteratorAge, as Lambda reports it; nil keeps none.
	Metrics *cloudwatch.Metrics
}

// Counts are one mapping's counts since start.
type Counts struct {
	Batches      int64 // invocations
	Records      int64 // records sent to the function (retries count again)
	Failed       int64 // records of failed invocations or reported as failed
	Filtered     int64 // stream records a filter left out
	DeadLettered int64 // records the runner sent to a failure destination or DLQ
	// Of a queue's mapping: the wall time of its invocations, from handing a batch over to the
	// function's answer, and of settling them after, deleting their messages or making them
	// visible again; summed over the batches.
	Invoking, Settling time.Duration
}

type counters struct {
	batches, records, failed, filtered, deadLettered atomic.Int64
	invoking, settling                               atomic.Int64 // nanoseconds
}

func (c *counters) snapshot() Counts {
	return Counts{Batches: c.batches.Load(), Records: c.records.Load(), Failed: c.failed.Load(),
		Filtered: c.filtered.Load(), DeadLettered: c.deadLettered.Load(),
		Invoking: time.Duration(c.invoking.Load()), Settling: time.Duration(c.settling.Load())}
}

// mapping is one trigger of one function.
type mapping interface {
	name() string
	run(ctx context.Context, stop <-chan struct{})
	counts() Counts
}

// Runner runs every event source mapping of the template.
type Runner struct {
	mappings []mapping
	log      *slog.Logger

	mu      sync.Mutex
	started bool
	stop    chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// clients are the SDK clients of the runner, signed with spec.RunnerAccessKey at the edge.
type clients struct {
	sqs     *sqs.Client
	streams *dynamodbstreams.Client
	events  *eventbridge.Client
}

// New reads the SQS, DynamoDB and EventBridgeRule events of the template's functions through st
// and looks up the queues they need (so the stack must be provisioned). The functions run
// through inv; traces, when not nil, continues the trace of a PutEvents entry into the rule's
// invocation.
func New(ctx context.Context, st spec.Stack, inv spec.Invoker, traces spec.TraceHeaders, opts Options) (*Runner, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PollWait <= 0 {
		opts.PollWait = time.Second
	}
	if opts.SQSPollers <= 0 {
		opts.SQSPollers = 5
	}
	if opts.StreamPollInterval <= 0 {
		opts.StreamPollInterval = 250 * time.Millisecond
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 500 * time.Millisecond
	}
	if opts.AsyncRetryDelay <= 0 {
		opts.AsyncRetryDelay = time.Second
	}
	cfg := spec.RunnerConfig(st.Endpoint())
	c := clients{sqs: sqs.NewFromConfig(cfg), streams: dynamodbstreams.NewFromConfig(cfg), events: eventbridge.NewFromConfig(cfg)}
	r := &Runner{log: opts.Logger, stop: make(chan struct{})}
	tmpl := st.Template()
	fns := st.Functions()
	ids := make([]string, 0, len(fns))
	for id := range fns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		props, err := tmpl.Function(id)
		if err != nil {
			return nil, fmt.Errorf("esm: %w", err)
		}
		evs, _ := props["Events"].(map[string]any)
		names := make([]string, 0, len(evs))
		for n := range evs {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, evName := range names {
			ev, _ := evs[evName].(map[string]any)
			typ, _ := ev["Type"].(string)
			if typ != "SQS" && typ != "DynamoDB" && typ != "EventBridgeRule" {
				continue
			}
			resolved, err := st.Resolve(ev["Properties"])
			if err != nil {
				return nil, fmt.Errorf("esm: %s.Events.%s: resolve: %w", id, evName, err)
			}
			p, _ := resolved.(map[string]any)
			base := mappingBase{functionID: id, function: fns[id], event: evName, props: p, inv: inv, c: c, opts: opts,
				log: opts.Logger.With("function", id, "trigger", evName), traces: traces, counters: &counters{}}
			var m mapping
			switch typ {
			case "SQS":
				m, err = newSQSMapping(ctx, base)
			case "DynamoDB":
				m, err = newStreamMapping(ctx, base)
			case "EventBridgeRule":
				m, err = newRuleMapping(ctx, base, st, props)
			}
			if err != nil {
				return nil, fmt.Errorf("esm: %s.Events.%s (%s): %w", id, evName, typ, err)
			}
			if m != nil {
				r.mappings = append(r.mappings, m)
			}
		}
	}
	return r, nil
}

// Start begins polling for every mapping.
func (r *Runner) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, m := range r.mappings {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			m.run(ctx, r.stop)
		}()
	}
}

// Stop stops polling and waits for the batches in flight to finish (their messages deleted,
// their checkpoints kept); when ctx ends first, what is in flight is abandoned (SQS messages
// then come back after their visibility timeout).
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	cancel := r.cancel
	r.mu.Unlock()
	if err := spec.Wait(ctx, &r.wg); err != nil {
		if cancel != nil {
			cancel()
		}
		r.wg.Wait()
		return fmt.Errorf("esm: stop: %w", err)
	}
	return nil
}

// Mappings are the mappings' names, "<FunctionLogicalID>.<EventName>".
func (r *Runner) Mappings() []string {
	out := make([]string, len(r.mappings))
	for i, m := range r.mappings {
		out[i] = m.name()
	}
	return out
}

// Counts are every mapping's counts by name.
func (r *Runner) Counts() map[string]Counts {
	out := make(map[string]Counts, len(r.mappings))
	for _, m := range r.mappings {
		out[m.name()] = m.counts()
	}
	return out
}

// mappingBase is what every kind of mapping has.
type mappingBase struct {
	functionID string
	function   spec.Function
	event      string
	props      map[string]any
	inv        spec.Invoker
	c          clients
	opts       Options
	log        *slog.Logger
	traces     spec.TraceHeaders // the TraceHeader of each bus event; nil when none is kept
	*counters
}

// traceOfEvent is the TraceHeader of the PutEvents entry that became the bus event eventID ("" when
// unknown). EventBridge hands it on to its targets; moto does not, so the mapping looks it up.
func (b *mappingBase) traceOfEvent(eventID string) string {
	if b.traces == nil || eventID == "" {
		return ""
	}
	return b.traces.TraceHeaderOfEvent(eventID)
}

func (b *mappingBase) name() string   { return b.functionID + "." + b.event }
func (b *mappingBase) counts() Counts { return b.snapshot() }

// stopped reports whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// sleep waits d, or less when ctx ends or stop closes; false when it was cut short.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

// queueURL finds the URL of the queue an ARN names (arn:aws:sqs:region:account:name).
func queueURL(ctx context.Context, c *sqs.Client, arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		// A Ref of a queue is its URL already.
		if strings.HasPrefix(arn, "http") {
			return arn, nil
		}
		return "", fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return "", fmt.Errorf("queue URL of %s: %w", arn, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// destinationURL reads DestinationConfig.OnFailure.Destination, "" when there is none.
func destination(ctx context.Context, c *sqs.Client, cfg any) (arn, url string, err error) {
	dc, _ := cfg.(map[string]any)
	of, _ := dc["OnFailure"].(map[string]any)
	arn, _ = of["Destination"].(string)
	if arn == "" {
		return "", "", nil
	}
	if t, _ := of["Type"].(string); t != "" && t != "SQS" {
		return "", "", fmt.Errorf("OnFailure destination type %s: only SQS is run locally", t)
	}
	if !strings.HasPrefix(arn, "arn:aws:sqs:") {
		return "", "", fmt.Errorf("OnFailure destination %s: only SQS is run locally", arn)
	}
	url, err = queueURL(ctx, c, arn)
	return arn, url, err
}

func boolProp(v any, def bool) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return b
		}
	}
	return def
}

// reportsItemFailures says whether FunctionResponseTypes has ReportBatchItemFailures.
func reportsItemFailures(props map[string]any) bool {
	l, _ := props["FunctionResponseTypes"].([]any)
	for _, v := range l {
		if v == "ReportBatchItemFailures" {
			return true
		}
	}
	return false
}

func enabled(props map[string]any) bool { return boolProp(props["Enabled"], true) }

// isoMillis is the timestamp format of Lambda's failure records.
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// newRequestID makes a Lambda-like request ID for failure records of invocations that had none.
func newRequestID() string {
	return fmt.Sprintf("%016x-local", time.Now().UnixNano())
}
