package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestDispatchExitCodes: what a user typing the tool's commands sees, and the exit code.
func TestDispatchExitCodes(t *testing.T) {
	commands := map[string]Command{
		"ok":   func(context.Context, []string, io.Writer, io.Writer) error { return nil },
		"fail": func(context.Context, []string, io.Writer, io.Writer) error { return errors.New("it broke") },
		"flags": func(_ context.Context, args []string, _, stderr io.Writer) error {
			fs := NewFlagSet("flags", "tool flags: a command with one flag.", stderr)
			fs.Bool("x", false, "a flag")
			return ParseFlagsOnly(fs, args)
		},
	}
	tests := []struct {
		args       []string
		wantCode   int
		wantStderr string
	}{
		{nil, 2, "Usage: tool"},
		{[]string{"help"}, 0, "Usage: tool"},
		{[]string{"-h"}, 0, "Usage: tool"},
		{[]string{"nope"}, 2, `tool: unknown command "nope"`},
		{[]string{"ok"}, 0, ""},
		{[]string{"fail"}, 1, "tool: it broke"},
		{[]string{"flags", "-x"}, 0, ""},
		{[]string{"flags", "-h"}, 0, "tool flags: a command with one flag.\n\nFlags:\n  -x"},
		{[]string{"flags", "-y"}, 2, "flag provided but not defined: -y"},
		{[]string{"flags", "extra"}, 2, "tool flags: a command with one flag."},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := Exit("tool", Dispatch("tool", "Usage: tool <command>", commands, tt.args, io.Discard, &stderr), &stderr)
		if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantStderr) || (tt.wantStderr == "" && stderr.Len() > 0) {
			t.Errorf("tool %q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.wantCode, tt.wantStderr)
		}
	}
}
