// Package lambdaproc runs the template's functions as Lambda runs them on provided.al2023: each
// function's real bootstrap binary is a process that pulls invocations from a Lambda Runtime API
// (2018-06-01) served on a loopback port of its own. The package keeps a pool of warm processes
// per function, enforces the template's timeout (the process is killed, the next call gets a fresh
// one), reports memory, prints Lambda's START/END/REPORT lines with every log line prefixed by the
// function's logical ID, and writes the function segment of each invocation to the X-Ray daemon so
// that the SDK's subsegments from inside the function hang under it.
//
// Environment: a function gets the template's variables and what Lambda sets (AWS_LAMBDA_*,
// AWS_REGION, _X_AMZN_TRACE_ID per invocation through the Runtime API header, LAMBDA_TASK_ROOT,
// AWS_XRAY_DAEMON_ADDRESS), AWS_ENDPOINT_URL pointing at the local stack, and its logical ID as
// AWS_ACCESS_KEY_ID so that the edge can count calls per function. Nothing is inherited from the
// runner's own environment except PATH.
//
// Memory: the template's MemorySize is passed to the function and reported, with the process's
// peak resident set as Max Memory Used; it is not enforced (Go reserves more address space than it
// uses, so an address-space limit would kill healthy functions).
//
// Layers: Lambda extracts a function's layers into /opt. Locally a layer is a directory
// (spec.Function.Layers), so a variable whose value is /opt or a path under it is rewritten to
// the layer directory that holds that path (CONTRACTS_DIR=/opt/contracts becomes
// <layer dir>/contracts). Code that reads /opt without being told through a variable does not
// see the layer locally.
package lambdaproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stream-to-events/stream-to-events/local/cloudwatch"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

// Lambda's defaults for a function that does not say.
const (
	DefaultMaxConcurrency = 4
	DefaultTimeout        = 3 * time.Second
	DefaultMemoryMB       = 128
	// DefaultInitTimeout is Lambda's limit on the init phase (start to the first /next).
	DefaultInitTimeout = 10 * time.Second
	// maxResponseBytes is Lambda's limit on a synchronous response.
	maxResponseBytes = 6 * 1024 * 1024
)

// Error types the runtime itself reports, as Lambda does.
const (
	ErrorTimeout      = "Sandbox.Timedout"
	ErrorExit         = "Runtime.ExitError"
	ErrorResponseSize = "Function.ResponseSizeTooLarge"
)

// ErrStopped is returned by Invoke once the runtime is stopped.
var ErrStopped = errors.New("lambda runtime stopped")

// Options configure a Runtime. The zero value works: no endpoint, no X-Ray, logs discarded.
type Options struct {
	// Endpoint is the AWS_ENDPOINT_URL the functions' SDK clients use (the edge).
	Endpoint string
	// XRayDaemonAddr is the UDP host:port of the X-Ray daemon; "" sends no segments.
	XRayDaemonAddr string
	// Logs receives every line the functions print and Lambda's START/END/REPORT lines, each
	// prefixed with the function's logical ID. nil discards them.
	Logs io.Writer
	// Only limits Logs to these functions (logical IDs or names); empty prints all.
	Only []string
	// MaxConcurrency is the number of processes per function (each runs one invocation at a
	// time); 0 means DefaultMaxConcurrency.
	MaxConcurrency int
	// InitTimeout bounds the start of a process; 0 means DefaultInitTimeout.
	InitTimeout time.Duration
	// Logger receives the runtime's own problems; nil means slog.Default().
	Logger *slog.Logger
	// Metrics receives Lambda's metrics of each invocation (Invocations, Errors, Duration by
	// FunctionName) and the functions' EMF lines, as CloudWatch would; nil keeps none.
	Metrics *cloudwatch.Metrics
}

// Runtime runs functions. It implements spec.Invoker.
type Runtime struct {
	opts  Options
	pools map[string]*pool
	names map[string]string // name and ARN → logical ID
	sink  *logSink
	log   *slog.Logger

	xray *xraylocal.Emitter // nil when there is no daemon

	mu      sync.Mutex
	stopped bool
}

var _ spec.Invoker = (*Runtime)(nil)

