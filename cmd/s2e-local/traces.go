package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/xray"

	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

// traceReader is the part of the X-Ray API that traces reads.
type traceReader interface {
	GetTraceSummaries(context.Context, *xray.GetTraceSummariesInput, ...func(*xray.Options)) (*xray.GetTraceSummariesOutput, error)
	BatchGetTraces(context.Context, *xray.BatchGetTracesInput, ...func(*xray.Options)) (*xray.BatchGetTracesOutput, error)
}

var _ traceReader = (*xray.Client)(nil)

func cmdTraces(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("traces", `s2e-local traces: the newest traces of a running "s2e-local start" as trees (function,
subsegments, durations, errors), read through the X-Ray API of its endpoint.`, stderr)
	endpoint := fs.String("url", "http://127.0.0.1:4566", "the running stack's AWS endpoint")
	n := fs.Int("n", 5, "how many traces")
	since := fs.Duration("since", 15*time.Minute, "look back this far")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	// --endpoint is the common flag's name for the same thing: prefer it when given.
	if e := fs.Lookup("endpoint").Value.String(); e != "" {
		*endpoint = e
	}
	client := xray.NewFromConfig(spec.RunnerConfig(strings.TrimRight(*endpoint, "/")))
	traces, err := readTraces(ctx, client, time.Now().Add(-*since), *n)
	if err != nil {
		return fmt.Errorf("read traces from %s: %w (is s2e-local start running?)", *endpoint, err)
	}
	if len(traces) == 0 {
		fmt.Fprintf(stderr, "no traces in the last %s at %s\n", *since, *endpoint)
		return nil
	}
	return xraylocal.PrintTraces(stdout, traces)
}

// readTraces fetches the newest n traces since start and assembles them as trees.
func readTraces(ctx context.Context, c traceReader, start time.Time, n int) ([]xraylocal.Trace, error) {
	type summary struct {
		id   string
		when time.Time
	}
	var sums []summary
	in := &xray.GetTraceSummariesInput{StartTime: aws.Time(start), EndTime: aws.Time(time.Now().Add(time.Minute))}
	for {
		out, err := c.GetTraceSummaries(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, s := range out.TraceSummaries {
			sum := summary{id: aws.ToString(s.Id)}
			if s.StartTime != nil {
				sum.when = *s.StartTime
			}
			sums = append(sums, sum)
		}
		if out.NextToken == nil || len(out.TraceSummaries) == 0 {
			break
		}
		in.NextToken = out.NextToken
	}
	slices.SortFunc(sums, func(a, b summary) int { return b.when.Compare(a.when) })
	var ids []string
	for _, s := range sums {
		if !slices.Contains(ids, s.id) {
			ids = append(ids, s.id)
		}
	}
	if n > 0 && len(ids) > n {
		ids = ids[:n]
	}
	// The daemon's store assembles documents into trees; nothing is listened on or forwarded.
	store := xraylocal.NewDaemon("", "")
	for chunk := range slices.Chunk(ids, 5) {
		out, err := c.BatchGetTraces(ctx, &xray.BatchGetTracesInput{TraceIds: chunk})
		if err != nil {
			return nil, err
		}
		for _, t := range out.Traces {
			for _, s := range t.Segments {
				store.Add([]byte(aws.ToString(s.Document)))
			}
		}
	}
	return store.Traces(n), nil
}
