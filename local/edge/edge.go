// Package edge is the local runner's one AWS endpoint (http://127.0.0.1:4566 by default). It
// answers the Firehose API through the runner's Firehose and CloudFormation's DescribeStacks for
// the local stack, and passes every other call to moto_server. On the way it counts calls per
// caller, service and operation, remembers the trace header of every PutEvents entry, and
// injects faults (throttling, server errors, partial batch failures) where it is told to, so
// that the pipeline's retry paths can be exercised on one machine.
package edge

import (
	"bytes"
	"context"
	"crypto/md5" // #nosec G501 -- SQS names message bodies by their MD5, not a security use
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stream-to-events/stream-to-events/local/cloudwatch"
	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stack"
)

// Stack is what DescribeStacks answers with.
type Stack interface {
	Outputs() ([]stack.Output, error)
	ParameterValues() map[string]string
	StackID() string
}

// Options configure an Edge.
type Options struct {
	Upstream string       // moto_server's URL
	Firehose http.Handler // answers Firehose_20150804.* calls; nil sends them to moto (see SetFirehose)
	Stack    Stack        // answers DescribeStacks; nil answers every CloudFormation call with an error
	Faults   []Fault
	Log      *slog.Logger
	// Rand returns a number in [0, 1) to decide faults; nil uses math/rand/v2. Tests fix it.
	Rand func() float64
	// Alarms evaluates the stack's alarms for GET /_local/alarms; nil answers it 404.
	Alarms func(context.Context) ([]cloudwatch.Status, error)
}

// Edge is the endpoint. It is an http.Handler; Start serves it on an address.
type Edge struct {
	opts     Options
	proxy    *httputil.ReverseProxy
	firehose atomic.Pointer[http.Handler]
	log      *slog.Logger
	created  time.Time

	mu     sync.Mutex
	calls  map[call]*CallCount
	faults []Fault

	traces    traceStore // PutEvents entries' trace headers by event ID
	sqsTraces traceStore // sent messages' AWSTraceHeader by message ID

	srv *http.Server
	url string
}

// CallCount is how often a caller called an operation, and how many of those calls the edge
// made fail on purpose.
type CallCount struct {
	Caller    string `json:"caller"`
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Calls     int    `json:"calls"`
	Injected  int    `json:"injected"` // calls answered with an injected fault (whole or partial)
}

var _ spec.TraceHeaders = (*Edge)(nil)

// New makes an edge in front of opts.Upstream.
func New(opts Options) (*Edge, error) {
	up, err := url.Parse(opts.Upstream)
	if err != nil || up.Host == "" {
		return nil, fmt.Errorf("edge: upstream %q is not a URL", opts.Upstream)
	}
	if err := validFaults(opts.Faults); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	e := &Edge{
		opts:      opts,
		log:       opts.Log,
		created:   time.Now().UTC(),
		calls:     map[call]*CallCount{},
		faults:    slices.Clone(opts.Faults),
		traces:    traceStore{byID: map[string]string{}, max: 100_000},
		sqsTraces: traceStore{byID: map[string]string{}, max: 100_000},
	}
	e.proxy = &httputil.ReverseProxy{
		Transport: KeepAliveTransport(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			// moto builds queue URLs from the Host it was called on: keep the edge's.
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				// The caller gave up (a poller stopping on Ctrl-C): nothing went wrong here.
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			e.log.Error("forward to moto", "path", r.URL.Path, "error", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, `{"__type":"InternalFailure","message":%q}`, "local edge: moto_server did not answer: "+err.Error())
		},
	}
	if opts.Firehose != nil {
		e.SetFirehose(opts.Firehose)
	}
	return e, nil
}

// SetFirehose sets the handler of Firehose calls; the runner's Firehose may be made after the
// edge, since it needs the functions that need the edge.
func (e *Edge) SetFirehose(h http.Handler) { e.firehose.Store(&h) }

