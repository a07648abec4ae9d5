package xraylocal

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Document is an X-Ray segment or subsegment document: what the local services write for their
// part of a trace (see Emitter), and, of what the daemon receives, the fields the tree and the
// printout use. The document as received is kept for forwarding.
type Document struct {
	ID          string         `json:"id"`
	TraceID     string         `json:"trace_id,omitempty"`
	ParentID    string         `json:"parent_id,omitempty"`
	Type        string         `json:"type,omitempty"` // "subsegment" when sent on its own
	Name        string         `json:"name"`
	Origin      string         `json:"origin,omitempty"`
	Namespace   string         `json:"namespace,omitempty"`
	StartTime   float64        `json:"start_time"`
	EndTime     float64        `json:"end_time,omitempty"`
	InProgress  bool           `json:"in_progress,omitempty"`
	Error       bool           `json:"error,omitempty"`
	Fault       bool           `json:"fault,omitempty"`
	Throttle    bool           `json:"throttle,omitempty"`
	Annotations map[string]any `json:"annotations,omitempty"`
	AWS         map[string]any `json:"aws,omitempty"`
	Subsegments []Document     `json:"subsegments,omitempty"`
	HTTP        map[string]any `json:"http,omitempty"`
	Cause       any            `json:"cause,omitempty"` // a *Cause, or as received: an object, or the ID of an exception elsewhere

	raw []byte
}

// Cause is why a segment failed: the exceptions that made it an error or a fault.
type Cause struct {
	Exceptions []Exception `json:"exceptions"`
}

// Exception is one exception of a Cause.
type Exception struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Type    string `json:"type"`
}

// Node is a segment or subsegment placed in its trace's tree.
type Node struct {
	ID          string
	Name        string
	Origin      string // e.g. AWS::Lambda::Function
	Namespace   string // "aws" for SDK calls, "remote" for HTTP calls
	Operation   string // the AWS operation of an SDK call, when known
	Start, End  float64
	InProgress  bool
	Error       bool
	Fault       bool
	Throttle    bool
	Annotations map[string]any
	Children    []*Node
}

// DurationMS is the node's duration in milliseconds (0 while in progress).
func (n *Node) DurationMS() float64 {
	if n.End == 0 || n.End < n.Start {
		return 0
	}
	return (n.End - n.Start) * 1000
}

// Trace is one trace as a tree: its roots are the segments (and orphaned subsegments) whose
// parent was not received.
type Trace struct {
	ID    string
	Roots []*Node
}

// Start is the earliest start time of the trace, in epoch seconds.
func (t Trace) Start() float64 {
	var s float64
	for _, r := range t.Roots {
		if s == 0 || r.Start < s {
			s = r.Start
		}
	}
	return s
}

