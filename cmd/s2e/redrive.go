package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
	"github.com/stream-to-events/stream-to-events/cmd/s2e/redrive"
	"github.com/stream-to-events/stream-to-events/internal/awsclient"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// redriveAccessKey signs redrive's calls to a local endpoint, so that the edge counts them as
// the redrive's own.
const redriveAccessKey = "redrive"

func cmdRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	synopsis := `s2e redrive: replay what failed once its fault is mended.
  errors/processing-failed/ → the ingest delivery stream: the records of processor
                  invocations that failed as a whole (not those the transformer refused as
                  bad input, which stay)
  errors/changes/processing-failed/ → changes/: the change archive's stream reads Kinesis
                  and takes no puts, so the change lines of its failed batches are made here,
                  as its processor makes them, and written in the day of their arrival
  IngestDLQ     → IngestQueue (same MessageGroupId; a fresh MessageDeduplicationId, since the
                  queue drops a deduplication id it saw in the last five minutes and the
                  storer is idempotent)
  ConflictQueue → IngestQueue, only when asked (--only conflicts): records that conflicted
                  with a stored one, once the operator deleted the stored item
  ResponderDLQ  → the event bus (events the responder gave back too often, and the rule's
                  failed deliveries)
  EmitterDLQ    → the bus: the stream range each OnFailure record names is read again and
                  every inserted item is read from the store and emitted
A message is deleted from its DLQ only after its replay succeeded. Against the local runner
give --endpoint (its edge answers DescribeStacks); against AWS leave it out.`
	fs := cli.NewFlagSet("redrive", synopsis, stderr)
	endpoint := fs.String("endpoint", "", "AWS endpoint URL, e.g. a running s2e-local start's http://127.0.0.1:4566 (default: AWS_ENDPOINT_URL, else AWS)")
	stack := fs.String("stack-name", spec.StackName, "the CloudFormation stack whose Outputs name the queues, the bus and the table")
	var names, byRequest []string
	for _, p := range redrive.Parts {
		names = append(names, p.Name)
		if !p.Default {
			byRequest = append(byRequest, p.Name)
		}
	}
	only := fs.String("only", "", fmt.Sprintf("redrive only these, comma-separated: %s (%s: never part of the default)",
		strings.Join(names, ", "), strings.Join(byRequest, ", ")))
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	var want map[string]bool // nil: every default part
	if *only != "" {
		want = map[string]bool{}
		for _, q := range strings.Split(*only, ",") {
			q = strings.TrimSpace(q)
			if !slices.Contains(names, q) {
				fmt.Fprintf(stderr, "--only: %q is not one of %s\n", q, strings.Join(names, ", "))
				return cli.ErrUsage
			}
			want[q] = true
		}
	}

	r, err := stackRedriver(ctx, *endpoint, *stack, stderr)
	if err != nil {
		return err
	}
	rep, err := r.Run(ctx, want)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printRedrive(stdout, rep)
	}
	if err != nil {
		return err
	}
	if n := rep.Failed(); n > 0 {
		return fmt.Errorf("redrive: %d DLQ messages could not be replayed and stay in their DLQ", n)
	}
	return nil
}

func printRedrive(w io.Writer, rep redrive.Report) {
	fmt.Fprintf(w, "%-15s %9s %9s %9s %7s\n", "from", "messages", "redriven", "records", "failed")
	for _, p := range redrive.Parts {
		c := p.Counts(&rep)
		fmt.Fprintf(w, "%-15s %9d %9d %9d %7d\n", p.Label, c.Messages, c.Redriven, c.Records, c.Failed)
	}
	for _, u := range rep.Unreplayable {
		fmt.Fprintln(w, "not replayable:", u)
	}
}

// stackRedriver is a Redriver of the stack's resources, named by its Outputs, on AWS or at
// endpoint; its warnings go to stderr as JSON.
func stackRedriver(ctx context.Context, endpoint, stack string, stderr io.Writer) (*redrive.Redriver, error) {
	cfg, err := stackConfig(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	names, err := redrive.NamesFromStack(ctx, cloudformation.NewFromConfig(cfg), stack)
	if err != nil {
		return nil, err
	}
	return &redrive.Redriver{
		Names:   names,
		Clients: redrive.NewClients(cfg),
		Logger:  slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, nil
}

// stackConfig is the SDK config for endpoint (a local one signs with redriveAccessKey when no
// credentials are configured), or for AWS.
func stackConfig(ctx context.Context, endpoint string) (aws.Config, error) {
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	var lo []func(*config.LoadOptions) error
	if endpoint != "" {
		lo = append(lo, config.WithBaseEndpoint(strings.TrimRight(endpoint, "/")))
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			lo = append(lo, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(redriveAccessKey, "local", "")))
		}
	}
	cfg, err := awsclient.Config(ctx, lo...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS config: %w", err)
	}
	if cfg.Region == "" {
		if endpoint == "" {
			return aws.Config{}, fmt.Errorf("no AWS region: set AWS_REGION or a profile's region")
		}
		cfg.Region = spec.Region
	}
	// A redrive of a large DLQ must not die of one slow answer.
	cfg.RetryMaxAttempts = max(cfg.RetryMaxAttempts, 5)
	return cfg, nil
}
