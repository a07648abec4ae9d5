// Command s2e operates a deployed stream-to-events stack, or the local runner's edge: it
// replays what failed once its fault is mended. Against AWS it finds the stack's resources
// from its CloudFormation Outputs; with --endpoint it talks to a running s2e-local start.
// docs/operations.md says when to use each command.
package main

import (
	"io"
	"os"

	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
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
var commands = map[string]cli.Command{
	"redrive": cmdRedrive,
	"replay":  cmdReplay,
	"status":  cmdStatus,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return cli.Exit("s2e", cli.Dispatch("s2e", usage, commands, args, stdout, stderr), stderr)
}
