package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/cmd/s2e/redrive"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

func TestRedriveFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown DLQ", []string{"--only", "ingest,bogus"}, `"bogus" is not lake, ingest, emitter, responder or conflicts`},
		{"stray argument", []string{"now"}, "Flags:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := cmdRedrive(t.Context(), tt.args, &stdout, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("error %v, stderr %q; want a usage error saying %q", err, stderr.String(), tt.want)
			}
		})
	}
}

// TestRedriveNoStack: against an endpoint without the stack, redrive says which stack it could
// not find instead of touching any queue.
func TestRedriveNoStack(t *testing.T) {
	moto := mototest.Start(t)
	var stdout, stderr bytes.Buffer
	err := cmdRedrive(t.Context(), []string{"--endpoint", moto.URL, "--stack-name", "no-such-stack"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no-such-stack") {
		t.Errorf("error %v, want one naming the stack", err)
	}
}

func TestPrintRedrive(t *testing.T) {
	var b bytes.Buffer
	printRedrive(&b, redrive.Report{
		Ingest:       redrive.Counts{Messages: 3, Redriven: 3, Records: 3},
		Emitter:      redrive.Counts{Messages: 1, Redriven: 0, Failed: 1},
		Unreplayable: []string{"EmitterDLQ message m1: trimmed"},
	})
	out := b.String()
	for _, want := range []string{"IngestDLQ               3         3         3       0", "EmitterDLQ              1         0         0       1", "not replayable: EmitterDLQ message m1: trimmed"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