// Start serves the edge on addr (host:port) until Stop.
func (e *Edge) Start(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("edge: %s is taken (is another s2e-local start, or LocalStack, running? pick another with --port): %w", addr, err)
		}
		return fmt.Errorf("edge: listen on %s: %w", addr, err)
	}
	e.url = "http://" + l.Addr().String()
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := e.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("edge stopped", "error", err)
		}
	}()
	e.log.Info("edge listening", "url", e.url, "upstream", e.opts.Upstream)
	return nil
}

// URL is where Start serves, e.g. http://127.0.0.1:4566.
func (e *Edge) URL() string { return e.url }

// Stop ends the server started by Start.
func (e *Edge) Stop(ctx context.Context) error {
	if e.srv == nil {
		return nil
	}
	return e.srv.Shutdown(ctx)
}

// Calls returns the call counts, sorted by service, operation and caller.
func (e *Edge) Calls() []CallCount {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]CallCount, 0, len(e.calls))
	for _, c := range e.calls {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b CallCount) int {
		return strings.Compare(a.Service+"\x00"+a.Operation+"\x00"+a.Caller, b.Service+"\x00"+b.Operation+"\x00"+b.Caller)
	})
	return out
}

// Faults returns the faults in force.
func (e *Edge) Faults() []Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.faults)
}

// SetFaults replaces the faults in force.
func (e *Edge) SetFaults(faults []Fault) error {
	if err := validFaults(faults); err != nil {
		return err
	}
	e.mu.Lock()
	e.faults = slices.Clone(faults)
	e.mu.Unlock()
	return nil
}

// TraceHeaderOfEvent is the TraceHeader the PutEvents entry that became eventID carried.
func (e *Edge) TraceHeaderOfEvent(eventID string) string { return e.traces.get(eventID) }

// ServeHTTP routes one call.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_local/") {
		e.serveLocal(w, r)
		return
	}
	var form url.Values
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		form, _ = url.ParseQuery(string(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	c, proto := classify(r, form)
	if c.Service == "unknown" && form.Get("Version") == "2010-05-15" {
		c.Service = "cloudformation"
	}
	count := e.count(c)

	if c.Service == "cloudformation" {
		e.cloudFormation(w, c, form)
		return
	}
	fault, hit := e.fault(c)
	if hit && fault.Kind != PartialBatch {
		e.injected(count)
		e.log.Debug("fault injected", "service", c.Service, "operation", c.Operation, "kind", fault.Kind)
		errorAnswer(w, c, proto, fault.Kind)
		return
	}
	upstream := http.Handler(e.proxy)
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "Firehose_20150804.") {
		if h := e.firehose.Load(); h != nil {
			upstream = *h
		}
	}
	part := partials[c.Operation]
	if hit && proto == protoJSON && part != nil {
		e.partial(w, r, c, part, fault, upstream, count)
		return
	}
	if c.Service == "events" && c.Operation == "PutEvents" {
		e.putEvents(w, r, upstream)
		return
	}
	if proto == protoJSON && c.Service == "sqs" {
		switch c.Operation {
		case "SendMessage", "SendMessageBatch":
			e.sqsSend(w, r, c.Operation == "SendMessageBatch")
			return
		case "ReceiveMessage":
			e.sqsReceive(w, r)
			return
		}
	}
	if c.Service == "xray" && c.Operation == "GetTraceSummaries" {
		e.traceSummaries(w, r, upstream)
		return
	}
	upstream.ServeHTTP(w, r)
}

func (e *Edge) count(c call) *CallCount {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.calls[c]
	if n == nil {
		n = &CallCount{Caller: c.Caller, Service: c.Service, Operation: c.Operation}
		e.calls[c] = n
	}
	n.Calls++
	return n
}

func (e *Edge) injected(n *CallCount) {
	e.mu.Lock()
	n.Injected++
	e.mu.Unlock()
}

// fault picks the first fault that matches the call and, for whole-call faults, whether this
// call is one of the share that fails.
func (e *Edge) fault(c call) (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.faults {
		if !f.matches(c) {
			continue
		}
		if f.Kind == PartialBatch {
			if partials[c.Operation] != nil {
				return f, true
			}
			continue
		}
		if e.opts.Rand() < f.Rate {
			return f, true
		}
	}
	return Fault{}, false
}

