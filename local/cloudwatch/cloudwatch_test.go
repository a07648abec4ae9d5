package cloudwatch

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/metrics"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/stack"
)

// clock is a settable now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func failedAlarm(missing string) Alarm {
	return Alarm{LogicalID: "StoreRecordsFailed", Namespace: metrics.Namespace, Metric: "RecordsFailed",
		Dimensions: map[string]string{"Hop": "store"}, Statistic: "Sum", Period: 5 * time.Minute,
		Evaluations: 1, Comparison: "GreaterThanThreshold", Threshold: 0, TreatMissingData: missing,
		Description: "The store hop failed records. Runbook: docs/operations.md#storerecordsfailed"}
}

func TestEMFLinesBecomeMetricsAndAlarm(t *testing.T) {
	c := &clock{t: time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMetrics(c.now)
	alarm := failedAlarm("notBreaching")
	state := func() Status { return m.Evaluate(t.Context(), []Alarm{alarm}, nil)[0] }

	if s := state(); s.State != StateOK || !strings.Contains(s.Reason, "no datapoints") {
		t.Fatalf("no metrics yet: %s (%s), want OK, no datapoints", s.State, s.Reason)
	}
	// What the store hop writes: an EMF line per batch, as the functions print them.
	var line bytes.Buffer
	if err := metrics.Emit(&line, "store", metrics.Counts{In: 10, Out: 10}); err != nil {
		t.Fatal(err)
	}
	if !m.EMF(strings.TrimSpace(line.String())) {
		t.Fatalf("an EMF line was not taken: %s", line.String())
	}
	if s := state(); s.State != StateOK {
		t.Fatalf("RecordsFailed 0: %s (%s), want OK", s.State, s.Reason)
	}
	line.Reset()
	if err := metrics.Emit(&line, "store", metrics.Counts{In: 10, Out: 7, Failed: 3}); err != nil {
		t.Fatal(err)
	}
	m.EMF(strings.TrimSpace(line.String()))
	s := state()
	if s.State != StateAlarm || s.Reason != "Sum RecordsFailed = 3, > 0" {
		t.Fatalf("RecordsFailed 3: %s (%s), want ALARM, Sum RecordsFailed = 3, > 0", s.State, s.Reason)
	}
	// Another hop's failures are another metric.
	line.Reset()
	_ = metrics.Emit(&line, "emit", metrics.Counts{In: 1, Failed: 1})
	m.EMF(strings.TrimSpace(line.String()))
	if got := m.between(failedAlarm("").withDims(map[string]string{"Hop": "emit"}), c.t.Add(-time.Minute), c.t); len(got) != 1 {
		t.Fatalf("emit hop datapoints: %v", got)
	}
	// Once the failure is older than the alarm's period, the alarm clears, as on AWS.
	c.t = c.t.Add(5*time.Minute + time.Second)
	if s := state(); s.State != StateOK {
		t.Fatalf("five minutes later: %s (%s), want OK", s.State, s.Reason)
	}
	if m.EMF(`{"level":"INFO","msg":"not a metric"}`) || m.EMF("START RequestId: 1") {
		t.Error("a log line that is not EMF was taken as one")
	}
}

func (a Alarm) withDims(d map[string]string) Alarm { a.Dimensions = d; return a }

func TestMissingDataAndPeriods(t *testing.T) {
	c := &clock{t: time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)}
	m := NewMetrics(c.now)
	for _, tt := range []struct{ missing, want string }{
		{"notBreaching", StateOK}, {"breaching", StateAlarm}, {"missing", StateInsufficientData}, {"ignore", StateInsufficientData},
	} {
		if s := m.Evaluate(t.Context(), []Alarm{failedAlarm(tt.missing)}, nil)[0]; s.State != tt.want {
			t.Errorf("TreatMissingData %s without data: %s, want %s", tt.missing, s.State, tt.want)
		}
	}
	// Two periods: ALARM only when both breach.
	a := failedAlarm("notBreaching")
	a.Evaluations = 2
	m.Put(a.Namespace, a.Metric, a.Dimensions, 1)
	if s := m.Evaluate(t.Context(), []Alarm{a}, nil)[0]; s.State != StateOK {
		t.Errorf("one of two periods breaching: %s, want OK", s.State)
	}
	c.t = c.t.Add(5 * time.Minute)
	m.Put(a.Namespace, a.Metric, a.Dimensions, 2)
	if s := m.Evaluate(t.Context(), []Alarm{a}, nil)[0]; s.State != StateAlarm {
		t.Errorf("both periods breaching: %s (%s), want ALARM", s.State, s.Reason)
	}
}

type depths map[string]float64

func (d depths) QueueDepth(_ context.Context, name string) (float64, error) {
	v, ok := d[name]
	if !ok {
		return 0, errors.New("no such queue")
	}
	return v, nil
}

func TestQueueDepthIsReadLive(t *testing.T) {
	m := NewMetrics(nil)
	a := Alarm{LogicalID: "IngestDLQDepth", Namespace: "AWS/SQS", Metric: "ApproximateNumberOfMessagesVisible",
		Dimensions: map[string]string{"QueueName": "dlq.fifo"}, Statistic: "Maximum", Period: 5 * time.Minute,
		Evaluations: 1, Comparison: "GreaterThanThreshold", TreatMissingData: "notBreaching"}
	for _, tt := range []struct {
		d    depths
		want string
	}{
		{depths{"dlq.fifo": 0}, StateOK}, {depths{"dlq.fifo": 4}, StateAlarm}, {depths{}, StateInsufficientData},
	} {
		if s := m.Evaluate(t.Context(), []Alarm{a}, tt.d)[0]; s.State != tt.want {
			t.Errorf("depth %v: %s (%s), want %s", tt.d, s.State, s.Reason, tt.want)
		}
	}
}

// TestTemplateAlarmsResolve reads the alarms of template.yaml as the local stack names its
// resources: every one resolves and is evaluated locally.
func TestTemplateAlarmsResolve(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.New(tmpl, stack.Options{BuildDir: t.TempDir(), Endpoint: "http://127.0.0.1:1", APIURL: "http://127.0.0.1:3000"})
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]map[string]any{}
	for _, id := range tmpl.OfType("AWS::CloudWatch::Alarm") {
		props[id] = tmpl.Resources[id].Properties
	}
	alarms, err := AlarmsOf(props, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms) != len(props) || len(alarms) == 0 {
		t.Fatalf("%d alarms read, the template has %d", len(alarms), len(props))
	}
	for _, a := range alarms {
		if a.Unresolved != "" {
			t.Errorf("%s: %s", a.LogicalID, a.Unresolved)
		}
		if Runbook(a.Description) == "" {
			t.Errorf("%s: no runbook in its description %q", a.LogicalID, a.Description)
		}
		if a.Name == "" || a.Period <= 0 || len(a.Dimensions) == 0 && a.Unresolved == "" {
			t.Errorf("%s: not fully read: %+v", a.LogicalID, a)
		}
	}
	var table bytes.Buffer
	WriteTable(&table, NewMetrics(nil).Evaluate(t.Context(), alarms, depths{}))
	if !strings.Contains(table.String(), "IngestDLQDepth") || !strings.Contains(table.String(), "docs/operations.md#ingestdlqdepth") {
		t.Errorf("status table lacks an alarm or its runbook:\n%s", table.String())
	}
}
