// Package cli gives the repository's command-line tools with sub-commands one behaviour: a
// command by name, usage on no command or help, flags that explain themselves, Ctrl-C as a
// cancelled context, and the exit codes 0 (done, or help asked for), 1 (failed) and 2 (wrong
// usage, already explained).
package cli

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

// ErrUsage marks a usage error already explained to the user: the tool exits 2.
var ErrUsage = errors.New("usage")

// Command is a sub-command: it gets the arguments after its name and the tool's output.
type Command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Dispatch runs the command args[0] names with the rest of args, under a context that Ctrl-C
// (SIGINT) or SIGTERM cancels, and returns its error. With no command, or with -h, --help or
// help, it prints usage and returns ErrUsage or flag.ErrHelp; an unknown command is a usage
// error too.
func Dispatch(tool, usage string, commands map[string]Command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, usage)
		if len(args) == 0 {
			return ErrUsage
		}
		return flag.ErrHelp
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s\n", tool, args[0], usage)
		return ErrUsage
	}
	ctx, stop := SignalContext()
	defer stop()
	return cmd(ctx, args[1:], stdout, stderr)
}

// SignalContext is the context a command runs under: Ctrl-C (SIGINT) or SIGTERM cancels it, so
// that the command stops what it does and reports, rather than dying mid-way.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Exit is the exit code of a command that returned err: 0 for none (or help), 2 for ErrUsage,
// else 1, with the error printed after the tool's name.
func Exit(tool string, err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	default:
		fmt.Fprintln(stderr, tool+":", err)
		return 1
	}
}

// NewFlagSet is a command's flag set: errors and -h go to stderr, -h as synopsis, then the
// flags.
func NewFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses a command's flags. The flag package has already told the user what is wrong, so
// a bad flag is ErrUsage; -h is flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return ErrUsage
	}
	return err
}

// ParseFlagsOnly is Parse for a command that takes flags and nothing else: an argument besides
// them prints the usage and is ErrUsage.
func ParseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return ErrUsage
	}
	return nil
}
