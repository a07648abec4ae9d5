// Command s2e-local runs stream-to-events on one machine, with no AWS account and no Docker:
// moto_server stands in for the AWS services it has, and the runner provides what moto lacks
// (Lambda execution of the real bootstraps, Firehose processing, event source mappings, the REST
// API, an X-Ray daemon). Its sub-commands are shaped like the SAM CLI's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
	"github.com/stream-to-events/stream-to-events/local/edge"
	"github.com/stream-to-events/stream-to-events/local/motoserver"
	"github.com/stream-to-events/stream-to-events/local/runner"
)

const usage = `s2e-local runs stream-to-events locally: no AWS account, no Docker.

Usage:
  s2e-local start      [flags]                     the whole flow, in the foreground, until Ctrl-C
  s2e-local invoke     <LogicalId> [-e event.json] one invocation of a function's real bootstrap
  s2e-local start-api  [flags]                     the REST API on http://127.0.0.1:3000
  s2e-local demo       [flags]                     start, send records, wait, summarise, stop
  s2e-local traces     [flags]                     the newest X-Ray traces as trees

Run "s2e-local <command> -h" for a command's flags.

It needs moto_server (pip install -r local/motoserver/requirements.txt), make and Go: the
functions are built by the Makefile for this machine, as sam build would build them for Lambda.`

// commands are s2e-local's sub-commands by name.
var commands = map[string]cli.Command{
	"start":     cmdStart,
	"invoke":    cmdInvoke,
	"start-api": cmdStartAPI,
	"demo":      cmdDemo,
	"traces":    cmdTraces,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	err := cli.Dispatch("s2e-local", usage, commands, args, stdout, stderr)
	switch {
	case errors.Is(err, errFunction):
		return 1 // the function's error is already printed
	case errors.Is(err, motoserver.ErrNotInstalled):
		fmt.Fprintln(stderr, "s2e-local:", motoserver.InstallHint)
		fmt.Fprintln(stderr, `  (or point at a running one: --endpoint http://127.0.0.1:5000)`)
		return 1
	}
	return cli.Exit("s2e-local", err, stderr)
}

// errFunction marks a function that answered with an error.
var errFunction = errors.New("function error")

// common are the flags every command that runs the stack shares.
type common struct {
	template  string
	buildDir  string
	noBuild   bool
	endpoint  string
	params    paramFlag
	logLevel  string
	motoLog   string
	logFilter string
	fs        *flag.FlagSet
	stderr    io.Writer
	motoLogF  *os.File
}

func newFlags(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs := cli.NewFlagSet(name, synopsis, stderr)
	c := &common{fs: fs, stderr: stderr, params: paramFlag{}}
	fs.StringVar(&c.template, "template", "template.yaml", "the SAM template to run")
	// Each command builds into its own folder: rebuilding a bootstrap that a running start
	// executes would fail (text file busy) or change it under the running process.
	fs.StringVar(&c.buildDir, "build-dir", "", "where make builds the bootstraps and layers (default .aws-sam/s2e-local-"+name+" beside the template)")
	fs.BoolVar(&c.noBuild, "no-build", false, "use the bootstraps already in --build-dir instead of calling make")
	fs.StringVar(&c.endpoint, "endpoint", "", "use this running moto_server (or a running s2e-local start's edge) instead of starting moto")
	fs.Var(c.params, "param", "override a template parameter: --param Name=Value (repeatable)")
	fs.StringVar(&c.logLevel, "log-level", "info", "the runner's own log level: debug, info, warn, error")
	fs.StringVar(&c.motoLog, "moto-log", "", "write moto_server's output to this file (its errors; a line per request too with S2E_MOTO_REQUEST_LOG=1)")
	fs.StringVar(&c.logFilter, "log-filter", "", "print the logs of these functions only (comma-separated logical IDs or names)")
	return fs, c
}

func (c *common) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", c.logLevel, err)
	}
	return slog.New(slog.NewJSONHandler(c.stderr, &slog.HandlerOptions{Level: level})), nil
}

// options turns the common flags into runner options.
func (c *common) options(logs io.Writer) (runner.Options, error) {
	log, err := c.logger()
	if err != nil {
		return runner.Options{}, err
	}
	if _, err := os.Stat(c.template); err != nil {
		return runner.Options{}, fmt.Errorf("template: %w (run from the repository root, or pass --template)", err)
	}
	if c.buildDir == "" {
		c.buildDir = filepath.Join(filepath.Dir(c.template), ".aws-sam", "s2e-local-"+c.fs.Name())
	}
	opts := runner.Options{
		Template:   c.template,
		BuildDir:   c.buildDir,
		SkipBuild:  c.noBuild,
		Endpoint:   strings.TrimRight(c.endpoint, "/"),
		Parameters: c.params,
		Logs:       logs,
		Logger:     log,
	}
	if c.logFilter != "" {
		opts.LogFilter = strings.Split(c.logFilter, ",")
	}
	if c.motoLog != "" {
		f, err := os.Create(c.motoLog)
		if err != nil {
			return runner.Options{}, fmt.Errorf("--moto-log: %w", err)
		}
		c.motoLogF = f
		opts.MotoLog = f
	}
	return opts, nil
}

