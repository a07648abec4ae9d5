package lambdaproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
)

// call is one invocation on its way through a process.
type call struct {
	id          string
	payload     []byte
	traceHeader string
	timeout     time.Duration
	arn         string

	// Set by the /next handler before it closes delivered.
	delivered   chan struct{}
	deliveredAt time.Time
	deadline    time.Time

	answer chan answer
}

type answer struct {
	payload   []byte
	errorType string
}

// outcome is what became of a call in one process.
type outcome struct {
	delivered bool // the process took the call
	payload   []byte
	errorType string
	duration  time.Duration
	start     time.Time // delivery, or the process's start on a cold call
	end       time.Time
	initStart time.Time // set on the call that paid for the cold start
	initEnd   time.Time
	keep      bool // the process can take the next call
}

// process is one running bootstrap and the Runtime API it pulls from.
type process struct {
	fn   spec.Function
	sink *logSink
	log  *slog.Logger

	srv     *http.Server
	logW    *os.File // our end of the process's stdout/stderr pipe, for Lambda's own lines
	started time.Time

	next       chan *call
	ready      chan struct{} // closed at the first /next
	readyOnce  sync.Once
	readyAt    time.Time
	exited     chan struct{} // closed when the process has exited
	exitErr    error
	readerDone chan struct{}
	flushed    chan struct{} // the reader has passed a flush marker

	spawned   chan struct{} // closed once pid is known (or the start failed)
	mu        sync.Mutex
	pid       int
	current   *call
	initError []byte // what the runtime posted to /runtime/init/error
	served    int
	memMB     int
	coldPaid  bool

	retireOnce sync.Once
}

// startProcess starts fn's bootstrap with its own Runtime API on a free loopback port.
func startProcess(fn spec.Function, env []string, sink *logSink, log *slog.Logger) (*process, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("log pipe: %w", err)
	}
	p := &process{
		fn: fn, sink: sink, log: log,
		logW:       pw,
		next:       make(chan *call),
		ready:      make(chan struct{}),
		exited:     make(chan struct{}),
		readerDone: make(chan struct{}),
		flushed:    make(chan struct{}, 1),
		spawned:    make(chan struct{}),
	}
	p.srv = &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()

	// The bootstrap's stdout and stderr share one pipe with Lambda's own lines, which this side
	// writes after the bootstrap's call to the Runtime API: whatever the function printed before
	// it answered is then in the pipe ahead of END and REPORT.
	cmd := exec.Command(fn.Bootstrap) // #nosec G204 -- running the function's own bootstrap, built from this repository, is the runtime's job
	cmd.Dir = taskRoot(fn)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.started = time.Now()
	go p.readLogs(pr)
	if err := cmd.Start(); err != nil {
		close(p.spawned)
		_ = p.srv.Close()
		_ = pw.Close()
		<-p.readerDone
		if errors.Is(err, syscall.ENOEXEC) {
			return nil, fmt.Errorf("start %s: built for another machine? (build with GOARCH=%s): %w", fn.Bootstrap, runtime.GOARCH, err)
		}
		return nil, fmt.Errorf("start %s: %w", fn.Bootstrap, err)
	}
	// The Runtime API's handlers may run (the bootstrap calls them) before this goroutine's
	// writes would be visible to them without the lock.
	p.mu.Lock()
	p.pid = cmd.Process.Pid
	p.mu.Unlock()
	close(p.spawned)
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) readLogs(r *os.File) {
	defer close(p.readerDone)
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		switch {
		case line == flushMarker:
			select {
			case p.flushed <- struct{}{}:
			default:
			}
		case line != "":
			p.sink.line(p.fn.LogicalID, strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			return
		}
	}
}

// flushMarker is a line no function prints; the reader takes it as "all before me is out".
const flushMarker = "\x00lambdaproc-flush\n"

// flush waits until every line written so far is out of the sink, so that an invocation's logs
// are printed before its result is returned (as `sam local invoke` shows them).
func (p *process) flush() {
	if _, err := io.WriteString(p.logW, flushMarker); err != nil {
		return
	}
	select {
	case <-p.flushed:
	case <-p.readerDone:
	case <-time.After(2 * time.Second): // a reader stuck on a blocked writer must not hold the call
	}
}

// platform writes one of Lambda's own lines into the process's log stream.
func (p *process) platform(format string, args ...any) {
	_, _ = fmt.Fprintf(p.logW, format+"\n", args...)
}

// warm reports whether the process has served an invocation.
func (p *process) warm() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served > 0
}

