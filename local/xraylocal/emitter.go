package xraylocal

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"
)

// Emitter sends segment documents to an X-Ray daemon over UDP, as Lambda and API Gateway do for
// the segments they write. A nil Emitter, or a closed one, sends nothing; tracing never fails
// the work it traces. It is safe for concurrent use.
type Emitter struct {
	mu   sync.Mutex
	conn net.Conn
}

// DialEmitter opens an Emitter to the daemon at addr (UDP host:port).
func DialEmitter(ctx context.Context, addr string) (*Emitter, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("x-ray daemon %s: %w", addr, err)
	}
	return &Emitter{conn: conn}, nil
}

// Open reports whether documents sent now reach a daemon.
func (e *Emitter) Open() bool {
	if e == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conn != nil
}

// Send writes doc, after the header the daemon expects before every document.
func (e *Emitter) Send(doc Document) error {
	if e == nil {
		return nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil
	}
	_, err = e.conn.Write(append([]byte("{\"format\": \"json\", \"version\": 1}\n"), b...))
	return err
}

// Close closes the connection; what is sent after is dropped.
func (e *Emitter) Close() error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil
	}
	err := e.conn.Close()
	e.conn = nil
	return err
}

// Epoch is t as X-Ray documents write times: seconds since the epoch, with a fraction.
func Epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