// DurationMS spans from the trace's first start to its last end.
func (t Trace) DurationMS() float64 {
	var end float64
	var walk func(n *Node)
	walk = func(n *Node) {
		end = max(end, n.End)
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, r := range t.Roots {
		walk(r)
	}
	if end == 0 {
		return 0
	}
	return (end - t.Start()) * 1000
}

// Find returns the first node named name, depth first, or nil.
func (t Trace) Find(name string) *Node {
	var find func(ns []*Node) *Node
	find = func(ns []*Node) *Node {
		for _, n := range ns {
			if n.Name == name {
				return n
			}
			if f := find(n.Children); f != nil {
				return f
			}
		}
		return nil
	}
	return find(t.Roots)
}

func (t Trace) findAnnotated(key string, value any) *Node {
	var find func(ns []*Node) *Node
	find = func(ns []*Node) *Node {
		for _, n := range ns {
			if v, ok := n.Annotations[key]; ok && fmt.Sprint(v) == fmt.Sprint(value) {
				return n
			}
			if f := find(n.Children); f != nil {
				return f
			}
		}
		return nil
	}
	return find(t.Roots)
}

// assemble builds the tree of one trace from its documents: embedded subsegments stay under
// their document, documents sent on their own hang under the node their parent_id names.
func assemble(traceID string, docs map[string]Document) Trace {
	nodes := map[string]*Node{}
	parentOf := map[string]string{}
	var order []string
	var add func(doc Document, parent string) *Node
	add = func(doc Document, parent string) *Node {
		n := &Node{
			ID: doc.ID, Name: doc.Name, Origin: doc.Origin, Namespace: doc.Namespace,
			Start: doc.StartTime, End: doc.EndTime, InProgress: doc.InProgress,
			Error: doc.Error, Fault: doc.Fault, Throttle: doc.Throttle,
			Annotations: doc.Annotations,
		}
		if op, ok := doc.AWS["operation"].(string); ok {
			n.Operation = op
		}
		if _, seen := nodes[doc.ID]; !seen {
			order = append(order, doc.ID)
		}
		nodes[doc.ID] = n
		parentOf[doc.ID] = parent
		for _, sub := range doc.Subsegments {
			n.Children = append(n.Children, add(sub, doc.ID))
		}
		return n
	}
	// Documents in ID order so that the tree does not depend on map iteration.
	for _, id := range slices.Sorted(maps.Keys(docs)) {
		add(docs[id], "")
	}
	var roots []*Node
	for _, id := range order {
		if parentOf[id] != "" {
			continue // embedded: already a child
		}
		n := nodes[id]
		pid := docs[id].ParentID
		if p, ok := nodes[pid]; ok && pid != "" && p != n {
			p.Children = append(p.Children, n)
			continue
		}
		roots = append(roots, n)
	}
	var sortTree func(ns []*Node)
	sortTree = func(ns []*Node) {
		sort.SliceStable(ns, func(i, j int) bool { return ns[i].Start < ns[j].Start })
		for _, n := range ns {
			sortTree(n.Children)
		}
	}
	sortTree(roots)
	return Trace{ID: traceID, Roots: roots}
}

func sortNewestFirst(ts []Trace) {
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].Start() != ts[j].Start() {
			return ts[i].Start() > ts[j].Start()
		}
		return ts[i].ID > ts[j].ID
	})
}

// Print writes a trace as an indented tree, one node a line: name, origin or operation,
// duration, flags and annotations.
//
//	trace 1-6741a2b3-0123456789abcdef01234567  84.2 ms
//	  stream-to-events-TransformerFunction  AWS::Lambda::Function  80.1 ms
//	    transform  12.0 ms  record_id=9f2c… type=order
//	    SQS  SendMessageBatch  6.3 ms
func Print(w io.Writer, t Trace) error {
	var b strings.Builder
	fmt.Fprintf(&b, "trace %s  %.1f ms\n", t.ID, t.DurationMS())
	var walk func(n *Node, depth int)
	walk = func(n *Node, depth int) {
		b.WriteString(strings.Repeat("  ", depth+1))
		b.WriteString(n.Name)
		if n.Origin != "" {
			b.WriteString("  " + n.Origin)
		}
		if n.Operation != "" {
			b.WriteString("  " + n.Operation)
		}
		if n.InProgress {
			b.WriteString("  in progress")
		} else {
			fmt.Fprintf(&b, "  %.1f ms", n.DurationMS())
		}
		for _, f := range []struct {
			on   bool
			name string
		}{{n.Fault, "FAULT"}, {n.Error, "ERROR"}, {n.Throttle, "THROTTLE"}} {
			if f.on {
				b.WriteString("  " + f.name)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(n.Annotations)) {
			fmt.Fprintf(&b, "  %s=%v", k, n.Annotations[k])
		}
		b.WriteString("\n")
		for _, c := range n.Children {
			walk(c, depth+1)
		}
	}
	for _, r := range t.Roots {
		walk(r, 0)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// PrintTraces prints traces one after the other, a blank line between them.
func PrintTraces(w io.Writer, ts []Trace) error {
	for i, t := range ts {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := Print(w, t); err != nil {
			return fmt.Errorf("print trace %s: %w", t.ID, err)
		}
	}
	return nil
}