// New prepares a runtime for fns (by logical ID). Processes start on the first invocation of
// each function, as cold starts do in Lambda.
func New(fns map[string]spec.Function, opts Options) *Runtime {
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = DefaultMaxConcurrency
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = DefaultInitTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Runtime{
		opts:  opts,
		pools: map[string]*pool{},
		names: map[string]string{},
		log:   opts.Logger,
	}
	only := slices.Clone(opts.Only)
	for id, fn := range fns {
		if fn.LogicalID == "" {
			fn.LogicalID = id
		}
		if fn.Name == "" {
			fn.Name = id
		}
		if fn.Timeout <= 0 {
			fn.Timeout = DefaultTimeout
		}
		if fn.MemoryMB <= 0 {
			fn.MemoryMB = DefaultMemoryMB
		}
		r.pools[id] = &pool{fn: fn, slots: make(chan struct{}, opts.MaxConcurrency)}
		r.names[fn.Name] = id
		if fn.ARN != "" {
			r.names[fn.ARN] = id
		}
		// A filter may name a function by its physical name; the sink matches logical IDs.
		if slices.Contains(opts.Only, fn.Name) || (fn.ARN != "" && slices.Contains(opts.Only, fn.ARN)) {
			only = append(only, id)
		}
	}
	r.sink = newLogSink(opts.Logs, only, opts.Metrics)
	return r
}

// Start checks that every bootstrap exists and opens the X-Ray daemon's socket. It fails fast,
// naming what to build, rather than on the first invocation.
func (r *Runtime) Start(ctx context.Context) error {
	for id, p := range r.pools {
		st, err := os.Stat(p.fn.Bootstrap)
		if err != nil {
			return fmt.Errorf("function %s: bootstrap %q (build it first, e.g. make build): %w", id, p.fn.Bootstrap, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("function %s: bootstrap %q is not an executable file", id, p.fn.Bootstrap)
		}
	}
	if r.opts.XRayDaemonAddr != "" {
		xray, err := xraylocal.DialEmitter(ctx, r.opts.XRayDaemonAddr)
		if err != nil {
			return err
		}
		r.xray = xray
	}
	return nil
}

// Stop kills every function process and waits until their output is written.
func (r *Runtime) Stop() error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range r.pools {
		for _, proc := range p.drain() {
			wg.Go(proc.retire)
		}
	}
	wg.Wait()
	return r.xray.Close()
}

func (r *Runtime) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// LogicalID finds a function's logical ID by logical ID, name or ARN.
func (r *Runtime) LogicalID(nameOrARN string) (string, bool) {
	if _, ok := r.pools[nameOrARN]; ok {
		return nameOrARN, true
	}
	if id, ok := r.names[nameOrARN]; ok {
		return id, true
	}
	// A qualified ARN (…:function:name:$LATEST, or an alias) names the same function: locally
	// there is only $LATEST.
	if i := strings.LastIndexByte(nameOrARN, ':'); i > 0 && strings.Count(nameOrARN, ":") == 7 {
		id, ok := r.names[nameOrARN[:i]]
		return id, ok
	}
	return "", false
}

// Invoke runs one invocation of a function (by logical ID, name or ARN) and waits for its
// result. A function error is a Result with Error set; a Go error means the runner could not
// run the function at all (unknown function, bootstrap not startable, ctx done, stopped).
func (r *Runtime) Invoke(ctx context.Context, logicalID string, inv spec.Invocation) (spec.Result, error) {
	id, ok := r.LogicalID(logicalID)
	if !ok {
		return spec.Result{}, fmt.Errorf("invoke %s: no such function", logicalID)
	}
	pl := r.pools[id]
	select {
	case pl.slots <- struct{}{}:
	case <-ctx.Done():
		return spec.Result{}, fmt.Errorf("invoke %s: waiting for a free process: %w", id, ctx.Err())
	}
	defer func() { <-pl.slots }()

	tc := newTraceContext(inv.TraceHeader)
	c := &call{
		id:          spec.NewRequestID(),
		payload:     inv.Payload,
		traceHeader: tc.header(),
		timeout:     pl.fn.Timeout,
		arn:         pl.fn.ARN,
		delivered:   make(chan struct{}),
		answer:      make(chan answer, 1),
	}
	// A warm process may have died since its last call (a panic exits after reporting the
	// error): the call was not delivered, so it goes to a fresh process. A fresh process that
	// dies before taking the call failed its init, which is the call's result.
	for {
		if r.isStopped() {
			return spec.Result{}, fmt.Errorf("invoke %s: %w", id, ErrStopped)
		}
		proc, err := pl.take(r)
		if err != nil {
			return spec.Result{}, fmt.Errorf("invoke %s: %w", id, err)
		}
		out, err := proc.run(ctx, c, r.opts.InitTimeout)
		if err != nil {
			pl.discard(proc)
			return spec.Result{}, fmt.Errorf("invoke %s: %w", id, err)
		}
		if !out.delivered && proc.warm() {
			pl.discard(proc)
			continue
		}
		if r.isStopped() {
			return spec.Result{}, fmt.Errorf("invoke %s: %w", id, ErrStopped)
		}
		res := spec.Result{
			RequestID: c.id,
			Payload:   out.payload,
			Error:     out.errorType,
			Duration:  out.duration,
			TraceID:   tc.root,
		}
		pl.count(res)
		r.putMetrics(pl.fn, res)
		r.sendSegment(pl.fn, tc, c, out)
		if out.keep {
			pl.put(proc)
		} else {
			pl.discard(proc)
		}
		return res, nil
	}
}

