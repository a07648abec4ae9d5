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
	e.Hop, e.In, e.Out, e.Failed = hop, c.In, c.Out, c.Failed
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
