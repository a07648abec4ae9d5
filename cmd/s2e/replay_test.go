package main

import "testing"

func TestReplayFlags(t *testing.T) {
	refusesUsage(t, cmdReplay, []usageCase{
		{"no type", []string{"--key", "k1"}, "--type is required"},
		{"bad time", []string{"--type", "order", "--from", "yesterday"}, `--from "yesterday" is not an RFC 3339 time`},
		{"stray argument", []string{"--type", "order", "now"}, "unexpected arguments"},
	})
}
