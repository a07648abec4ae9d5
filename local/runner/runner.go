// Package runner wires the local runner's parts into one running stack: moto_server, the
// functions' bootstraps built for this machine, the resources of template.yaml provisioned into
// moto, the edge endpoint, the X-Ray daemon, the Lambda runtime, Firehose, the event source
// mappings and the REST API. It starts them in dependency order and stops them in reverse, so
// that nothing accepted is lost on Ctrl-C (Firehose flushes, mappings finish their batches).
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/stream-to-events/stream-to-events/local/apigw"
	"github.com/stream-to-events/stream-to-events/local/cloudwatch"
	"github.com/stream-to-events/stream-to-events/local/edge"
	"github.com/stream-to-events/stream-to-events/local/esm"
	"github.com/stream-to-events/stream-to-events/local/firehose"
	"github.com/stream-to-events/stream-to-events/local/kinesisdest"
	"github.com/stream-to-events/stream-to-events/local/lake"
	"github.com/stream-to-events/stream-to-events/local/lambdaproc"
	"github.com/stream-to-events/stream-to-events/local/motoserver"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stack"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

// Parts says which parts beyond the core (moto, stack, edge, X-Ray, Lambda) run.
type Parts struct {
	Firehose bool // the Firehose API and delivery
	Triggers bool // event source mappings, rule deliveries and the tables' Kinesis streaming destinations
	API      bool // the REST API
}

// All is what `start` runs.
var All = Parts{Firehose: true, Triggers: true, API: true}

// Options configure a Runner.
type Options struct {
	Template string // path of template.yaml
	// Root is the directory of the Makefile (default: the template's directory).
	Root string
	// BuildDir receives the bootstraps and layers (default <Root>/.aws-sam/local).
	BuildDir string
	// SkipBuild uses what BuildDir holds instead of calling make.
	SkipBuild bool
	// Functions limits the build to these logical IDs (and their layers); empty builds all.
	Functions []string
	// Endpoint is an AWS endpoint already running (moto, or another runner's edge); "" starts
	// moto_server on a free port.
	Endpoint string
	// NoEdge uses Endpoint directly instead of putting an edge in front of it (invoke and
	// start-api against a running `start`).
	NoEdge  bool
	Port    int // the edge's port (0: a free one)
	APIPort int // the REST API's port (0: a free one)
	Parts   Parts
	// BufferInterval shortens Firehose's buffering hints.
	BufferInterval time.Duration
	// FailedVisibility, when > 0, makes the messages of a failed SQS batch visible again after
	// this long instead of the queue's visibility timeout (six times the storer's timeout), so
	// that a short local run recovers from a timed-out batch in seconds, not minutes.
	FailedVisibility time.Duration
	Faults           []edge.Fault
	Parameters       map[string]string
	// Logs receives the functions' log lines; LogFilter keeps those of these functions only.
	Logs      io.Writer
	LogFilter []string
	// MotoLog receives moto_server's output (nil discards it).
	MotoLog *os.File
	Logger  *slog.Logger
}

// component is a part that runs until stopped. The parts' packages each have their own shapes;
// the runner adapts them to this one so that stopping is one loop in reverse order.
type component struct {
	name string
	stop func(ctx context.Context) error
}

// Runner is a running local stack.
type Runner struct {
	Stack    *stack.Stack
	Edge     *edge.Edge // nil with NoEdge
	XRay     *xraylocal.Daemon
	Lambda   *lambdaproc.Runtime
	Firehose *firehose.Service // nil unless Parts.Firehose
	ESM      *esm.Runner       // nil unless Parts.Triggers
	// Changes copies the tables' changes to their Kinesis streams (DynamoDB's Kinesis streaming
	// destination); nil unless Parts.Triggers.
	Changes *kinesisdest.Destination
	API     *apigw.Server // nil unless Parts.API
	// Metrics are what CloudWatch would hold: the Lambda, Firehose and EMF metrics the local
	// flow writes; Alarms evaluates the template's alarms on them.
	Metrics *cloudwatch.Metrics

	endpoint string // what SDK clients use (the edge, or Endpoint with NoEdge)
	upstream string // moto (or the given endpoint)
	apiURL   string
	log      *slog.Logger

	mu    sync.Mutex
	parts []component
	lakes map[string]*lake.Reader[int] // by bucket; see Summary
}

