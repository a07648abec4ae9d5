package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/cmd/internal/cli"
)

// usageCase is a command line a command must refuse as wrong usage, and what its stderr must
// say about it.
type usageCase struct {
	name string
	args []string
	want string // in stderr
}

// refusesUsage runs cmd with each case's arguments: each must be a usage error, explained on
// stderr.
func refusesUsage(t *testing.T, cmd cli.Command, cases []usageCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := cmd(t.Context(), tt.args, &stdout, &stderr)
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("error %v, stderr %q; want a usage error saying %q", err, stderr.String(), tt.want)
			}
		})
	}
}
