package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	firehosetypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

// The stack's output keys (template.yaml, Outputs) that name the destinations.
const (
	outputStream = "IngestDeliveryStreamName"
	outputQueue  = "IngestQueueUrl"
)

// localAccessKey signs the generator's calls to a local endpoint when no credentials are
// configured: the local runner's edge counts calls per access key, so the generator shows up
// as itself.
const localAccessKey = "generator"

// sendRecords resolves the destination, sends the records and prints the summary.
func sendRecords(ctx context.Context, o options, stdout, stderr io.Writer) error {
	cfg, where, err := loadConfig(ctx, o.endpoint)
	if err != nil {
		return err
	}
	dst, name, err := destination(ctx, cfg, where, &o)
	if err != nil {
		return err
	}
	gen, err := generate.New(generate.Options{
		Seed: o.seed, Raw: o.raw, Invalid: o.invalid, Duplicates: o.duplicates,
		Entities: o.entities, Start: o.start,
	})
	if err != nil {
		return err
	}

	bar := &progressBar{w: stdout, total: o.count, on: o.progress == "on" || (o.progress == "auto" && isTerminal(stdout))}
	stats, sendErr := generate.Send(ctx, dst, gen.Records(o.count), generate.SendOptions{Rate: o.rate, Progress: bar.update})
	bar.finish()

	sum := summary{Target: o.target, Destination: name, Seed: o.seed, Start: record.FormatTime(o.start), Requested: o.count, Stats: stats,
		ElapsedSeconds: stats.Elapsed.Seconds()}
	if stats.Elapsed > 0 {
		sum.RecordsPerSecond = float64(stats.Sent) / stats.Elapsed.Seconds()
	}
	if sendErr != nil {
		sum.Error = sendErr.Error()
	}
	text := stdout
	if o.json {
		text = stderr
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return fmt.Errorf("write summary: %w", err)
		}
	}
	sum.print(text)
	return sendErr
}

// loadConfig builds the SDK configuration through awsclient, pointed at endpoint when one is
// given. It returns a description of where calls go, for error messages.
func loadConfig(ctx context.Context, endpoint string) (aws.Config, string, error) {
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	var lo []func(*config.LoadOptions) error
	if endpoint != "" {
		lo = append(lo, config.WithBaseEndpoint(endpoint))
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			lo = append(lo, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(localAccessKey, localAccessKey, "")))
		}
	}
	cfg, err := awsclient.Config(ctx, lo...)
	if err != nil {
		return aws.Config{}, "", err
	}
	if cfg.Region == "" {
		if endpoint == "" {
			return aws.Config{}, "", errors.New("no AWS region: set AWS_REGION or a profile's region")
		}
		cfg.Region = "us-east-1" // the local runner's and moto's region
	}
	if endpoint != "" {
		return cfg, endpoint, nil
	}
	return cfg, "AWS " + cfg.Region, nil
}

// destination resolves the names and checks that the destination exists, so that a typo fails
// with a clear message before any record is generated.
func destination(ctx context.Context, cfg aws.Config, where string, o *options) (generate.Destination, string, error) {
	// The stack is asked only for what the flags leave open.
	if (o.target == targetFirehose && o.stream == "") || (o.target == targetQueue && o.queueURL == "") {
		outputs, err := stackOutputs(ctx, cloudformation.NewFromConfig(cfg), o.stack, where)
		if err != nil {
			return nil, "", err
		}
		key, into := outputStream, &o.stream
		if o.target == targetQueue {
			key, into = outputQueue, &o.queueURL
		}
		if *into == "" {
			if *into = outputs[key]; *into == "" {
				return nil, "", fmt.Errorf("stack %q at %s has no output %s (outputs: %s)", o.stack, where, key, strings.Join(sortedKeys(outputs), ", "))
			}
		}
		if o.stream == "" {
			o.stream = outputs[outputStream]
		}
	}
	if o.target == targetQueue {
		client := sqs.NewFromConfig(cfg)
		if _, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(o.queueURL)}, sqsOnce); err != nil {
			return nil, "", callError(err, fmt.Sprintf("queue %s", o.queueURL), where)
		}
		set, err := contracts.Load(contractsDir())
		if err != nil {
			return nil, "", fmt.Errorf("the queue target builds the transformer's messages and needs its schemas: %w", err)
		}
		// The records stand for what came through the stream: the transformer names it as source.
		source := o.stream
		if source == "" {
			source = "generator"
		}
		return generate.NewQueue(client, o.queueURL, record.NewParser(set), source), o.queueURL, nil
	}
	client := firehose.NewFromConfig(cfg)
	if _, err := client.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(o.stream)}, firehoseOnce); err != nil {
		return nil, "", callError(err, fmt.Sprintf("delivery stream %q", o.stream), where)
	}
	return generate.NewFirehose(client, o.stream), o.stream, nil
}

