package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/local/edge"
)

// chaos sits between the runner's edge and moto_server. The edge injects faults before a call
// reaches AWS; chaos acts after it has: it kills or hangs the calling function once the call's
// write is done and before the function sees the answer (the worst moment for a batch), and it
// counts the DataInserted events that really reached the bus, by record id.
type chaos struct {
	proxy *httputil.ReverseProxy

	mu        sync.Mutex
	rules     []*chaosRule
	emitted   map[string]int // record id -> events put on the bus
	signal    func(function string, sig syscall.Signal) int
	signalled int                   // processes killed or stopped
	latency   map[string]*opLatency // "caller operation" -> time moto took
}

// opLatency is how long moto took to answer one caller's calls of one operation.
type opLatency struct {
	Calls      int
	Total, Max time.Duration
}

// chaosRule sends sig to the caller's busy processes after its at-th call of operation.
type chaosRule struct {
	caller    string // the function's logical ID (its access key at the edge)
	operation string
	at        int
	sig       syscall.Signal
	calls     int
}

type callKey struct{}

type callInfo struct {
	caller, operation string
	body              []byte
}

func newChaos(upstream string) (*chaos, error) {
	up, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	c := &chaos{emitted: map[string]int{}, latency: map[string]*opLatency{}}
	c.proxy = &httputil.ReverseProxy{
		Transport: edge.KeepAliveTransport(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = pr.In.Host // moto names queues by the Host it was called on: the edge's
		},
		ModifyResponse: c.observe,
	}
	return c, nil
}

func (c *chaos) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := &callInfo{caller: accessKey(r)}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		_, info.operation, _ = strings.Cut(target, ".")
	}
	if info.operation == "PutEvents" {
		info.body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(info.body))
	}
	start := time.Now()
	c.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, info)))
	d := time.Since(start)
	if d > 5*time.Second && os.Getenv("S2E_TEST_LOG") != "" {
		fmt.Fprintf(os.Stderr, "slow call: %s %s took %s\n", info.caller, info.operation, d.Round(time.Millisecond))
	}
	op := info.operation
	if op == "" {
		op = r.Method + " " + strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
	}
	c.mu.Lock()
	l := c.latency[info.caller+" "+op]
	if l == nil {
		l = &opLatency{}
		c.latency[info.caller+" "+op] = l
	}
	l.Calls++
	l.Total += d
	l.Max = max(l.Max, d)
	c.mu.Unlock()
}

// observe runs when moto has answered, before the answer goes back to the caller.
func (c *chaos) observe(resp *http.Response) error {
	info, _ := resp.Request.Context().Value(callKey{}).(*callInfo)
	if info == nil {
		return nil
	}

	if info.operation == "PutEvents" && resp.StatusCode == http.StatusOK {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		c.countEvents(info.body, body)
	}
	c.fire(info)
	return nil
}

func (c *chaos) countEvents(request, response []byte) {
	var req struct {
		Entries []struct{ DetailType, Detail string }
	}
	var resp struct {
		Entries []struct{ EventId, ErrorCode string }
	}
	if json.Unmarshal(request, &req) != nil || json.Unmarshal(response, &resp) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range resp.Entries {
		if e.EventId == "" || e.ErrorCode != "" || i >= len(req.Entries) || req.Entries[i].DetailType != record.DetailType {
			continue
		}
		var rec struct{ ID string }
		if json.Unmarshal([]byte(req.Entries[i].Detail), &rec) == nil && rec.ID != "" {
			c.emitted[rec.ID]++
		}
	}
}

func (c *chaos) fire(info *callInfo) {
	c.mu.Lock()
	var sig syscall.Signal
	for _, r := range c.rules {
		if r.caller == info.caller && r.operation == info.operation {
			r.calls++
			if r.calls == r.at {
				sig = r.sig
			}
		}
	}
	signal := c.signal
	c.mu.Unlock()
	if sig != 0 && signal != nil {
		n := signal(info.caller, sig)
		c.mu.Lock()
		c.signalled += n
		c.mu.Unlock()
	}
}

func (c *chaos) setRules(rules []chaosRule) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rules = nil
	for _, r := range rules {
		c.rules = append(c.rules, &r)
	}
}

// answered is how many calls of operation by caller moto has answered so far.
func (c *chaos) answered(caller, operation string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.latency[caller+" "+operation]; l != nil {
		return l.Calls
	}
	return 0
}

// fired is how many processes the rules killed or stopped so far.
func (c *chaos) fired() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.signalled
}

// emittedIDs is how many record ids have had an event put on the bus, without copying the counts.
func (c *chaos) emittedIDs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.emitted)
}

func (c *chaos) emittedCounts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.emitted))
	for k, v := range c.emitted {
		out[k] = v
	}
	return out
}

// slowest returns the n calls on which moto spent the most time in all, as text.
func (c *chaos) slowest(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.latency))
	for k := range c.latency {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c.latency[keys[i]].Total > c.latency[keys[j]].Total })
	var b strings.Builder
	for _, k := range keys[:min(n, len(keys))] {
		l := c.latency[k]
		fmt.Fprintf(&b, "%s: %d calls, %s in all, mean %s, max %s; ", k, l.Calls, l.Total.Round(time.Second),
			(l.Total / time.Duration(l.Calls)).Round(time.Millisecond), l.Max.Round(time.Millisecond))
	}
	return b.String()
}

// accessKey is the access key of a SigV4-signed request: the function's logical ID.
func accessKey(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	key, _, _ := strings.Cut(auth[i+len("Credential="):], "/")
	return key
}
