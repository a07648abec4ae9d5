package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// HotEntity is the hot-entity case of the local run: the records of one entity (one type and
// key, so one FIFO message group and one DynamoDB partition) sent through Firehose at rising
// rates, each record timed from its Firehose arrival to its item in the event store.
type HotEntity struct {
	Entity string        // the entity's partition key, "type#key"
	Step   time.Duration // how long each rate was sent for
	// Poll is how often the event store was read: a record is seen within one poll of its write.
	Poll time.Duration
	// BufferInterval is the local Firehose's buffering interval: the transformer is invoked at
	// least this often with what arrived.
	BufferInterval time.Duration
	BatchSize      int // the storer's BatchSize in the template
	Steps          []HotStep
	// StoreCallsPerBatch are the storer's DynamoDB calls per invocation over the case, by
	// operation, as the edge counted them.
	StoreCallsPerBatch map[string]float64
}

// HotStep is one rate of the hot-entity case.
type HotStep struct {
	Rate    float64 // records/s asked of the producer
	Sent    int
	Offered float64 // records/s that arrived at Firehose: one over the Trend of their arrival times
	Stored  int     // of Sent, the records in the event store when the case stopped waiting
	// Served is the records/s at which the event store took the step's records: one over the
	// Trend of the times each was seen. Under a backlog it is the entity's throughput.
	Served  float64
	Latency Latency // Firehose arrival to the item seen in the event store, of the stored records
	// Growth is the Trend of the records' latency against their arrival: seconds of latency
	// gained per second sent; about 0 while the flow keeps up. GrowthEarly and GrowthLate are the
	// same over the first and the second half of the step's records.
	Growth, GrowthEarly, GrowthLate float64
	// Rise is Growth over the step's arrivals: how much later than the first the last records
	// came out.
	Rise time.Duration
	// Backlog is the records sent but not yet stored when the step's sending ended; Queued is
	// how many messages IngestQueue held then (waiting for the storer, or in its batch).
	Backlog, Queued int
	// Drain is from the end of the step's sending to its last record stored.
	Drain time.Duration
	// The storer's invocations during the step, the records they were handed and their mean
	// duration; the transformer's likewise.
	Batches, BatchRecords int
	StorerMS              float64
	Transforms            int
	TransformerMS         float64
	// InvokeMS and SettleMS are the storer's batches as its event source mapping saw them, mean
	// wall ms: from handing a batch to the function to its answer, and from the answer to the
	// batch's messages deleted (or made visible again), after which the group's next batch can
	// be received.
	InvokeMS, SettleMS float64
}

// The thresholds of Growing. A flow that keeps up shows latency that jitters with the Firehose
// buffering interval but does not trend; one that does not keep up stores the entity's records at
// its ceiling c while they arrive at r, so latency grows by 1 - c/r seconds per second sent.
const (
	// DrainLimit bounds the wait, after a step's sending, for its records to reach the store. A
	// step the flow keeps up with drains within its latency, a few seconds; one it does not keep
	// up with drains its backlog at the entity's ceiling, and past this it counts as growing.
	DrainLimit = time.Minute
	// GrowthLimit is the slope from which latency counts as growing: the store took the records
	// at less than 1/1.1 of the rate they arrived at.
	GrowthLimit = 0.1
	// RiseLimit is the least rise over a step that counts, so that a short step's noise (one slow
	// call to moto_server late in the step) is not read as a trend.
	RiseLimit = time.Second
)

// Growing reports whether the step's latency grows without bound: some records never reached the
// store, or their latency rose with their arrival by at least GrowthLimit through both halves of
// the step, and by RiseLimit over it. A flow that does not keep up falls behind from the step's
// start, as the step starts with nothing waiting; one slow answer raises the latency of the
// records around it, in one half, and the flow catches up after it.
func (s HotStep) Growing() bool {
	if s.Sent == 0 {
		return false
	}
	return s.Stored < s.Sent || (s.GrowthEarly >= GrowthLimit && s.GrowthLate >= GrowthLimit && s.Rise >= RiseLimit)
}

// MeanBatch is the mean number of records per storer invocation in the step.
func (s HotStep) MeanBatch() float64 {
	if s.Batches == 0 {
		return 0
	}
	return float64(s.BatchRecords) / float64(s.Batches)
}

// Knee is the last step that kept up before the first that grew, and that first one; either is
// nil where there is none (every step grew, or none did).
func (h HotEntity) Knee() (steady, growing *HotStep) {
	for i := range h.Steps {
		if h.Steps[i].Growing() {
			return steady, &h.Steps[i]
		}
		steady = &h.Steps[i]
	}
	return steady, nil
}

