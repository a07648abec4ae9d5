package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/cmd/s2e/redrive"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

func TestRedriveFlags(t *testing.T) {
	refusesUsage(t, cmdRedrive, []usageCase{
		{"unknown DLQ", []string{"--only", "ingest,bogus"}, `"bogus" is not one of lake, changes, ingest, conflicts, emitter, responder`},
		{"stray argument", []string{"now"}, "Flags:"},
	})
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
	rep := redrive.Report{
		Ingest:       redrive.Counts{Messages: 3, Redriven: 3, Records: 3},
		Lake:         redrive.Counts{Messages: 2, Redriven: 1, Failed: 1},
		Emitter:      redrive.Counts{Messages: 1, Redriven: 0, Failed: 1},
		Unreplayable: []string{"EmitterDLQ message m1: trimmed"},
	}
	printRedrive(&b, rep)
	if n := rep.Failed(); n != 2 {
		t.Errorf("Failed() = %d, want the lake's 1 and EmitterDLQ's 1", n)
	}
	out := b.String()
	for _, want := range []string{"IngestDLQ               3         3         3       0", "errors/ objects         2         1         0       1", "EmitterDLQ              1         0         0       1", "not replayable: EmitterDLQ message m1: trimmed"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
