package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	localcw "github.com/stream-to-events/stream-to-events/local/cloudwatch"
)

// alarmsFake answers DescribeAlarms from a list, two alarms a page, as CloudWatch pages.
type alarmsFake struct {
	alarms []cwtypes.MetricAlarm
	calls  int
}

func (f *alarmsFake) DescribeAlarms(_ context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	f.calls++
	var match []cwtypes.MetricAlarm
	for _, a := range f.alarms {
		if strings.HasPrefix(aws.ToString(a.AlarmName), aws.ToString(in.AlarmNamePrefix)) {
			match = append(match, a)
		}
	}
	start, _ := strconv.Atoi(aws.ToString(in.NextToken))
	out := &cloudwatch.DescribeAlarmsOutput{MetricAlarms: match[start:min(start+2, len(match))]}
	if start+2 < len(match) {
		out.NextToken = aws.String(strconv.Itoa(start + 2))
	}
	return out, nil
}

// TestStatusOnAWS reads every page of the stack's alarms and only the stack's.
func TestStatusOnAWS(t *testing.T) {
	alarm := func(name string, state cwtypes.StateValue) cwtypes.MetricAlarm {
		return cwtypes.MetricAlarm{AlarmName: aws.String(name), StateValue: state, StateReason: aws.String("reason of " + name),
			AlarmDescription: aws.String("Means. Runbook: docs/operations.md#" + strings.ToLower(strings.TrimPrefix(name, "demo-")))}
	}
	f := &alarmsFake{alarms: []cwtypes.MetricAlarm{
		alarm("demo-IngestDLQDepth", cwtypes.StateValueAlarm), alarm("other-IngestDLQDepth", cwtypes.StateValueAlarm),
		alarm("demo-EmitterDLQDepth", cwtypes.StateValueOk), alarm("demo-EmitterIteratorAge", cwtypes.StateValueOk),
		alarm("demo-StoreRecordsFailed", cwtypes.StateValueInsufficientData),
	}}
	states, err := awsAlarms(t.Context(), f, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 4 || f.calls != 2 {
		t.Fatalf("%d alarms in %d calls, want the stack's 4 in 2 pages: %+v", len(states), f.calls, states)
	}
	var out bytes.Buffer
	localcw.WriteTable(&out, states)
	for _, want := range []string{"IngestDLQDepth  ", "reason of demo-IngestDLQDepth", "docs/operations.md#storerecordsfailed", "4 alarms: 2 OK, 1 ALARM, 1 INSUFFICIENT_DATA"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := awsAlarms(t.Context(), f, "no-such-stack"); err == nil || !strings.Contains(err.Error(), "no-such-stack") {
		t.Errorf("a stack without alarms: %v, want an error naming it", err)
	}
}

// TestStatusLocal reads the alarms the local edge evaluated.
func TestStatusLocal(t *testing.T) {
	states := []localcw.Status{
		{Alarm: localcw.Alarm{LogicalID: "IngestDLQDepth", Description: "x. Runbook: docs/operations.md#ingestdlqdepth"}, State: localcw.StateAlarm, Reason: "Maximum ApproximateNumberOfMessagesVisible = 3, > 0"},
		{Alarm: localcw.Alarm{LogicalID: "StoreRecordsFailed", Description: "y. Runbook: docs/operations.md#storerecordsfailed"}, State: localcw.StateOK, Reason: "no datapoints (treated as not breaching)"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_local/alarms" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"alarms": states})
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if err := cmdStatus(t.Context(), []string{"--endpoint", srv.URL}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	// --check fails while an alarm is in ALARM, for scripts.
	if err := cmdStatus(t.Context(), []string{"--endpoint", srv.URL, "--check"}, io.Discard, &stderr); !errors.Is(err, errAlarm) {
		t.Errorf("--check with an alarm in ALARM: %v, want errAlarm", err)
	}
	states[0].State = localcw.StateOK
	if err := cmdStatus(t.Context(), []string{"--endpoint", srv.URL, "--check"}, io.Discard, &stderr); err != nil {
		t.Errorf("--check with every alarm OK: %v", err)
	}
	for _, want := range []string{"IngestDLQDepth", "= 3, > 0", "docs/operations.md#storerecordsfailed", "2 alarms: 1 OK, 1 ALARM"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, stdout.String())
		}
	}
	srv.Close()
	if err := cmdStatus(t.Context(), []string{"--endpoint", srv.URL}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "s2e-local start") {
		t.Errorf("no edge: %v, want an error saying to start one", err)
	}
}