// Start brings the local stack up; cancel with Stop. On error, what was started is stopped.
func Start(ctx context.Context, opts Options) (r *Runner, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Root == "" {
		opts.Root = filepath.Dir(opts.Template)
	}
	if opts.Root, err = filepath.Abs(opts.Root); err != nil {
		return nil, err
	}
	if opts.BuildDir == "" {
		opts.BuildDir = filepath.Join(opts.Root, ".aws-sam", "local")
	}
	if opts.BuildDir, err = filepath.Abs(opts.BuildDir); err != nil {
		return nil, err
	}
	tmpl, err := samtemplate.Load(opts.Template)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	r = &Runner{log: opts.Logger, Metrics: cloudwatch.NewMetrics(nil)}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = r.Stop(stopCtx)
		}
	}()

	// Build while moto starts: both take seconds.
	built := make(chan error, 1)
	go func() {
		if opts.SkipBuild {
			built <- nil
			return
		}
		built <- Build(ctx, tmpl, opts.Root, opts.BuildDir, opts.Functions, opts.Logger)
	}()

	upstream := opts.Endpoint
	if upstream == "" {
		moto, err := motoserver.Start(ctx, 0, opts.MotoLog)
		if err != nil {
			<-built
			return r, err
		}
		r.add("moto_server", func(context.Context) error { moto.Stop(); return nil })
		upstream = moto.URL
		opts.Logger.Info("moto_server started", "url", moto.URL, "moto", moto.Version)
		if w := moto.VersionWarning(); w != "" {
			opts.Logger.Warn(w)
		}
	}

	r.endpoint, r.upstream = upstream, upstream
	edgeAddr := ""
	if !opts.NoEdge {
		port := opts.Port
		if port == 0 {
			if port, err = motoserver.FreePort(); err != nil {
				<-built
				return r, err
			}
		}
		edgeAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		r.endpoint = "http://" + edgeAddr
	}
	if opts.Parts.API {
		port := opts.APIPort
		if port == 0 {
			if port, err = motoserver.FreePort(); err != nil {
				<-built
				return r, err
			}
		}
		r.apiURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}

	r.Stack, err = stack.New(tmpl, stack.Options{BuildDir: opts.BuildDir, Endpoint: r.endpoint, APIURL: r.apiURL, Parameters: opts.Parameters})
	if err != nil {
		<-built
		return r, fmt.Errorf("resolve template: %w", err)
	}
	provisionCfg := spec.RunnerConfig(upstream)
	if err := r.Stack.Provision(ctx, provisionCfg, opts.Logger); err != nil {
		<-built
		return r, fmt.Errorf("provision the stack into %s: %w", upstream, err)
	}
	if err := <-built; err != nil {
		return r, err
	}

	if !opts.NoEdge {
		r.Edge, err = edge.New(edge.Options{Upstream: upstream, Stack: r.Stack, Faults: opts.Faults, Log: opts.Logger, Alarms: r.Alarms})
		if err != nil {
			return r, err
		}
		if err := r.Edge.Start(edgeAddr); err != nil {
			return r, err
		}
		r.add("edge", r.Edge.Stop)
	}

	r.XRay = xraylocal.NewDaemon("", r.endpoint)
	r.XRay.SetLogger(opts.Logger)
	if err := r.XRay.Start(ctx); err != nil {
		return r, fmt.Errorf("X-Ray daemon: %w", err)
	}
	r.add("X-Ray daemon", func(context.Context) error { return r.XRay.Stop() })

	fns := r.Stack.Functions()
	if len(opts.Functions) > 0 {
		for id := range fns {
			if !slices.Contains(opts.Functions, id) {
				delete(fns, id)
			}
		}
	}
	r.Lambda = lambdaproc.New(fns, lambdaproc.Options{
		Endpoint:       r.endpoint,
		XRayDaemonAddr: r.XRay.Addr(),
		Logs:           opts.Logs,
		Only:           opts.LogFilter,
		Logger:         opts.Logger,
		Metrics:        r.Metrics,
	})
	if err := r.Lambda.Start(ctx); err != nil {
		return r, fmt.Errorf("lambda runtime: %w", err)
	}
	r.add("lambda runtime", func(context.Context) error { return r.Lambda.Stop() })

	if opts.Parts.Firehose {
		r.Firehose, err = firehose.New(r.Stack, r.Lambda, firehose.Options{BufferInterval: opts.BufferInterval, Logger: opts.Logger, Metrics: r.Metrics})
		if err != nil {
			return r, fmt.Errorf("firehose: %w", err)
		}
		r.add("firehose", r.Firehose.Stop)
		if r.Edge != nil {
			r.Edge.SetFirehose(r.Firehose)
		}
	}
	if opts.Parts.Triggers {
		// Started before the mappings, so stopped after them: what the storer wrote last still
		// reaches Kinesis, and Firehose, stopped later still, archives it.
		r.Changes, err = kinesisdest.New(r.Stack, kinesisdest.Options{Logger: opts.Logger})
		if err != nil {
			return r, fmt.Errorf("kinesis streaming destination: %w", err)
		}
		r.Changes.Start()
		r.add("kinesis streaming destination", r.Changes.Stop)

		var traces spec.TraceHeaders
		if r.Edge != nil {
			traces = r.Edge
		}
		r.ESM, err = esm.New(ctx, r.Stack, r.Lambda, traces, esm.Options{Logger: opts.Logger, FailedVisibility: opts.FailedVisibility, Metrics: r.Metrics})
		if err != nil {
			return r, fmt.Errorf("event source mappings: %w", err)
		}
		r.ESM.Start(ctx)
		r.add("event source mappings", r.ESM.Stop)
	}
	if opts.Parts.API {
		r.API, err = apigw.New(r.Stack, r.Lambda, strings.TrimPrefix(r.apiURL, "http://"))
		if err != nil {
			return r, fmt.Errorf("REST API: %w", err)
		}
		r.API.SetLogger(opts.Logger)
		if err := r.API.SetXRayDaemon(ctx, r.XRay.Addr()); err != nil {
			return r, fmt.Errorf("REST API tracing: %w", err)
		}
		if err := r.API.Start(ctx); err != nil {
			return r, fmt.Errorf("REST API: %w", err)
		}
		r.add("REST API", r.API.Stop)
	}
	return r, nil
}

