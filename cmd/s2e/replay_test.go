package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestReplayFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no type", []string{"--key", "k1"}, "--type is required"},
		{"bad time", []string{"--type", "order", "--from", "yesterday"}, `--from "yesterday" is not an RFC 3339 time`},
		{"stray argument", []string{"--type", "order", "now"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := cmdReplay(t.Context(), tt.args, &stdout, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("error %v, stderr %q; want a usage error saying %q", err, stderr.String(), tt.want)
			}
		})
	}
}
