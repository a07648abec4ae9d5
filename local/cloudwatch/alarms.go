package cloudwatch

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CloudWatch's alarm states.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// Alarm is one AWS::CloudWatch::Alarm of the template, its properties resolved.
type Alarm struct {
	LogicalID   string
	Name        string // AlarmName
	Description string // AlarmDescription: what it means and its runbook entry
	Namespace   string
	Metric      string
	Dimensions  map[string]string
	Statistic   string // Sum, Maximum, Minimum, Average or SampleCount
	Period      time.Duration
	Evaluations int
	Comparison  string // ComparisonOperator
	Threshold   float64
	// TreatMissingData: notBreaching, breaching, ignore or missing (CloudWatch's default).
	TreatMissingData string
	// Unresolved says why a dimension could not be resolved locally; the alarm is then not
	// evaluated.
	Unresolved string
}

// Status is an alarm and the state it evaluated to.
type Status struct {
	Alarm
	State  string
	Reason string
}

// Resolver resolves a template value (Ref, Fn::GetAtt, Fn::Sub…) as the local stack created it.
type Resolver interface {
	Resolve(v any) (any, error)
}

// AlarmsOf reads the alarms among resources (logical ID → Properties of an
// AWS::CloudWatch::Alarm), resolving their names, dimensions and thresholds with r. An alarm
// that states Metrics (metric math) instead of one metric is refused: the local flow does not
// evaluate those.
func AlarmsOf(props map[string]map[string]any, r Resolver) ([]Alarm, error) {
	var out []Alarm
	for _, id := range slices.Sorted(maps.Keys(props)) {
		a, err := alarmOf(id, props[id], r)
		if err != nil {
			return nil, fmt.Errorf("alarm %s: %w", id, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func alarmOf(id string, p map[string]any, r Resolver) (Alarm, error) {
	if _, ok := p["Metrics"]; ok {
		return Alarm{}, fmt.Errorf("metric math alarms are not evaluated locally")
	}
	a := Alarm{LogicalID: id, Evaluations: 1, TreatMissingData: "missing"}
	str := func(prop string) (string, error) {
		v, err := r.Resolve(p[prop])
		if err != nil {
			return "", fmt.Errorf("%s: %w", prop, err)
		}
		return scalar(v), nil
	}
	num := func(prop string) (float64, error) {
		s, err := str(prop)
		if err != nil {
			return 0, err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", prop, s)
		}
		return f, nil
	}
	var err error
	for prop, dst := range map[string]*string{
		"AlarmName": &a.Name, "AlarmDescription": &a.Description, "Namespace": &a.Namespace,
		"MetricName": &a.Metric, "Statistic": &a.Statistic, "ComparisonOperator": &a.Comparison,
	} {
		if p[prop] == nil {
			continue
		}
		if *dst, err = str(prop); err != nil {
			return Alarm{}, err
		}
	}
	if p["TreatMissingData"] != nil {
		if a.TreatMissingData, err = str("TreatMissingData"); err != nil {
			return Alarm{}, err
		}
	}
	if a.Threshold, err = num("Threshold"); err != nil {
		return Alarm{}, err
	}
	period, err := num("Period")
	if err != nil {
		return Alarm{}, err
	}
	a.Period = time.Duration(period) * time.Second
	if p["EvaluationPeriods"] != nil {
		n, err := num("EvaluationPeriods")
		if err != nil {
			return Alarm{}, err
		}
		a.Evaluations = int(n)
	}
	if _, ok := comparisons[a.Comparison]; !ok {
		return Alarm{}, fmt.Errorf("property ComparisonOperator %q is not one the local flow evaluates", a.Comparison)
	}
	if _, ok := statistics[a.Statistic]; !ok {
		return Alarm{}, fmt.Errorf("property Statistic %q is not one the local flow evaluates", a.Statistic)
	}
	a.Dimensions = map[string]string{}
	dims, _ := p["Dimensions"].([]any)
	for _, d := range dims {
		dm, _ := d.(map[string]any)
		name, _ := dm["Name"].(string)
		v, err := r.Resolve(dm["Value"])
		if err != nil {
			// A name only CloudFormation knows (SAM's generated rule name, say): the alarm is
			// listed, not evaluated.
			a.Unresolved = fmt.Sprintf("dimension %s: %v", name, err)
			continue
		}
		a.Dimensions[name] = scalar(v)
	}
	return a, nil
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// comparisons are the operators the local flow evaluates, with the sign the status shows.
var comparisons = map[string]struct {
	sign   string
	breach func(v, t float64) bool
}{
	"GreaterThanThreshold":          {">", func(v, t float64) bool { return v > t }},
	"GreaterThanOrEqualToThreshold": {">=", func(v, t float64) bool { return v >= t }},
	"LessThanThreshold":             {"<", func(v, t float64) bool { return v < t }},
	"LessThanOrEqualToThreshold":    {"<=", func(v, t float64) bool { return v <= t }},
}

var statistics = map[string]func(vs []float64) float64{
	"Sum":         sum,
	"Maximum":     func(vs []float64) float64 { return slices.Max(vs) },
	"Minimum":     func(vs []float64) float64 { return slices.Min(vs) },
	"SampleCount": func(vs []float64) float64 { return float64(len(vs)) },
	"Average":     func(vs []float64) float64 { return sum(vs) / float64(len(vs)) },
}

func sum(vs []float64) float64 {
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s
}

// Live reads the metrics CloudWatch computes from a service's state rather than from
// datapoints a function writes.
type Live interface {
	// QueueDepth is an SQS queue's ApproximateNumberOfMessagesVisible, by queue name.
	QueueDepth(ctx context.Context, queueName string) (float64, error)
}

// Evaluate gives each alarm its state now, as CloudWatch would: the statistic of each of the
// last EvaluationPeriods periods against the threshold; ALARM when every period breaches, OK
// when one does not; a period without data counts as TreatMissingData says.
func (m *Metrics) Evaluate(ctx context.Context, alarms []Alarm, live Live) []Status {
	now := m.now()
	out := make([]Status, 0, len(alarms))
	for _, a := range alarms {
		out = append(out, m.evaluate(ctx, a, live, now))
	}
	return out
}

func (m *Metrics) evaluate(ctx context.Context, a Alarm, live Live, now time.Time) Status {
	st := Status{Alarm: a}
	if a.Unresolved != "" {
		st.State, st.Reason = StateInsufficientData, "not evaluated locally: "+a.Unresolved
		return st
	}
	periods := make([][]float64, a.Evaluations)
	if a.Namespace == "AWS/SQS" && a.Metric == "ApproximateNumberOfMessagesVisible" && live != nil {
		depth, err := live.QueueDepth(ctx, a.Dimensions["QueueName"])
		if err != nil {
			st.State, st.Reason = StateInsufficientData, "queue depth: "+err.Error()
			return st
		}
		// The depth now stands for every period: a queue that holds messages held them.
		for i := range periods {
			periods[i] = []float64{depth}
		}
	} else {
		for i := range periods {
			end := now.Add(-time.Duration(i) * a.Period)
			periods[i] = m.between(a, end.Add(-a.Period), end)
		}
	}
	breach, clear, missing := 0, 0, 0
	var last float64
	for i, vs := range periods {
		if len(vs) == 0 {
			missing++
			continue
		}
		v := statistics[a.Statistic](vs)
		if i == 0 {
			last = v
		}
		if comparisons[a.Comparison].breach(v, a.Threshold) {
			breach++
		} else {
			clear++
		}
	}
	switch a.TreatMissingData {
	case "breaching":
		breach += missing
	case "notBreaching":
		clear += missing
	}
	switch {
	case breach == a.Evaluations:
		st.State = StateAlarm
		st.Reason = fmt.Sprintf("%s %s = %s, %s %s", a.Statistic, a.Metric, number(last), comparisons[a.Comparison].sign, number(a.Threshold))
	case clear > 0:
		st.State = StateOK
		if missing == a.Evaluations {
			st.Reason = "no datapoints (treated as not breaching)"
		} else {
			st.Reason = fmt.Sprintf("%s %s = %s", a.Statistic, a.Metric, number(last))
		}
	default:
		st.State, st.Reason = StateInsufficientData, "no datapoints"
	}
	return st
}

// between returns the alarm's metric's datapoints in (from, to].
func (m *Metrics) between(a Alarm, from, to time.Time) []float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var vs []float64
	for _, p := range m.points[metricKey(a.Namespace, a.Metric, a.Dimensions)] {
		if p.at.After(from) && !p.at.After(to) {
			vs = append(vs, p.value)
		}
	}
	return vs
}

func number(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// Runbook is the runbook reference in an alarm's description ("Runbook: docs/…"), or "".
func Runbook(description string) string {
	if i := strings.Index(description, "Runbook: "); i >= 0 {
		return strings.TrimSpace(description[i+len("Runbook: "):])
	}
	return ""
}
