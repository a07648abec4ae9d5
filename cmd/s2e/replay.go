package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
	"github.com/stream-to-events/stream-to-events/cmd/s2e/redrive"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("replay", `s2e replay: re-emit the DataInserted events of stored records, from the event store itself.
For an emission that failed more than 24 hours ago (the stream no longer holds its range), or
to rebuild a consumer's state. Consumers tolerate duplicates and any order, so a replay is
always safe to run again.`, stderr)
	endpoint := fs.String("endpoint", "", "a running s2e-local start's edge, e.g. http://127.0.0.1:4566 (default: AWS)")
	stack := fs.String("stack-name", spec.StackName, "the CloudFormation stack whose Outputs name the table and the bus")
	typ := fs.String("type", "", "the record type to replay (required)")
	key := fs.String("key", "", "only this entity's records")
	from := fs.String("from", "", "only records whose time is at or after this RFC 3339 time")
	to := fs.String("to", "", "only records whose time is at or before this RFC 3339 time")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	sel := redrive.Selection{Type: *typ, Key: *key}
	var errs []error
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"--from", *from, &sel.From}, {"--to", *to, &sel.To}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not an RFC 3339 time such as 2027-01-01T00:00:00Z", t.flag, t.v))
		}
		*t.dst = v
	}
	if *typ == "" {
		errs = append(errs, errors.New("--type is required"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if len(errs) > 0 {
		fmt.Fprintln(stderr, errors.Join(errs...))
		fs.Usage()
		return cli.ErrUsage
	}
	r, err := stackRedriver(ctx, *endpoint, *stack, stderr)
	if err != nil {
		return err
	}
	c, err := r.Replay(ctx, sel)
	fmt.Fprintf(stdout, "replay: %d records read from %s, %d events put on %s\n", c.Read, r.Names.EventStoreTable, c.Emitted, r.Names.EventBusName)
	return err
}