// partial forwards the entries of a batch call that "succeed" and answers the rest as failed,
// so that the failed entries are really not written.
func (e *Edge) partial(w http.ResponseWriter, r *http.Request, c call, part *partial, f Fault, upstream http.Handler, count *CallCount) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	failures := 0
	kept, state, err := part.split(body, func() bool {
		if e.opts.Rand() < f.Rate {
			failures++
			return true
		}
		return false
	})
	if err != nil {
		// Not a request we understand: let the service answer it as it would.
		r.Body = io.NopCloser(bytes.NewReader(body))
		upstream.ServeHTTP(w, r)
		return
	}
	if failures > 0 {
		e.injected(count)
	}
	var answer []byte
	header := http.Header{"Content-Type": {"application/x-amz-json-1.1"}}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		header.Set("Content-Type", ct)
	}
	if kept != nil {
		var call uint64
		switch c.Operation {
		case "PutEvents":
			call = e.traces.begin()
		case "SendMessageBatch":
			e.sqsTraces.recordBodies(kept, r.Header.Get("X-Amzn-Trace-Id"), true)
		}
		res := e.roundTrip(r, kept, upstream)
		if res.status != http.StatusOK {
			if c.Operation == "PutEvents" {
				e.traces.end(call)
			}
			res.writeTo(w, res.body.Bytes())
			return
		}
		header = res.header
		answer = res.body.Bytes()
		switch c.Operation {
		case "PutEvents":
			e.traces.record(kept, answer)
			e.traces.end(call)
		case "SendMessageBatch":
			e.sqsTraces.recordMessages(kept, answer, r.Header.Get("X-Amzn-Trace-Id"), true)
		}
	}
	joined, err := part.join(state, answer)
	if err != nil {
		errorAnswer(w, c, protoJSON, ServerError)
		return
	}
	(&captured{header: header, status: http.StatusOK}).writeTo(w, joined)
}

// putEvents forwards a PutEvents call and remembers each entry's trace header by the event ID
// the bus answered.
func (e *Edge) putEvents(w http.ResponseWriter, r *http.Request, upstream http.Handler) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	// moto delivers the events to the rule's queue before it answers, so the trigger may ask
	// for an event's trace header before it is recorded: pending makes it wait for the answer.
	call := e.traces.begin()
	res := e.roundTrip(r, body, upstream)
	if res.status == http.StatusOK {
		e.traces.record(body, res.body.Bytes())
	}
	e.traces.end(call)
	res.writeTo(w, res.body.Bytes())
}

// sqsSend forwards a SendMessage(Batch) call and remembers each message's AWSTraceHeader (the
// system attribute, else the call's X-Amzn-Trace-Id header, as SQS takes it) by the message ID:
// moto drops the attribute from SendMessageBatch, and the SQS trigger continues the trace from it.
func (e *Edge) sqsSend(w http.ResponseWriter, r *http.Request, batch bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	// moto enqueues before it answers, so a trigger may receive a message before its ID is
	// known here: the header is kept by the body's MD5 first, as the message carries it.
	e.sqsTraces.recordBodies(body, r.Header.Get("X-Amzn-Trace-Id"), batch)
	res := e.roundTrip(r, body, e.proxy)
	if res.status == http.StatusOK {
		e.sqsTraces.recordMessages(body, res.body.Bytes(), r.Header.Get("X-Amzn-Trace-Id"), batch)
	}
	res.writeTo(w, res.body.Bytes())
}