func (r *Runner) add(name string, stop func(context.Context) error) {
	r.mu.Lock()
	r.parts = append(r.parts, component{name: name, stop: stop})
	r.mu.Unlock()
}

// Stop stops every part in the reverse order of their start. ctx bounds the wait: Firehose
// delivers what it holds and the mappings finish their batches within it.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	parts := r.parts
	r.parts = nil
	r.mu.Unlock()
	var errs []error
	for _, p := range slices.Backward(parts) {
		if err := p.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
		}
		r.log.Debug("stopped", "part", p.name)
	}
	return errors.Join(errs...)
}

// Endpoint is the URL the SDK clients use: the edge, or the given endpoint without one.
func (r *Runner) Endpoint() string { return r.endpoint }

// APIURL is the REST API's URL ("" when it does not run).
func (r *Runner) APIURL() string {
	if r.API == nil {
		return ""
	}
	return r.apiURL
}

// Alarms evaluates the template's CloudWatch alarms against what the local flow holds now: the
// queues' depths, read from the queues, and the metrics the local stand-ins and the functions
// wrote. The runbook line of each is in its description.
func (r *Runner) Alarms(ctx context.Context) ([]cloudwatch.Status, error) {
	props := map[string]map[string]any{}
	for _, id := range r.Stack.Template().OfType("AWS::CloudWatch::Alarm") {
		if _, ok := r.Stack.PhysicalID(id); !ok {
			continue // its Condition does not hold
		}
		props[id] = r.Stack.Template().Resources[id].Properties
	}
	alarms, err := cloudwatch.AlarmsOf(props, r.Stack)
	if err != nil {
		return nil, err
	}
	return r.Metrics.Evaluate(ctx, alarms, queueDepths{sqs.NewFromConfig(spec.RunnerConfig(r.upstream))}), nil
}

// queueDepths reads a queue's ApproximateNumberOfMessagesVisible from SQS, as CloudWatch does.
type queueDepths struct{ c *sqs.Client }

func (q queueDepths) QueueDepth(ctx context.Context, name string) (float64, error) {
	u, err := q.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return 0, err
	}
	out, err := q.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: u.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], 64)
}

// Build runs `make build-<LogicalID> ARTIFACTS_DIR=<dir>/<LogicalID> LAMBDA_GOARCH=<this machine's>` for
// every function (or those in only) and the layers they use, in parallel, as `sam build` calls
// the Makefile. The functions then run as the same binaries that go to AWS, built for here.
func Build(ctx context.Context, t *samtemplate.Template, root, dir string, only []string, log *slog.Logger) error {
	if _, err := exec.LookPath("make"); err != nil {
		return fmt.Errorf("build: make is not on PATH (the functions are built by the Makefile)")
	}
	var targets []string
	layers := map[string]bool{}
	for _, id := range t.OfType("AWS::Serverless::Function") {
		if len(only) > 0 && !slices.Contains(only, id) {
			continue
		}
		targets = append(targets, id)
		props, err := t.Function(id)
		if err != nil {
			return err
		}
		ls, _ := props["Layers"].([]any)
		for _, l := range ls {
			if ref, ok := l.(map[string]any)["Ref"].(string); ok {
				if res, ok := t.Resources[ref]; ok && strings.HasSuffix(res.Type, "LayerVersion") {
					layers[ref] = true
				}
			}
		}
	}
	for _, id := range t.OfType("AWS::Serverless::LayerVersion") {
		if layers[id] || len(only) == 0 {
			targets = append(targets, id)
		}
	}
	start := time.Now()
	// Six builds side by side on empty caches each compile the same SDK, X-Ray and gRPC packages;
	// compiling every function once first leaves the parallel builds only their own linking.
	if err := runMake(ctx, root, "compile-functions"); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, id := range targets {
		wg.Go(func() {
			out := filepath.Join(dir, id)
			if err := os.MkdirAll(out, 0o750); err != nil {
				errs[i] = err
				return
			}
			errs[i] = runMake(ctx, root, "build-"+id, "ARTIFACTS_DIR="+out)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	log.Info("built", "targets", targets, "dir", dir, "goarch", runtime.GOARCH, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// runMake runs one Makefile target for this machine's GOARCH, with make's output in the error.
func runMake(ctx context.Context, root, target string, vars ...string) error {
	args := append([]string{"--no-print-directory", "-C", root, target, "LAMBDA_GOARCH=" + runtime.GOARCH}, vars...)
	cmd := exec.CommandContext(ctx, "make", args...) // #nosec G204 -- make on PATH, building the template's own functions as sam build would
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("make %s: %w\n%s", target, err, strings.TrimSpace(output.String()))
	}
	return nil
}
