// Package cloudwatch stands in for CloudWatch in the local flow: it keeps the metrics the local
// stand-ins and the functions write (Lambda's invocations, errors and iterator age, Firehose's
// processing and delivery, the API's 5XX answers, the functions' EMF lines) and evaluates the
// template's AWS::CloudWatch::Alarm resources against them, as CloudWatch would on AWS. Metrics
// CloudWatch computes from a service's own state (an SQS queue's depth) are read live.
package cloudwatch

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Metrics holds the datapoints of the last hour, by metric. The zero value is not usable; a nil
// *Metrics drops every Put, so a stand-in may be run without one.
type Metrics struct {
	mu     sync.Mutex
	points map[string][]point
	now    func() time.Time
}

type point struct {
	at    time.Time
	value float64
}

// retention is how long a datapoint is kept: longer than any alarm's window in the template.
const retention = time.Hour

// NewMetrics returns an empty store. now is the clock; nil means time.Now.
func NewMetrics(now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	return &Metrics{points: map[string][]point{}, now: now}
}

// metricKey names a metric as CloudWatch does: namespace, name and the full set of dimensions.
func metricKey(namespace, name string, dims map[string]string) string {
	var b strings.Builder
	b.WriteString(namespace + "|" + name)
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		b.WriteString("|" + k + "=" + dims[k])
	}
	return b.String()
}

// Put records one datapoint at the store's clock.
func (m *Metrics) Put(namespace, name string, dims map[string]string, value float64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	k := metricKey(namespace, name, dims)
	ps := m.points[k]
	// Drop what no alarm window reaches any more, so a long run does not grow without bound.
	cut := 0
	for cut < len(ps) && now.Sub(ps[cut].at) > retention {
		cut++
	}
	m.points[k] = append(ps[cut:], point{at: now, value: value})
}

// EMF records the metrics of one log line written in CloudWatch's embedded metric format, as
// CloudWatch Logs extracts them on AWS: each directive's metrics, once per dimension set, with
// the dimensions' values read from the line's top level. A line that is not EMF is ignored; it
// reports whether the line was one.
func (m *Metrics) EMF(line string) bool {
	if m == nil || !strings.HasPrefix(line, "{") || !strings.Contains(line, `"_aws"`) {
		return false
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal([]byte(line), &doc) != nil {
		return false
	}
	var meta struct {
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name string }
		}
	}
	if json.Unmarshal(doc["_aws"], &meta) != nil || len(meta.CloudWatchMetrics) == 0 {
		return false
	}
	str := func(k string) (string, bool) {
		var s string
		return s, json.Unmarshal(doc[k], &s) == nil
	}
	for _, d := range meta.CloudWatchMetrics {
		sets := d.Dimensions
		if len(sets) == 0 {
			sets = [][]string{nil}
		}
		for _, set := range sets {
			dims := map[string]string{}
			for _, k := range set {
				if v, ok := str(k); ok {
					dims[k] = v
				}
			}
			for _, mt := range d.Metrics {
				var v float64
				if json.Unmarshal(doc[mt.Name], &v) == nil {
					m.Put(d.Namespace, mt.Name, dims, v)
				}
			}
		}
	}
	return true
}
