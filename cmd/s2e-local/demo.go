package main

import (
	"context"
	"errors"
	"io"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("demo", "s2e-local demo: start, send generated records, wait until they have crossed every hop, print a summary, stop.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	// TODO(demo): start runner.All, send with internal/generate to the IngestDeliveryStream
	// output, wait for Expect() to hold hop by hop, print the summary (edge.Calls, firehose
	// and esm Counts, DLQ depths, one trace tree), stop.
	return errors.New("demo: not built yet; run `s2e-local start` and `go run ./cmd/generator` meanwhile")
}