// sqsReceive forwards a ReceiveMessage call and puts back the AWSTraceHeader moto dropped.
func (e *Edge) sqsReceive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	res := e.roundTrip(r, body, e.proxy)
	answer := res.body.Bytes()
	var resp map[string]json.RawMessage
	var msgs []map[string]json.RawMessage
	if res.status == http.StatusOK && json.Unmarshal(answer, &resp) == nil && json.Unmarshal(resp["Messages"], &msgs) == nil {
		changed := false
		for _, m := range msgs {
			var id, bodyMD5 string
			_ = json.Unmarshal(m["MessageId"], &id)
			_ = json.Unmarshal(m["MD5OfBody"], &bodyMD5)
			header := e.sqsTraces.get(id)
			if header == "" {
				header = e.sqsTraces.get("md5:" + bodyMD5)
			}
			if header == "" {
				continue
			}
			attrs := map[string]string{}
			_ = json.Unmarshal(m["Attributes"], &attrs)
			if attrs["AWSTraceHeader"] == "" {
				attrs["AWSTraceHeader"] = header
				m["Attributes"], _ = json.Marshal(attrs)
				changed = true
			}
		}
		if changed {
			resp["Messages"], _ = json.Marshal(msgs)
			if fixed, err := json.Marshal(resp); err == nil {
				answer = fixed
			}
		}
	}
	res.writeTo(w, answer)
}

// traceSummaries mends moto's GetTraceSummaries answer, whose summaries hold "Users": {} where
// the API has a list: the Go SDK refuses the whole answer otherwise.
func (e *Edge) traceSummaries(w http.ResponseWriter, r *http.Request, upstream http.Handler) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	res := e.roundTrip(r, body, upstream)
	answer := res.body.Bytes()
	var resp map[string]any
	if res.status == http.StatusOK && json.Unmarshal(answer, &resp) == nil {
		sums, _ := resp["TraceSummaries"].([]any)
		for _, s := range sums {
			if m, ok := s.(map[string]any); ok {
				for _, k := range []string{"Users", "ServiceIds", "ResourceARNs", "InstanceIds", "AvailabilityZones"} {
					if v, isMap := m[k].(map[string]any); isMap && len(v) == 0 {
						m[k] = []any{}
					}
				}
			}
		}
		if fixed, err := json.Marshal(resp); err == nil {
			answer = fixed
		}
	}
	res.writeTo(w, answer)
}

// roundTrip sends r with body to upstream and keeps the whole answer.
func (e *Edge) roundTrip(r *http.Request, body []byte, upstream http.Handler) *captured {
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.Header.Set("Content-Length", strconv.Itoa(len(body)))
	// Let the transport decompress, since the answer is read here.
	out.Header.Del("Accept-Encoding")
	res := &captured{header: http.Header{}, status: http.StatusOK}
	upstream.ServeHTTP(res, out)
	return res
}

// captured is an http.ResponseWriter that keeps the response.
type captured struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header         { return c.header }
func (c *captured) WriteHeader(status int)      { c.status = status }
func (c *captured) Write(b []byte) (int, error) { return c.body.Write(b) }

// writeTo answers with the captured headers and body, fixing the length and DynamoDB's CRC32
// (which the SDK checks) for a body that was changed.
func (c *captured) writeTo(w http.ResponseWriter, body []byte) {
	h := w.Header()
	for k, v := range c.header {
		h[k] = v
	}
	h.Del("Content-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if h.Get("X-Amz-Crc32") != "" {
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	}
	w.WriteHeader(c.status)
	_, _ = w.Write(body)
}

// traceStore maps event IDs to trace headers, forgetting the oldest beyond max.
type traceStore struct {
	mu    sync.Mutex
	byID  map[string]string
	order []string
	max   int
	// pending are the calls forwarded whose answer is not recorded yet, by the number begin
	// gave them; next is the number of the next call.
	pending map[uint64]bool
	next    uint64
}

// pendingWait bounds how long get waits for calls in flight to be recorded. The calls waited
// for are those begun before the lookup, which end when moto answers them; moto on a loaded
// machine has taken 17 s for one PutEvents, so the bound is far above that rather than tight.
const pendingWait = 2 * time.Minute

// begin notes a call forwarded whose answer may name IDs that get is asked for; end it with
// the number returned.
func (t *traceStore) begin() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[uint64]bool{}
	}
	n := t.next
	t.next++
	t.pending[n] = true
	return n
}

func (t *traceStore) end(n uint64) {
	t.mu.Lock()
	delete(t.pending, n)
	t.mu.Unlock()
}

