// Command s2e operates a deployed stream-to-events stack, or the local runner's edge: it
// replays what failed once its fault is mended. Against AWS it finds the stack's resources
// from its CloudFormation Outputs; with --endpoint it talks to a running s2e-local start.
// docs/operations.md says when to use each command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `s2e operates stream-to-events on AWS or against a local edge.

Usage:
  s2e redrive  [flags]   replay the dead-letter queues once the fault is mended
  s2e replay   --type T  re-emit stored records' DataInserted events from the event store
  s2e status   [flags]   every alarm as OK or ALARM, with its runbook line

Run "s2e <command> -h" for a command's flags. Against AWS it reads the stack's Outputs
(--stack-name, default stream-to-events); against a running s2e-local start give
--endpoint http://127.0.0.1:4566.`

// commands are s2e's sub-commands by name; each lives in its own file.
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"redrive": cmdRedrive,
	"replay":  cmdReplay,
	"status":  cmdStatus,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "s2e: unknown command %q\n\n%s\n", args[0], usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch err := cmd(ctx, args[1:], stdout, stderr); {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "s2e:", err)
		return 1
	}
}

// errUsage marks a usage error already explained to the user.
var errUsage = errors.New("usage")

// parse parses a command's flags; the flag package has already told the user what is wrong.
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return errUsage
	}
	return err
}