// putMetrics writes what Lambda reports to CloudWatch for one invocation.
func (r *Runtime) putMetrics(fn spec.Function, res spec.Result) {
	dims := map[string]string{"FunctionName": fn.Name}
	failed := 0.0
	if res.Error != "" {
		failed = 1
	}
	r.opts.Metrics.Put("AWS/Lambda", "Invocations", dims, 1)
	r.opts.Metrics.Put("AWS/Lambda", "Errors", dims, failed)
	r.opts.Metrics.Put("AWS/Lambda", "Duration", dims, float64(res.Duration.Microseconds())/1000)
}

// pool holds one function's processes. A slot is taken for each invocation, so that no more
// than MaxConcurrency processes ever exist for the function.
type pool struct {
	fn    spec.Function
	slots chan struct{}

	mu    sync.Mutex
	idle  []*process
	all   map[*process]struct{}
	stats Stats
}

// Stats count what happened to one function's invocations, for the demo's summary.
type Stats struct {
	Invocations int           // invocations that reached the function
	ColdStarts  int           // processes started
	Errors      int           // invocations whose Result has Error set (timeouts and crashes included)
	Timeouts    int           // invocations killed at the function's timeout
	Crashes     int           // invocations whose process exited (Runtime.ExitError)
	Duration    time.Duration // summed duration of the invocations
	InFlight    int           // invocations running or waiting for their process now
}

// Stats returns the counts per function (logical ID) since New.
func (r *Runtime) Stats() map[string]Stats {
	out := map[string]Stats{}
	for id, pl := range r.pools {
		pl.mu.Lock()
		st := pl.stats
		pl.mu.Unlock()
		st.InFlight = len(pl.slots)
		out[id] = st
	}
	return out
}

func (pl *pool) count(res spec.Result) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.stats.Invocations++
	pl.stats.Duration += res.Duration
	if res.Error != "" {
		pl.stats.Errors++
	}
	switch res.Error {
	case ErrorTimeout:
		pl.stats.Timeouts++
	case ErrorExit:
		pl.stats.Crashes++
	}
}

// take returns the most recently used idle process, or starts one.
func (pl *pool) take(r *Runtime) (*process, error) {
	pl.mu.Lock()
	if n := len(pl.idle); n > 0 {
		p := pl.idle[n-1]
		pl.idle = pl.idle[:n-1]
		pl.mu.Unlock()
		return p, nil
	}
	pl.mu.Unlock()
	p, err := startProcess(pl.fn, r.env(pl.fn), r.sink, r.log)
	if err != nil {
		return nil, err
	}
	pl.mu.Lock()
	if pl.all == nil {
		pl.all = map[*process]struct{}{}
	}
	pl.all[p] = struct{}{}
	pl.stats.ColdStarts++
	pl.mu.Unlock()
	return p, nil
}

func (pl *pool) put(p *process) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if _, ok := pl.all[p]; !ok {
		return // the runtime stopped meanwhile and retired it
	}
	pl.idle = append(pl.idle, p)
}

func (pl *pool) discard(p *process) {
	pl.mu.Lock()
	delete(pl.all, p)
	pl.mu.Unlock()
	p.retire()
}

// drain takes every process out of the pool, for Stop.
func (pl *pool) drain() []*process {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var out []*process
	for p := range pl.all {
		out = append(out, p)
	}
	pl.all = nil
	pl.idle = nil
	return out
}