// parse reads a command's flags, which take no other arguments, and the runner options they
// give (see options); the caller closes c once the runner has stopped.
func (c *common) parse(fs *flag.FlagSet, args []string, logs io.Writer) (runner.Options, error) {
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return runner.Options{}, err
	}
	return c.options(logs)
}

func (c *common) close() {
	if c.motoLogF != nil {
		_ = c.motoLogF.Close() // on the way out: there is nothing left to do about a failed close
	}
}

// paramFlag collects --param Name=Value.
type paramFlag map[string]string

func (p paramFlag) String() string { return "" }
func (p paramFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want Name=Value, got %q", v)
	}
	p[k] = val
	return nil
}

// stopTimeout is how long Ctrl-C waits for Firehose to deliver and batches to finish.
const stopTimeout = 30 * time.Second

func stopRunner(r *runner.Runner, log io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	fmt.Fprintln(log, "stopping: finishing what is in flight (Firehose buffers, trigger batches, requests)…")
	return r.Stop(ctx)
}

func cmdStart(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("start", "s2e-local start: the whole flow, in the foreground, until Ctrl-C.", stderr)
	port := fs.Int("port", 4566, "the edge endpoint's port (AWS_ENDPOINT_URL=http://127.0.0.1:<port>)")
	apiPort := fs.Int("api-port", 3000, "the REST API's port")
	buffer := fs.Duration("buffer-interval", 5*time.Second, "shorten Firehose's buffering interval to at most this (0 keeps the template's)")
	faults := fs.String("faults", "", "inject faults: service:operation:kind:rate[:caller],… (kind throttle, 5xx or partial), e.g. sqs:SendMessageBatch:partial:0.2")
	failedVisibility := fs.Duration("failed-visibility", 0, "retry a failed queue batch after this long instead of the queue's visibility timeout (0 keeps the queue's, as Lambda does)")
	opts, err := c.parse(fs, args, stdout)
	if err != nil {
		return err
	}
	defer c.close()
	if opts.Faults, err = edge.ParseFaults(*faults); err != nil {
		return fmt.Errorf("--faults: %w", err)
	}
	opts.Port, opts.APIPort, opts.BufferInterval, opts.Parts = *port, *apiPort, *buffer, runner.All
	opts.FailedVisibility = *failedVisibility
	r, err := runner.Start(ctx, opts)
	if err != nil {
		return err
	}
	printBanner(stderr, r)
	<-ctx.Done()
	return stopRunner(r, stderr)
}

func printBanner(w io.Writer, r *runner.Runner) {
	fmt.Fprintf(w, "\nstream-to-events is running locally.\n\n")
	fmt.Fprintf(w, "  AWS endpoint   %s   (export AWS_ENDPOINT_URL=%s AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1)\n", r.Endpoint(), r.Endpoint())
	if u := r.APIURL(); u != "" {
		fmt.Fprintf(w, "  REST API       %s/records/{type}\n", u)
	}
	fmt.Fprintf(w, "  calls counted  %s/_local/calls    faults: %s/_local/faults\n", r.Endpoint(), r.Endpoint())
	if outputs, err := r.Stack.Outputs(); err == nil {
		fmt.Fprintf(w, "\n  Outputs (aws cloudformation describe-stacks --stack-name stream-to-events --endpoint-url %s):\n", r.Endpoint())
		for _, o := range outputs {
			fmt.Fprintf(w, "    %-28s %s\n", o.Key, o.Value)
		}
	}
	fmt.Fprintf(w, "\n  Send records:  go run ./cmd/generator --endpoint %s --count 100\n", r.Endpoint())
	fmt.Fprintf(w, "  Traces:        go run ./cmd/s2e-local traces --endpoint %s\n", r.Endpoint())
	fmt.Fprintf(w, "\nFunction logs follow. Ctrl-C stops.\n\n")
}

func cmdStartAPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("start-api", "s2e-local start-api: the REST API, like sam local start-api.\nWith --endpoint pointing at a running `s2e-local start`, it serves that stack's data.", stderr)
	apiPort := fs.Int("api-port", 3000, "the REST API's port")
	opts, err := c.parse(fs, args, stdout)
	if err != nil {
		return err
	}
	defer c.close()
	opts.APIPort, opts.Parts = *apiPort, runner.Parts{API: true}
	opts.NoEdge = opts.Endpoint != ""
	r, err := runner.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "REST API on %s (routes from template.yaml; IAM auth is not checked locally). Ctrl-C stops.\n", r.APIURL())
	<-ctx.Done()
	return stopRunner(r, stderr)
}