// contractsDir is where the schemas are: CONTRACTS_DIR, else the repository's contracts layer
// (the generator runs from the repository root, as make does).
func contractsDir() string {
	if d := os.Getenv("CONTRACTS_DIR"); d != "" {
		return d
	}
	return "layers/contracts"
}

type stackDescriber interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

var _ stackDescriber = (*cloudformation.Client)(nil)

// stackOutputs returns the stack's Outputs by key.
func stackOutputs(ctx context.Context, client stackDescriber, stack, where string) (map[string]string, error) {
	out, err := client.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)}, func(o *cloudformation.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError" && strings.Contains(apiErr.ErrorMessage(), "does not exist") {
			return nil, fmt.Errorf("stack %q not found at %s (deploy it, or start the local runner and pass --endpoint)", stack, where)
		}
		return nil, callError(err, fmt.Sprintf("stack %q", stack), where)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("stack %q not found at %s", stack, where)
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return outputs, nil
}

// Look-ups fail fast: a missing endpoint should not wait out the SDK's retries.
func firehoseOnce(o *firehose.Options) { o.RetryMaxAttempts = 1 }
func sqsOnce(o *sqs.Options)           { o.RetryMaxAttempts = 1 }

// callError names what was looked up and where, and says so plainly when nothing answered.
func callError(err error, what, where string) error {
	var sendErr *smithyhttp.RequestSendError
	if errors.As(err, &sendErr) {
		return fmt.Errorf("no endpoint answering at %s (is the local runner started?): %w", where, sendErr.Err)
	}
	var notFound *firehosetypes.ResourceNotFoundException
	var apiErr smithy.APIError
	if errors.As(err, &notFound) || (errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorCode(), "NonExistentQueue")) {
		return fmt.Errorf("%s not found at %s", what, where)
	}
	return fmt.Errorf("%s at %s: %w", what, where, err)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// summary is what a run did, as printed and as --json writes it.
type summary struct {
	Target      string `json:"target"`
	Destination string `json:"destination"`
	Seed        uint64 `json:"seed"`
	Start       string `json:"start"`
	Requested   int    `json:"requested"`
	generate.Stats
	ElapsedSeconds   float64 `json:"elapsedSeconds"`
	RecordsPerSecond float64 `json:"recordsPerSecond"`
	Error            string  `json:"error,omitempty"`
}

func (s summary) print(w io.Writer) {
	fmt.Fprintf(w, "sent %d of %d records to %s %s in %d calls, %.1fs (%.0f records/s)\n",
		s.Sent, s.Requested, s.Target, s.Destination, s.Calls, s.ElapsedSeconds, s.RecordsPerSecond)
	fmt.Fprintf(w, "  refused then resent: %d   unsent: %d\n", s.Resent, s.Unsent)
	types := make([]string, 0, len(s.ByType))
	for t, n := range s.ByType {
		types = append(types, fmt.Sprintf("%s %d", t, n))
	}
	slices.Sort(types)
	fmt.Fprintf(w, "  valid by type: %s\n", strings.Join(types, ", "))
	fmt.Fprintf(w, "  invalid: %d   duplicates: %d   replay: --seed %d --start %s\n", s.Invalid, s.Duplicates, s.Seed, s.Start)
}

// isTerminal reports whether w is a terminal (a character device), where a progress bar that
// redraws its line makes sense; a file or a pipe gets the summary only.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar redraws one line with the share of records sent, at most ten times a second.
type progressBar struct {
	w     io.Writer
	total int
	on    bool
	start time.Time
	drawn time.Time
}

const barWidth = 30

func (p *progressBar) update(s generate.Stats) {
	if !p.on || p.total == 0 {
		return
	}
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	if now.Sub(p.drawn) < 100*time.Millisecond && s.Sent < p.total {
		return
	}
	p.drawn = now
	done := min(s.Sent, p.total)
	filled := barWidth * done / p.total
	rate := 0.0
	if el := now.Sub(p.start).Seconds(); el > 0 {
		rate = float64(s.Sent) / el
	}
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d records  %.0f/s  resent %d",
		strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled), 100*done/p.total, done, p.total, rate, s.Resent)
}

// finish clears the bar's line so the summary starts on a clean one.
func (p *progressBar) finish() {
	if p.on && !p.drawn.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