func (t *traceStore) record(request, response []byte) {
	var req struct {
		Entries []struct{ TraceHeader string }
	}
	var resp struct{ Entries []struct{ EventId string } }
	if json.Unmarshal(request, &req) != nil || json.Unmarshal(response, &resp) != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, e := range resp.Entries {
		if e.EventId == "" || i >= len(req.Entries) || req.Entries[i].TraceHeader == "" {
			continue
		}
		t.byID[e.EventId] = req.Entries[i].TraceHeader
		t.order = append(t.order, e.EventId)
	}
	for len(t.order) > t.max {
		delete(t.byID, t.order[0])
		t.order = t.order[1:]
	}
}

// recordBodies remembers the AWSTraceHeader of each message of a SendMessage(Batch) request by
// the MD5 of its body, before the call is forwarded.
func (t *traceStore) recordBodies(request []byte, callHeader string, batch bool) {
	type entry struct {
		MessageBody             string
		MessageSystemAttributes map[string]struct{ StringValue string }
	}
	var entries []entry
	if batch {
		var req struct{ Entries []entry }
		if json.Unmarshal(request, &req) != nil {
			return
		}
		entries = req.Entries
	} else {
		var req entry
		if json.Unmarshal(request, &req) != nil {
			return
		}
		entries = []entry{req}
	}
	byBody := map[string]string{}
	for _, e := range entries {
		h := e.MessageSystemAttributes["AWSTraceHeader"].StringValue
		if h == "" {
			h = callHeader
		}
		sum := md5.Sum([]byte(e.MessageBody)) // #nosec G401 -- matches SQS's MD5OfMessageBody; nothing is protected by it
		byBody["md5:"+hex.EncodeToString(sum[:])] = h
	}
	t.put(byBody)
}

// recordMessages remembers the AWSTraceHeader of each message of a SendMessage(Batch) request
// by the message ID of the answer; callHeader stands in for messages without the attribute.
func (t *traceStore) recordMessages(request, response []byte, callHeader string, batch bool) {
	type entry struct {
		Id                      string
		MessageSystemAttributes map[string]struct{ StringValue string }
	}
	headerOf := func(e entry) string {
		if h := e.MessageSystemAttributes["AWSTraceHeader"].StringValue; h != "" {
			return h
		}
		return callHeader
	}
	byMessage := map[string]string{}
	if batch {
		var req struct{ Entries []entry }
		var resp struct {
			Successful []struct{ Id, MessageId string }
		}
		if json.Unmarshal(request, &req) != nil || json.Unmarshal(response, &resp) != nil {
			return
		}
		byEntry := map[string]string{}
		for _, e := range req.Entries {
			byEntry[e.Id] = headerOf(e)
		}
		for _, s := range resp.Successful {
			byMessage[s.MessageId] = byEntry[s.Id]
		}
	} else {
		var req entry
		var resp struct{ MessageId string }
		if json.Unmarshal(request, &req) != nil || json.Unmarshal(response, &resp) != nil {
			return
		}
		byMessage[resp.MessageId] = headerOf(req)
	}
	t.put(byMessage)
}

func (t *traceStore) put(headers map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, h := range headers {
		if id == "" || h == "" {
			continue
		}
		t.byID[id] = h
		t.order = append(t.order, id)
	}
	for len(t.order) > t.max {
		delete(t.byID, t.order[0])
		t.order = t.order[1:]
	}
}