// Loaded is the step whose storer figures the model is compared on: the first that grew (its
// batches full, one after another), else the highest rate sent.
func (h HotEntity) Loaded() *HotStep {
	if _, g := h.Knee(); g != nil {
		return g
	}
	if len(h.Steps) == 0 {
		return nil
	}
	return &h.Steps[len(h.Steps)-1]
}

// ModelRate is what the capacity model's per-entity formula, BatchSize records per storer batch,
// gives with the storer's duration measured at the loaded step; 0 without one.
func (h HotEntity) ModelRate() float64 {
	s := h.Loaded()
	if s == nil || s.StorerMS <= 0 {
		return 0
	}
	return float64(h.BatchSize) / (s.StorerMS / 1000)
}

// Cycle is the time from one storer batch of the entity to the next at the loaded step: its mean
// batch over the rate the store took the records at; 0 without one.
func (h HotEntity) Cycle() time.Duration {
	s := h.Loaded()
	if s == nil || s.Served <= 0 || s.Batches == 0 {
		return 0
	}
	return time.Duration(s.MeanBatch() / s.Served * float64(time.Second))
}

// trendPoints bounds the points Trend pairs up, so that its cost stays in the millions of pairs
// however long a step; longer series are thinned evenly.
const trendPoints = 1500

// Trend is how fast y rises with x, robustly: the median of the slopes between every two points
// (Theil and Sen's estimator). Jitter at the scale of a Firehose buffer cancels out in it, and
// outliers tilt it only once they are nearly a third of the points. 0 with fewer than two points
// at distinct x.
func Trend(x, y []float64) float64 {
	n := min(len(x), len(y))
	stride := max(1, (n+trendPoints-1)/trendPoints)
	var slopes []float64
	for i := 0; i < n; i += stride {
		for j := i + stride; j < n; j += stride {
			if dx := x[j] - x[i]; dx != 0 {
				slopes = append(slopes, (y[j]-y[i])/dx)
			}
		}
	}
	return MedianOf(slopes)
}

// Verdict is the case's finding in one sentence: the rate past which one entity's latency grows
// without bound and the rate the store took its records at under the backlog.
func (h HotEntity) Verdict() string {
	steady, growing := h.Knee()
	switch {
	case len(h.Steps) == 0:
		return "The hot-entity case sent nothing."
	case growing == nil:
		return fmt.Sprintf("One entity's latency kept steady at every rate sent, up to %g records/s (p50 %s): its ceiling is above that.",
			steady.Rate, sec(steady.Latency.P50))
	case steady == nil:
		return fmt.Sprintf("One entity's latency grew at the lowest rate sent, %g records/s, where its records were stored at %.1f records/s.",
			growing.Rate, growing.Served)
	}
	return fmt.Sprintf("One entity's latency grows without bound past %g records/s: it held at %g records/s (p50 %s) and grew by %.2f s a second at %g records/s, where the store took the entity's records at **%.1f records/s** with %d waiting at the end of the step.",
		steady.Rate, steady.Rate, sec(steady.Latency.P50), growing.Growth, growing.Rate, growing.Served, growing.Backlog)
}

// ModelComparison is the capacity model's per-entity formula with the storer's duration measured
// at the loaded step, beside the batch cycle the case measured there.
func (h HotEntity) ModelComparison() string {
	if h.ModelRate() == 0 {
		return ""
	}
	s := h.Loaded()
	text := fmt.Sprintf("The capacity model's formula (one FIFO group is handed to the storer one batch at a time: %d records per storer batch) gives %d / %.0f ms = **%.0f records/s** with the storer's mean batch duration at %g records/s.",
		h.BatchSize, h.BatchSize, s.StorerMS, h.ModelRate(), s.Rate)
	if c := h.Cycle(); c > 0 {
		text += fmt.Sprintf(" Measured there, one batch of the entity (%.1f records) followed another every %s, of which the storer took %.0f ms.",
			s.MeanBatch(), c.Round(time.Millisecond), s.StorerMS)
	}
	return text
}

