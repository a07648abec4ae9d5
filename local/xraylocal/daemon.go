// Package xraylocal is the local runner's X-Ray daemon: a UDP endpoint that speaks the daemon
// protocol the X-Ray SDKs send to (AWS_XRAY_DAEMON_ADDRESS), keeps the segments it receives so
// that traces can be printed as trees, and forwards every document to an X-Ray API (moto's,
// through the edge) so that `aws xray get-trace-summaries` and `batch-get-traces` work locally.
package xraylocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// maxDatagram is the largest UDP payload the SDKs send (they cap documents at 64 KiB).
const maxDatagram = 64 * 1024

// Limits of the store: the daemon runs for as long as `start` does, so it keeps the newest
// traces only.
const (
	DefaultMaxTraces     = 1000
	maxDocumentsPerTrace = 2000
)

// Daemon receives segment documents over UDP. Build it with NewDaemon, then Start it.
type Daemon struct {
	addr      string
	forwardTo string
	log       *slog.Logger

	conn *net.UDPConn
	fwd  *forwarder
	done chan struct{}

	mu     sync.Mutex
	traces map[string]*traceDocs
	seq    uint64 // receive order, to tell which trace is newest when start times tie
	max    int
}

// traceDocs are the raw documents of one trace by document ID: a document sent again (in
// progress, then complete) replaces the earlier one.
type traceDocs struct {
	docs    map[string]Document
	lastSeq uint64
}

// NewDaemon makes a daemon that listens on addr (host:port; "" takes a free port on
// 127.0.0.1) and, when forwardTo is an endpoint URL, forwards each document to that endpoint's
// PutTraceSegments.
func NewDaemon(addr, forwardTo string) *Daemon {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	return &Daemon{
		addr:      addr,
		forwardTo: forwardTo,
		log:       slog.Default(),
		traces:    map[string]*traceDocs{},
		max:       DefaultMaxTraces,
	}
}

// SetLogger replaces the logger the daemon reports its own problems to (bad datagrams, failed
// forwarding). Call before Start.
func (d *Daemon) SetLogger(l *slog.Logger) { d.log = l }

// Start binds the UDP socket and begins receiving; it returns once the daemon is listening, so
// Addr is valid afterwards. ctx only bounds the start-up.
func (d *Daemon) Start(ctx context.Context) error {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", d.addr)
	if err != nil {
		return fmt.Errorf("xray daemon listen %s: %w", d.addr, err)
	}
	d.conn = pc.(*net.UDPConn)
	// A burst of invocations sends many datagrams at once; UDP drops what the socket cannot
	// buffer, so ask for more than the default (the kernel may grant less).
	_ = d.conn.SetReadBuffer(4 << 20)
	if d.forwardTo != "" {
		d.fwd = newForwarder(newXRayClient(d.forwardTo), d.log)
		go d.fwd.run()
	}
	d.done = make(chan struct{})
	go d.receive()
	return nil
}

// Addr is the address to give the SDKs as AWS_XRAY_DAEMON_ADDRESS (host:port).
func (d *Daemon) Addr() string {
	if d.conn == nil {
		return d.addr
	}
	return d.conn.LocalAddr().String()
}

// Stop closes the socket and sends what is still waiting to be forwarded.
func (d *Daemon) Stop() error {
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	<-d.done
	if d.fwd != nil {
		d.fwd.stop()
	}
	return err
}

func (d *Daemon) receive() {
	defer close(d.done)
	buf := make([]byte, maxDatagram)
	for {
		n, _, err := d.conn.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				d.log.Error("xray daemon read", "error", err)
			}
			return
		}
		d.Add(buf[:n])
	}
}

// Add takes one datagram (the protocol header line, then one segment document), as if it had
// arrived over UDP. A datagram without the header is taken as a bare document.
func (d *Daemon) Add(datagram []byte) {
	// Every datagram starts with the header line `{"format": "json", "version": 1}`; it is
	// split off at the first newline rather than compared byte for byte, as SDKs differ in
	// spacing.
	body := datagram
	if i := bytes.IndexByte(datagram, '\n'); i >= 0 && bytes.Contains(datagram[:i], []byte(`"format"`)) {
		body = datagram[i+1:]
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return
	}
	var doc Document
	if err := json.Unmarshal(body, &doc); err != nil {
		d.log.Warn("xray daemon: document is not JSON", "error", err)
		return
	}
	if doc.TraceID == "" || doc.ID == "" {
		d.log.Warn("xray daemon: document without trace_id or id", "name", doc.Name)
		return
	}
	doc.raw = append([]byte(nil), body...)
	d.store(doc)
	if d.fwd != nil {
		d.fwd.add(string(doc.raw))
	}
}

func (d *Daemon) store(doc Document) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	t, ok := d.traces[doc.TraceID]
	if !ok {
		if len(d.traces) >= d.max {
			d.evictOldest()
		}
		t = &traceDocs{docs: map[string]Document{}}
		d.traces[doc.TraceID] = t
	}
	t.lastSeq = d.seq
	if old, ok := t.docs[doc.ID]; ok && !old.InProgress && doc.InProgress {
		return // a late in-progress copy must not hide the finished document
	}
	if _, ok := t.docs[doc.ID]; !ok && len(t.docs) >= maxDocumentsPerTrace {
		return
	}
	t.docs[doc.ID] = doc
}

func (d *Daemon) evictOldest() {
	var oldestID string
	var oldest uint64
	for id, t := range d.traces {
		if oldestID == "" || t.lastSeq < oldest {
			oldestID, oldest = id, t.lastSeq
		}
	}
	delete(d.traces, oldestID)
}

// Trace returns one trace assembled as a tree.
func (d *Daemon) Trace(id string) (Trace, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.traces[id]
	if !ok {
		return Trace{}, false
	}
	return assemble(id, t.docs), true
}

// Traces returns the newest n traces (by start time, newest first), each assembled as a tree.
// n <= 0 returns them all.
func (d *Daemon) Traces(n int) []Trace {
	d.mu.Lock()
	out := make([]Trace, 0, len(d.traces))
	for id, t := range d.traces {
		out = append(out, assemble(id, t.docs))
	}
	d.mu.Unlock()
	sortNewestFirst(out)
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// TracesWithAnnotation returns the traces (newest first) in which some node carries the
// annotation key=value, e.g. ("record_id", id) to follow one record through the flow.
func (d *Daemon) TracesWithAnnotation(key string, value any) []Trace {
	var out []Trace
	for _, t := range d.Traces(0) {
		if t.findAnnotated(key, value) != nil {
			out = append(out, t)
		}
	}
	return out
}

// WaitFor waits until a trace has a document named name, or ctx ends: segments arrive over UDP
// after the invocation that made them has returned.
func (d *Daemon) WaitFor(ctx context.Context, traceID, name string) (Trace, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if t, ok := d.Trace(traceID); ok && t.Find(name) != nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return Trace{}, fmt.Errorf("trace %s: no %q: %w", traceID, name, ctx.Err())
		case <-tick.C:
		}
	}
}
