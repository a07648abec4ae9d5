// Package metrics writes CloudWatch Embedded Metric Format lines: one JSON log line per
// invocation that CloudWatch turns into the records in, out and failed of a hop, with no API call.
package metrics

import (
	"encoding/json"
	"io"
	"time"
)

// Namespace is the CloudWatch namespace of the pipeline's metrics.
const Namespace = "StreamToEvents"

// The hops' names: the Hop dimension of their metrics (the template's dashboard plots them) and
// the name of their trace segments.
const (
	HopTransform = "transform"
	HopStore     = "store"
	HopEmit      = "emit"
	HopRespond   = "respond"
	HopArchive   = "archive-changes"
	HopAPI       = "api"
)

// Counts are the records a hop saw in one invocation.
type Counts struct {
	In, Out, Failed int
	// The store's: records stored already (nothing written, counted in Out too) and records
	// that conflict with a stored one (neither in Out nor in Failed). Written only when not 0.
	Unchanged, Conflicts int
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type envelope struct {
	AWS struct {
		Timestamp         int64       `json:"Timestamp"`
		CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
	} `json:"_aws"`
	Hop    string `json:"Hop"`
	In     int    `json:"RecordsIn"`
	Out    int    `json:"RecordsOut"`
	Failed int    `json:"RecordsFailed"`
	// The store's counts, defined as metrics only in the lines that have them.
	Unchanged int `json:"RecordsUnchanged,omitempty"`
	Conflicts int `json:"RecordsConflicted,omitempty"`
}

var defs = []directive{{
	Namespace:  Namespace,
	Dimensions: [][]string{{"Hop"}},
	Metrics: []metricDef{
		{Name: "RecordsIn", Unit: "Count"},
		{Name: "RecordsOut", Unit: "Count"},
		{Name: "RecordsFailed", Unit: "Count"},
	},
}}

// Emit writes the counts of hop as one EMF line to w (the function's stdout).
func Emit(w io.Writer, hop string, c Counts) error {
	var e envelope
	e.AWS.Timestamp = time.Now().UnixMilli()
	e.AWS.CloudWatchMetrics = defs
	if c.Unchanged > 0 || c.Conflicts > 0 {
		d := defs[0]
		d.Metrics = d.Metrics[:len(d.Metrics):len(d.Metrics)]
		if c.Unchanged > 0 {
			d.Metrics = append(d.Metrics, metricDef{Name: "RecordsUnchanged", Unit: "Count"})
		}
		if c.Conflicts > 0 {
			d.Metrics = append(d.Metrics, metricDef{Name: "RecordsConflicted", Unit: "Count"})
		}
		e.AWS.CloudWatchMetrics = []directive{d}
	}
	e.Hop, e.In, e.Out, e.Failed = hop, c.In, c.Out, c.Failed
	e.Unchanged, e.Conflicts = c.Unchanged, c.Conflicts
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