// get returns id's trace header; while calls are in flight it waits for them (a while at most),
// since the id may be in one of their answers.
func (t *traceStore) get(id string) string {
	// Only a call begun before the lookup can have made id: later calls are not waited for,
	// so a steady stream of PutEvents cannot hold a lookup up.
	t.mu.Lock()
	before := t.next
	t.mu.Unlock()
	deadline := time.Now().Add(pendingWait)
	for {
		t.mu.Lock()
		h, waiting := t.byID[id], false
		for n := range t.pending {
			if n < before {
				waiting = true
				break
			}
		}
		t.mu.Unlock()
		if h != "" || !waiting || time.Now().After(deadline) {
			return h
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serveLocal answers the runner's own API: /_local/calls, /_local/faults and /_local/alarms.
func (e *Edge) serveLocal(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/_local/calls" && r.Method == http.MethodGet:
		calls := e.Calls()
		total := 0
		for _, c := range calls {
			total += c.Calls
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"total": total, "calls": calls})
	case r.URL.Path == "/_local/faults" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(map[string]any{"faults": e.Faults()})
	case r.URL.Path == "/_local/faults" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, `{"message":"read body"}`, http.StatusBadRequest)
			return
		}
		// Either a list of faults or {"faults": [...]}.
		var faults []Fault
		if err := json.Unmarshal(body, &faults); err != nil {
			var wrapped struct{ Faults []Fault }
			if err := json.Unmarshal(body, &wrapped); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"message": "want a JSON list of faults: " + err.Error()})
				return
			}
			faults = wrapped.Faults
		}
		if err := e.SetFaults(faults); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
			return
		}
		e.log.Info("faults set", "faults", faults)
		_ = json.NewEncoder(w).Encode(map[string]any{"faults": e.Faults()})
	case r.URL.Path == "/_local/alarms" && r.Method == http.MethodGet && e.opts.Alarms != nil:
		states, err := e.opts.Alarms(r.Context())
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": "alarms: " + err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"alarms": states})
	case r.URL.Path == "/_local/health":
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "the local edge has GET /_local/calls, GET and POST /_local/faults, GET /_local/alarms"})
	}
}

// cloudFormation answers DescribeStacks for the local stack; the stack cannot be changed.
func (e *Edge) cloudFormation(w http.ResponseWriter, c call, form url.Values) {
	if c.Operation != "DescribeStacks" || e.opts.Stack == nil {
		queryError(w, http.StatusBadRequest, "ValidationError", "the local runner answers DescribeStacks only; "+c.Operation+" is not available locally")
		return
	}
	name := form.Get("StackName")
	if name != "" && name != spec.StackName && name != e.opts.Stack.StackID() {
		queryError(w, http.StatusBadRequest, "ValidationError", "Stack with id "+name+" does not exist")
		return
	}
	outputs, err := e.opts.Stack.Outputs()
	if err != nil {
		queryError(w, http.StatusInternalServerError, "InternalFailure", "outputs: "+err.Error())
		return
	}
	var b strings.Builder
	b.WriteString(`<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>`)
	fmt.Fprintf(&b, "<StackName>%s</StackName><StackId>%s</StackId><CreationTime>%s</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>",
		spec.StackName, xmlEscape(e.opts.Stack.StackID()), e.created.Format("2006-01-02T15:04:05.000Z"))
	b.WriteString("<Description>The local stack of the stream-to-events runner</Description><DisableRollback>false</DisableRollback><Parameters>")
	params := e.opts.Stack.ParameterValues()
	for _, k := range slices.Sorted(maps.Keys(params)) {
		fmt.Fprintf(&b, "<member><ParameterKey>%s</ParameterKey><ParameterValue>%s</ParameterValue></member>", xmlEscape(k), xmlEscape(params[k]))
	}
	b.WriteString("</Parameters><Outputs>")
	for _, o := range outputs {
		fmt.Fprintf(&b, "<member><OutputKey>%s</OutputKey><OutputValue>%s</OutputValue>", xmlEscape(o.Key), xmlEscape(o.Value))
		if o.Description != "" {
			fmt.Fprintf(&b, "<Description>%s</Description>", xmlEscape(o.Description))
		}
		if o.ExportName != "" {
			fmt.Fprintf(&b, "<ExportName>%s</ExportName>", xmlEscape(o.ExportName))
		}
		b.WriteString("</member>")
	}
	b.WriteString(`</Outputs><Tags/></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>edge</RequestId></ResponseMetadata></DescribeStacksResponse>`)
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(b.String()))
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// KeepAliveTransport keeps as many idle connections to moto as calls run at once. Go's default
// keeps two per host: under load every call beyond them opened a new connection, and moto_server
// started a new thread for each, which cost moto more than many of the calls themselves.
func KeepAliveTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
	return t
}