// kill ends the process and anything it started.
func (p *process) kill() {
	<-p.spawned
	p.mu.Lock()
	pid := p.pid
	p.mu.Unlock()
	if pid == 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.exited
}

// retire kills the process, closes its Runtime API and waits until its output is written.
func (p *process) retire() {
	p.retireOnce.Do(func() {
		p.kill()
		_ = p.srv.Close()
		_ = p.logW.Close()
		<-p.readerDone
	})
}

// maxMemoryMB is the process's peak resident set (VmHWM), as Lambda's "Max Memory Used".
func (p *process) maxMemoryMB() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid == 0 {
		return p.memMB
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/status")
	if err != nil {
		return p.memMB // gone, or not Linux: the last reading stands
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err == nil {
				p.memMB = int(math.Ceil(float64(kb) / 1024))
			}
		}
	}
	return p.memMB
}

// run hands c to the process and waits for its answer, its death or its deadline. The returned
// error is the runner's own (ctx done); everything the function did is in the outcome.
func (p *process) run(ctx context.Context, c *call, initTimeout time.Duration) (outcome, error) {
	var initTimer, frozenTimer <-chan time.Time
	select {
	case <-p.ready:
		// A warm process asks for its next call as soon as it has answered. One that does not
		// take this call within the function's timeout is frozen or hung between two calls
		// (stopped after it answered, say): without this bound the call, and the batch it
		// carries, would wait on it for ever.
		t := time.NewTimer(c.timeout)
		defer t.Stop()
		frozenTimer = t.C
	default:
		t := time.NewTimer(initTimeout)
		defer t.Stop()
		initTimer = t.C
	}
	select {
	case p.next <- c:
	case <-p.exited:
		if p.warm() {
			return outcome{}, nil
		}
		return p.initFailed(c, fmt.Sprintf("Runtime exited with error: %s", exitReason(p.exitErr))), nil
	case <-initTimer:
		p.kill()
		return p.initFailed(c, fmt.Sprintf("init did not finish within %s", initTimeout)), nil
	case <-frozenTimer:
		// The function never saw the call: Invoke gives it to a new process.
		p.log.Warn("warm process did not take the call within the function's timeout: killed, the call goes to a new process",
			"function", p.fn.LogicalID, "timeout", c.timeout)
		p.kill()
		return outcome{}, nil
	case <-ctx.Done():
		p.kill()
		return outcome{}, ctx.Err()
	}
	<-c.delivered
	out := outcome{delivered: true, start: c.deliveredAt}
	p.mu.Lock()
	p.served++
	if !p.coldPaid {
		p.coldPaid = true
		out.initStart, out.initEnd = p.started, p.readyAt
	}
	p.mu.Unlock()

	timer := time.NewTimer(time.Until(c.deadline))
	defer timer.Stop()
	select {
	case a := <-c.answer:
		out.payload, out.errorType = a.payload, a.errorType
		out.keep = true
	case <-p.exited:
		select {
		case a := <-c.answer: // answered, then exited (a panic does that)
			out.payload, out.errorType = a.payload, a.errorType
		default:
			msg := fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", c.id, exitReason(p.exitErr))
			p.platform("%s\n%s", msg, ErrorExit)
			out.payload, out.errorType = errorPayload(msg, ErrorExit), ErrorExit
		}
	case <-timer.C:
		p.maxMemoryMB() // the last reading, before the process is gone
		p.kill()
		msg := fmt.Sprintf("%s %s Task timed out after %.2f seconds", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), c.id, c.timeout.Seconds())
		p.platform("%s", msg)
		out.payload, out.errorType = errorPayload(msg, ErrorTimeout), ErrorTimeout
	case <-ctx.Done():
		p.kill()
		return outcome{}, ctx.Err()
	}
	out.end = time.Now()
	out.duration = out.end.Sub(c.deliveredAt)
	p.report(c, out)
	p.flush()
	if !out.initStart.IsZero() {
		out.start = out.initStart
	}
	return out, nil
}

