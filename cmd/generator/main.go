// Command generator sends sample records into the pipeline: orders, device readings, inventory
// lists and security findings in envelope form, with chosen shares of raw, invalid and duplicate
// records, to the ingest delivery stream (PutRecordBatch) or straight to the ingest queue.
//
//	generator --endpoint http://127.0.0.1:4566 --count 200 --invalid 0.05 --duplicates 0.1
//	generator --stream my-ingest-stream --count 100000 --rate 2000
//
// Names come from --stream / --queue-url, or else from the Outputs (IngestDeliveryStreamName,
// IngestQueueUrl) of the stack --stack names (default stream-to-events) through CloudFormation
// DescribeStacks, deployed or local; so against the local runner
//
//	generator --endpoint http://127.0.0.1:4566 --count 100
//
// is enough.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext()
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command, with its streams, so a test can call it as a user would.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, cli.ErrUsage) {
		return 2 // the flag package has said what is wrong
	}
	if err != nil {
		fmt.Fprintf(stderr, "generator: %v\n", err)
		return 2
	}
	if err := sendRecords(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "generator: %v\n", err)
		return 1
	}
	return 0
}

// options are the command's flags.
type options struct {
	count      int
	rate       float64
	stream     string
	queueURL   string
	stack      string
	endpoint   string
	target     string
	raw        float64
	invalid    float64
	duplicates float64
	seed       uint64
	seedSet    bool
	start      time.Time
	entities   int
	json       bool
	progress   string // auto, on, off
}

// defaultStack is the stack name of samconfig.toml and of the local runner.
const defaultStack = "stream-to-events"

const (
	targetFirehose = "firehose"
	targetQueue    = "queue"
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := cli.NewFlagSet("generator", "Usage: generator [flags]\n\nSends generated records to the ingest delivery stream or the ingest queue.", stderr)
	fs.IntVar(&o.count, "count", 100, "number of records to send, duplicates and bad records included")
	fs.Float64Var(&o.rate, "rate", 0, "records per second; 0 sends as fast as the destination takes them")
	fs.StringVar(&o.stream, "stream", "", "delivery stream name (instead of --stack)")
	fs.StringVar(&o.queueURL, "queue-url", "", "ingest queue URL for --target queue (instead of --stack)")
	fs.StringVar(&o.stack, "stack", defaultStack, "CloudFormation stack whose Outputs name the stream and the queue, when --stream / --queue-url are not given")
	fs.StringVar(&o.endpoint, "endpoint", "", "AWS endpoint URL, e.g. the local runner's http://127.0.0.1:4566 (default: AWS_ENDPOINT_URL, else AWS)")
	fs.StringVar(&o.target, "target", targetFirehose, "where records go: firehose (PutRecordBatch) or queue (SendMessageBatch of the messages the transformer would send)")
	fs.Float64Var(&o.raw, "raw", 0, "share of records sent without the envelope, 0..1")
	fs.Float64Var(&o.invalid, "invalid", 0, "share of records the transformer must refuse (not JSON, invalid UTF-8, not an object, schema violations, empty), 0..1")
	fs.Float64Var(&o.duplicates, "duplicates", 0, "share of records that resend an earlier record's bytes, 0..1")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the generated sequence (default: random, printed in the summary)")
	start := fs.String("start", "", "time of the first record, RFC 3339 (default: now); with --seed, replays a run byte for byte")
	fs.IntVar(&o.entities, "entities", 0, "entities per record type (default 20)")
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON on stdout")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar: auto (when stdout is a terminal), on, off")
	if err := cli.Parse(fs, args); err != nil {
		return o, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			o.seedSet = true
		}
	})
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	case o.count < 0:
		return o, fmt.Errorf("--count %d is negative", o.count)
	case o.rate < 0:
		return o, fmt.Errorf("--rate %v is negative", o.rate)
	case o.target != targetFirehose && o.target != targetQueue:
		return o, fmt.Errorf("--target %q: want firehose or queue", o.target)
	case o.progress != "auto" && o.progress != "on" && o.progress != "off":
		return o, fmt.Errorf("--progress %q: want auto, on or off", o.progress)
	case o.target == targetFirehose && o.stream == "" && o.stack == "":
		return o, errors.New("no destination: give --stream NAME or --stack NAME")
	case o.target == targetQueue && o.queueURL == "" && o.stack == "":
		return o, errors.New("no destination: give --queue-url URL or --stack NAME")
	case o.target == targetQueue && o.invalid > 0:
		return o, errors.New("--invalid with --target queue: the transformer refuses invalid records, so they have no queue message; send them to firehose")
	}
	if _, err := generate.New(generate.Options{Raw: o.raw, Invalid: o.invalid, Duplicates: o.duplicates, Entities: o.entities}); err != nil {
		return o, err
	}
	if !o.seedSet {
		o.seed = uint64(time.Now().UnixNano())
	}
	o.start = time.Now().UTC()
	if *start != "" {
		t, err := time.Parse(time.RFC3339Nano, *start)
		if err != nil {
			return o, fmt.Errorf("--start %q: want an RFC 3339 time such as 2026-11-23T10:00:00Z", *start)
		}
		o.start = t.UTC()
	}
	return o, nil
}
