package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
	"github.com/stream-to-events/stream-to-events/local/runner"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

func cmdInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("invoke", `s2e-local invoke <LogicalId> [-e events/<file>.json]: one invocation of the function's real
bootstrap, like sam local invoke. The response goes to stdout, the logs to stderr; the exit code
is 1 when the function answers with an error.
Without --endpoint it starts its own moto_server with the stack provisioned and empty; with
--endpoint http://127.0.0.1:4566 it runs against a running "s2e-local start".`, stderr)
	event := fs.String("e", "", `the event: a JSON file, or "-" for stdin (default {})`)
	fs.StringVar(event, "event", "", "same as -e")
	// Accept the logical ID before the flags too, as sam local invoke does.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" || fs.NArg() > 1 {
		fs.Usage()
		return cli.ErrUsage
	}
	tmpl, err := samtemplate.Load(c.template)
	if err != nil {
		return fmt.Errorf("read template: %w (run from the repository root, or pass --template)", err)
	}
	if fns := tmpl.OfType("AWS::Serverless::Function"); !slices.Contains(fns, id) {
		return fmt.Errorf("no function %q in %s; the functions are: %s", id, c.template, strings.Join(fns, ", "))
	}
	payload := []byte("{}")
	switch *event {
	case "":
	case "-":
		if payload, err = io.ReadAll(os.Stdin); err != nil {
			return fmt.Errorf("read the event from stdin: %w", err)
		}
	default:
		if payload, err = os.ReadFile(*event); err != nil {
			return fmt.Errorf("event: %w", err)
		}
	}
	opts, err := c.options(stderr)
	if err != nil {
		return err
	}
	defer c.close()
	opts.Functions = []string{id}
	opts.NoEdge = opts.Endpoint != ""
	r, err := runner.Start(ctx, opts)
	if err != nil {
		return err
	}
	res, invokeErr := r.Lambda.Invoke(ctx, id, spec.Invocation{Payload: payload})
	// Stop first: it waits until the function's log lines are written, so the response comes last.
	if err := stopRunner(r, io.Discard); err != nil && invokeErr == nil {
		invokeErr = err
	}
	if invokeErr != nil {
		return fmt.Errorf("invoke %s: %w", id, invokeErr)
	}
	fmt.Fprintln(stdout, strings.TrimSpace(string(res.Payload)))
	if res.Error != "" {
		return fmt.Errorf("%w: %s", errFunction, res.Error)
	}
	return nil
}