// initFailed is the outcome of a call whose fresh process never took it.
func (p *process) initFailed(c *call, reason string) outcome {
	now := time.Now()
	errType := ErrorExit
	msg := fmt.Sprintf("RequestId: %s Error: %s", c.id, reason)
	p.mu.Lock()
	posted := p.initError
	p.mu.Unlock()
	payload := errorPayload(msg, errType)
	if len(posted) > 0 {
		payload = posted
		if t := errorOf(posted).ErrorType; t != "" {
			errType = t
		}
	}
	if strings.HasPrefix(reason, "init did not") {
		errType = ErrorTimeout
		payload = errorPayload(msg, errType)
	}
	p.platform("INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s", ms(now.Sub(p.started)), errType)
	p.platform("START RequestId: %s Version: $LATEST", c.id)
	p.platform("%s\n%s", msg, errType)
	p.platform("END RequestId: %s", c.id)
	p.platform("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB",
		c.id, 0.0, 0, p.fn.MemoryMB, p.maxMemoryMB())
	p.flush()
	return outcome{delivered: true, payload: payload, errorType: errType, start: p.started, end: now}
}

// report prints END and REPORT as Lambda does, Init Duration on the call that paid for the cold
// start (which on provided runtimes is billed).
func (p *process) report(c *call, out outcome) {
	billed := int64(math.Ceil(ms(out.duration)))
	initPart := ""
	if !out.initStart.IsZero() {
		initMS := ms(out.initEnd.Sub(out.initStart))
		billed += int64(math.Ceil(initMS))
		initPart = fmt.Sprintf("\tInit Duration: %.2f ms", initMS)
	}
	root, parent := spec.TraceIDs(c.traceHeader)
	p.platform("END RequestId: %s", c.id)
	p.platform("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB%s\tXRAY TraceId: %s\tSegmentId: %s\tSampled: true",
		c.id, ms(out.duration), max(billed, 1), p.fn.MemoryMB, p.maxMemoryMB(), initPart, root, parent)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func exitReason(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "signal: " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// lambdaError is Lambda's error JSON.
type lambdaError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func errorPayload(msg, errType string) []byte {
	b, _ := json.Marshal(lambdaError{msg, errType})
	return b
}

// errorOf reads an error payload; what is not one gives empty fields.
func errorOf(payload []byte) lambdaError {
	var e lambdaError
	_ = json.Unmarshal(payload, &e)
	return e
}

// routes is the Runtime API, as the bootstrap's runtime client calls it.
func (p *process) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", p.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", p.handleAnswer(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", p.handleAnswer(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", p.handleInitError)
	return mux
}

func (p *process) handleNext(w http.ResponseWriter, r *http.Request) {
	p.readyOnce.Do(func() {
		p.mu.Lock()
		p.readyAt = time.Now()
		p.mu.Unlock()
		close(p.ready)
	})
	var c *call
	select {
	case c = <-p.next:
	case <-r.Context().Done():
		return
	}
	c.deliveredAt = time.Now()
	c.deadline = c.deliveredAt.Add(c.timeout)
	p.mu.Lock()
	p.current = c
	p.mu.Unlock()
	// START goes into the log stream before the function can print anything of this call.
	p.platform("START RequestId: %s Version: $LATEST", c.id)
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", c.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(c.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", c.arn)
	h.Set("Lambda-Runtime-Trace-Id", c.traceHeader)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(c.payload)
	close(c.delivered)
}

func (p *process) handleAnswer(isError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		p.mu.Lock()
		c := p.current
		if c != nil && c.id == id {
			p.current = nil
		}
		p.mu.Unlock()
		if c == nil || c.id != id {
			writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or finished request "+id)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxResponseBytes+1))
		a := answer{payload: body}
		switch {
		case err != nil:
			a = answer{payload: errorPayload("reading the response: "+err.Error(), ErrorExit), errorType: ErrorExit}
		case !isError && len(body) > maxResponseBytes:
			a = answer{payload: errorPayload(fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponseBytes), ErrorResponseSize), errorType: ErrorResponseSize}
		case isError:
			a.errorType = r.Header.Get("Lambda-Runtime-Function-Error-Type")
			if a.errorType == "" {
				a.errorType = errorOf(body).ErrorType
			}
			if a.errorType == "" {
				a.errorType = "Unhandled"
			}
		}
		c.answer <- a
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"OK"}`)
	}
}

func (p *process) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxResponseBytes))
	if t := r.Header.Get("Lambda-Runtime-Function-Error-Type"); t != "" && errorOf(body).ErrorType == "" {
		body = errorPayload(string(body), t)
	}
	p.mu.Lock()
	p.initError = body
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
	// Lambda ends a sandbox whose init failed, whether or not the runtime exits by itself.
	go p.kill()
}

func writeAPIError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorPayload(msg, errType)) // #nosec G705 -- JSON for the bootstrap's runtime client (Content-Type application/json), never rendered as HTML
}