// markdown writes the report's section on the hot-entity case.
func (h HotEntity) markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n## One busy entity (local)\n\n")
	p("The records of one entity (`%s`: one FIFO message group, one DynamoDB partition) sent through Firehose at rising rates, %s each, each record timed from its Firehose arrival (its `receivedAt`) to its item in the event store, read every %s. ",
		h.Entity, h.Step, h.Poll)
	p("The event store, not the projection: the per-entity ceiling is the FIFO group's, which ends at the storer, and the projection keeps only an entity's newest record, so most of a busy entity's records are never seen there. ")
	p("A rate starts once the previous one's records are all stored, and the case stops at the first rate whose latency grows: its latency rose by at least %.2f s a second sent through both halves of the step (the median slope between any two records) and by %s over it, or its records were not all stored within %.0f s of its end.\n\n", GrowthLimit, RiseLimit, DrainLimit.Seconds())
	p("| Rate asked | arrived /s | stored /s | latency p50 / p90 / max | growth s/s (halves) | backlog at end (in queue) | drained in | storer batches (records each, mean ms) | transformer calls (mean ms) | |\n")
	p("|---:|---:|---:|---|---:|---:|---:|---:|---:|---|\n")
	for _, s := range h.Steps {
		verdict := "keeps up"
		if s.Growing() {
			verdict = "**grows**"
		}
		drained := s.Drain.Round(100 * time.Millisecond).String()
		if s.Stored < s.Sent {
			drained = fmt.Sprintf("%d of %d stored", s.Stored, s.Sent)
		}
		p("| %g | %.1f | %.1f | %s / %s / %s | %+.2f (%+.2f, %+.2f) | %d (%d) | %s | %d (%.1f, %.0f) | %d (%.0f) | %s |\n",
			s.Rate, s.Offered, s.Served, sec(s.Latency.P50), sec(s.Latency.P90), sec(s.Latency.Max), s.Growth, s.GrowthEarly, s.GrowthLate,
			s.Backlog, s.Queued, drained, s.Batches, s.MeanBatch(), s.StorerMS, s.Transforms, s.TransformerMS, verdict)
	}
	p("\n%s\n", h.Verdict())
	if m := h.ModelComparison(); m != "" {
		p("\n%s", m)
		if len(h.StoreCallsPerBatch) > 0 {
			var calls []string
			for _, op := range slices.Sorted(maps.Keys(h.StoreCallsPerBatch)) {
				calls = append(calls, fmt.Sprintf("%s %.1f", op, h.StoreCallsPerBatch[op]))
			}
			p(" The storer's DynamoDB calls per batch: %s.", strings.Join(calls, ", "))
		}
		p("\n")
	}
	h.why(w)
}

// why explains the difference between the measured ceiling and the model's local figure, from
// how the time between two batches of the entity was spent.
func (h HotEntity) why(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	s, c := h.Loaded(), h.Cycle()
	if s == nil || c <= 0 || s.StorerMS <= 0 {
		return
	}
	ms := func(f float64) time.Duration {
		return time.Duration(f * float64(time.Millisecond)).Round(time.Millisecond)
	}
	p("\nWhy the local figure is not the model's: at %g records/s one batch of the entity followed another every %s. ", s.Rate, c.Round(time.Millisecond))
	if s.InvokeMS > 0 {
		rest := c - ms(s.InvokeMS) - ms(s.SettleMS)
		p("The storer's event source mapping waited %s on each invocation", ms(s.InvokeMS))
		if ms(s.InvokeMS) > ms(s.StorerMS) {
			p(" (the function reported %s of it; the rest is handing the batch to its process and back)", ms(s.StorerMS))
		} else {
			p(" (the function's reported duration)")
		}
		p(", then %s deleting the batch's messages from moto_server, and %s went to its next ReceiveMessage, which can hand out the group's next messages only once they are deleted. ",
			ms(s.SettleMS), rest.Round(time.Millisecond))
		p("The model counts the storer's duration alone, so its figure is an upper bound: on AWS too the mapping deletes a batch before the group's next one is received, within AWS, and AWS publishes no figure for that step. ")
	}
	if first := h.Steps[0]; first.StorerMS > 0 && first.Rate != s.Rate {
		p("The storer's own duration grew with the load, from %s a batch at %g records/s to %s here: each of its DynamoDB calls", ms(first.StorerMS), first.Rate, ms(s.StorerMS))
		if len(h.StoreCallsPerBatch) > 0 {
			p(" (counted above)")
		}
		p(" is a request to moto_server, which meanwhile also takes the transformer's SendMessageBatch calls; the model adds one DynamoDB call's latency to a batch. ")
	}
	p("The Firehose buffering interval (%s locally, the template's ProcessorBufferIntervalSeconds on AWS) is in every record's latency (most of the p50 at the low rates) but not in the ceiling: each buffer reaches the queue in one transformer call. ", h.BufferInterval)
	if s.Growing() && s.Backlog > 0 {
		p("Of the %d records waiting at the end of %g records/s, %d were in IngestQueue, in front of the storer; the others were in Firehose's buffer or the transformer. ", s.Backlog, s.Rate, s.Queued)
	}
	p("Locally nothing bounds the partition's writes; on AWS one partition takes 1,000 WCU (docs/capacity.md).\n")
}

// sec is d in seconds with two decimals.
func sec(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
