package lambdaproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

// testBootstrap is the test function of testdata/bootstrap, built once for this machine the way
// the Makefile builds the real ones.
var testBootstrap string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdaproc-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBootstrap = filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", testBootstrap, "./testdata/bootstrap")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test bootstrap: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const fnID = "EchoFunction"

func testFunction() spec.Function {
	return spec.Function{
		LogicalID: fnID,
		Name:      "stream-to-events-" + fnID,
		ARN:       "arn:aws:lambda:us-east-1:123456789012:function:stream-to-events-" + fnID,
		Bootstrap: testBootstrap,
		Env:       map[string]string{"GREETING": "hello"},
		Timeout:   2 * time.Second,
		MemoryMB:  256,
	}
}

// shellFunction is testFunction with a shell script for its bootstrap, a custom runtime that
// talks to the Runtime API with curl: script builds the script from curl's path. Without curl
// the test is skipped.
func shellFunction(t *testing.T, script func(curl string) string) spec.Function {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(bootstrap, []byte(script(curl)), 0o755); err != nil {
		t.Fatal(err)
	}
	fn := testFunction()
	fn.Bootstrap = bootstrap
	return fn
}

func startRuntime(t *testing.T, fn spec.Function, opts Options) *Runtime {
	t.Helper()
	r := New(map[string]spec.Function{fn.LogicalID: fn}, opts)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

type reply struct {
	Echo       string            `json:"echo"`
	PID        int               `json:"pid"`
	RequestID  string            `json:"requestId"`
	ARN        string            `json:"arn"`
	TraceID    string            `json:"traceId"`
	DeadlineIn int64             `json:"deadlineInMs"`
	Env        map[string]string `json:"env"`
}

func invoke(t *testing.T, r *Runtime, payload string) (spec.Result, reply) {
	t.Helper()
	res, err := r.Invoke(t.Context(), fnID, spec.Invocation{Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("invoke %s: %v", payload, err)
	}
	var rep reply
	if res.Error == "" {
		if err := json.Unmarshal(res.Payload, &rep); err != nil {
			t.Fatalf("response %s: %v", res.Payload, err)
		}
	}
	return res, rep
}

func TestInvokeAnswersAndErrors(t *testing.T) {
	r := startRuntime(t, testFunction(), Options{})
	tests := []struct {
		name      string
		payload   string
		wantError string
		wantInMsg string
		freshNext bool // the process is gone afterwards: the next call runs in a new one
	}{
		{"echo", `{"action":"echo","message":"hi"}`, "", "", false},
		{"handler error", `{"action":"error","message":"bad input"}`, "errorString", "bad input", false},
		{"typed error", `{"action":"notfound","message":"order-1"}`, "notFoundError", "order-1 not found", false},
		{"panic", `{"action":"panic","message":"boom"}`, "string", "boom", true},
		{"crash", `{"action":"crash"}`, ErrorExit, "exit status 3", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := invoke(t, r, `{"action":"echo"}`)
			res, rep := invoke(t, r, tt.payload)
			if res.Error != tt.wantError {
				t.Fatalf("Error = %q (payload %s), want %q", res.Error, res.Payload, tt.wantError)
			}
			if res.RequestID == "" || res.TraceID == "" {
				t.Errorf("RequestID %q, TraceID %q: want both set", res.RequestID, res.TraceID)
			}
			if tt.wantError == "" {
				if rep.Echo != "hi" || rep.RequestID != res.RequestID || rep.ARN != testFunction().ARN {
					t.Errorf("reply %+v, want echo hi, request ID %s and the function ARN", rep, res.RequestID)
				}
			} else {
				var e struct{ ErrorMessage, ErrorType string }
				if err := json.Unmarshal(res.Payload, &e); err != nil || !strings.Contains(e.ErrorMessage, tt.wantInMsg) || e.ErrorType != tt.wantError {
					t.Errorf("error payload %s, want errorType %s and a message with %q", res.Payload, tt.wantError, tt.wantInMsg)
				}
			}
			_, after := invoke(t, r, `{"action":"echo"}`)
			if fresh := after.PID != before.PID; fresh != tt.freshNext {
				t.Errorf("next call in a new process: %v, want %v", fresh, tt.freshNext)
			}
		})
	}
	// 3 calls per case; errors in 4 cases; the panic and the crash each cost a cold start.
	want := Stats{Invocations: 3 * len(tests), ColdStarts: 3, Errors: 4, Crashes: 1}
	got := r.Stats()[fnID]
	got.Duration = 0
	if got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestTimeoutKillsTheProcess(t *testing.T) {
	fn := testFunction()
	fn.Timeout = 300 * time.Millisecond
	logs := &stacktest.LogBuffer{}
	r := startRuntime(t, fn, Options{Logs: logs})
	_, before := invoke(t, r, `{"action":"echo"}`)
	if before.DeadlineIn <= 0 || before.DeadlineIn > 300 {
		t.Errorf("deadline in %d ms, want within the 300 ms timeout", before.DeadlineIn)
	}
	start := time.Now()
	res, _ := invoke(t, r, `{"action":"sleep","sleepMs":5000}`)
	if took := time.Since(start); res.Error != ErrorTimeout || took > 2*time.Second {
		t.Fatalf("Error %q after %s, want %s at about 300 ms", res.Error, took, ErrorTimeout)
	}
	if !strings.Contains(string(res.Payload), "Task timed out after 0.30 seconds") {
		t.Errorf("payload %s, want Lambda's timeout message", res.Payload)
	}
	if err := exec.Command("kill", "-0", fmt.Sprint(before.PID)).Run(); err == nil {
		t.Errorf("process %d still alive after the timeout", before.PID)
	}
	_, after := invoke(t, r, `{"action":"echo"}`)
	if after.PID == before.PID {
		t.Errorf("call after a timeout ran in the killed process %d", before.PID)
	}
	if !strings.Contains(logs.String(), fnID+" ") || !strings.Contains(logs.String(), "Task timed out") {
		t.Errorf("logs lack the timeout line:\n%s", logs)
	}
}

// TestFrozenWarmProcessIsReplaced: a process stopped after it answered and before it asked for
// the next call (where the reliability tests' SIGSTOP of a busy function can land) is back in the
// warm pool but will never take a call. The next call must not wait on it for ever: it goes to a
// new process. The bootstrap is a shell script that answers and then stops itself.
func TestFrozenWarmProcessIsReplaced(t *testing.T) {
	fn := shellFunction(t, func(curl string) string {
		return `#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while :; do
  id=$(` + curl + ` -s -D - -o /dev/null "$api/next" | tr -d '\r' | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  ` + curl + ` -s -o /dev/null -X POST -d "{\"pid\":$$}" "$api/$id/response"
  kill -STOP $$
done
`
	})
	fn.Timeout = 500 * time.Millisecond
	r := startRuntime(t, fn, Options{MaxConcurrency: 1, Logger: slog.New(slog.DiscardHandler)})
	_, first := invoke(t, r, `{}`)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	res, err := r.Invoke(ctx, fnID, spec.Invocation{Payload: []byte(`{}`)})
	if err != nil {
		t.Fatalf("the call after the process froze: %v after %s", err, time.Since(start).Round(time.Millisecond))
	}
	var second reply
	if err := json.Unmarshal(res.Payload, &second); err != nil || res.Error != "" || second.PID == 0 {
		t.Fatalf("got %s %s, want an answer", res.Error, res.Payload)
	}
	if second.PID == first.PID {
		t.Errorf("the call was answered by the frozen process %d", first.PID)
	}
	if err := exec.Command("kill", "-0", fmt.Sprint(first.PID)).Run(); err == nil {
		t.Errorf("frozen process %d still alive", first.PID)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s: the frozen process held the call beyond the function's 500 ms timeout", took)
	}
}

var reportLine = regexp.MustCompile(`^EchoFunction REPORT RequestId: (\S+)\tDuration: [0-9.]+ ms\tBilled Duration: [0-9]+ ms\tMemory Size: 256 MB\tMax Memory Used: ([0-9]+) MB(\tInit Duration: [0-9.]+ ms)?\tXRAY TraceId: 1-[0-9a-f]{8}-[0-9a-f]{24}\tSegmentId: [0-9a-f]{16}\tSampled: true$`)

func TestLogLines(t *testing.T) {
	logs := &stacktest.LogBuffer{}
	r := startRuntime(t, testFunction(), Options{Logs: logs})
	cold, _ := invoke(t, r, `{"action":"log","message":"first|{\"level\":\"INFO\",\"msg\":\"second\"}"}`)
	warm, _ := invoke(t, r, `{"action":"alloc","allocMb":64}`)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	want := []string{
		"EchoFunction START RequestId: " + cold.RequestID + " Version: $LATEST",
		"EchoFunction first",
		`EchoFunction {"level":"INFO","msg":"second"}`,
		"EchoFunction to stderr",
		"EchoFunction END RequestId: " + cold.RequestID,
		"REPORT " + cold.RequestID,
		"EchoFunction START RequestId: " + warm.RequestID + " Version: $LATEST",
		"EchoFunction END RequestId: " + warm.RequestID,
		"REPORT " + warm.RequestID,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), logs)
	}
	for i, w := range want {
		id, ok := strings.CutPrefix(w, "REPORT ")
		if !ok {
			if lines[i] != w {
				t.Errorf("line %d = %q, want %q", i, lines[i], w)
			}
			continue
		}
		m := reportLine.FindStringSubmatch(lines[i])
		if m == nil || m[1] != id {
			t.Errorf("line %d = %q, want Lambda's REPORT line for %s", i, lines[i], id)
			continue
		}
		isCold := id == cold.RequestID
		if hasInit := m[3] != ""; hasInit != isCold {
			t.Errorf("REPORT of %s has Init Duration: %v, want %v (cold start only)", id, hasInit, isCold)
		}
		var mem int
		fmt.Sscan(m[2], &mem)
		if !isCold && mem < 64 {
			t.Errorf("Max Memory Used %d MB after allocating 64 MB", mem)
		}
	}
}

func TestLogFilter(t *testing.T) {
	tests := []struct {
		name  string
		only  []string
		shown bool
	}{
		{"no filter", nil, true},
		{"by logical ID", []string{fnID}, true},
		{"by name", []string{"stream-to-events-" + fnID}, true},
		{"another function", []string{"OtherFunction"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &stacktest.LogBuffer{}
			r := startRuntime(t, testFunction(), Options{Logs: logs, Only: tt.only})
			invoke(t, r, `{"action":"log","message":"visible"}`)
			_ = r.Stop()
			if shown := strings.Contains(logs.String(), "EchoFunction visible"); shown != tt.shown {
				t.Errorf("line shown: %v, want %v:\n%s", shown, tt.shown, logs)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("RUNNER_ONLY_SECRET", "must not leak")
	layer := t.TempDir()
	if err := os.Mkdir(filepath.Join(layer, "contracts"), 0o755); err != nil {
		t.Fatal(err)
	}
	fn := testFunction()
	fn.Env["CONTRACTS_DIR"] = "/opt/contracts"
	fn.Env["AWS_ACCESS_KEY_ID"] = "from-template"
	fn.Layers = map[string]string{"ContractsLayer": layer}
	fn.LogLevel = "DEBUG"
	r := startRuntime(t, fn, Options{Endpoint: "http://127.0.0.1:4566", XRayDaemonAddr: "127.0.0.1:2000"})

	keys := []string{"GREETING", "CONTRACTS_DIR", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
		"AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_XRAY_DAEMON_ADDRESS", "AWS_XRAY_CONTEXT_MISSING",
		"LAMBDA_TASK_ROOT", "RUNNER_ONLY_SECRET", "_X_AMZN_TRACE_ID"}
	payload, _ := json.Marshal(map[string]any{"action": "env", "env": keys})
	res, err := r.Invoke(t.Context(), fnID, spec.Invocation{
		Payload:     payload,
		TraceHeader: "Root=1-6741a2b3-0123456789abcdef01234567;Parent=1111111111111111;Sampled=1",
	})
	if err != nil || res.Error != "" {
		t.Fatalf("invoke: %v %s", err, res.Payload)
	}
	var rep reply
	if err := json.Unmarshal(res.Payload, &rep); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"GREETING":                        "hello",
		"CONTRACTS_DIR":                   filepath.Join(layer, "contracts"),
		"AWS_ACCESS_KEY_ID":               fnID,
		"AWS_SECRET_ACCESS_KEY":           "test",
		"AWS_ENDPOINT_URL":                "http://127.0.0.1:4566",
		"AWS_REGION":                      "us-east-1",
		"AWS_LAMBDA_FUNCTION_NAME":        "stream-to-events-" + fnID,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_FORMAT":           "JSON",
		"AWS_LAMBDA_LOG_LEVEL":            "DEBUG",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/stream-to-events-" + fnID,
		"AWS_XRAY_DAEMON_ADDRESS":         "127.0.0.1:2000",
		"AWS_XRAY_CONTEXT_MISSING":        "LOG_ERROR",
		"LAMBDA_TASK_ROOT":                filepath.Dir(testBootstrap),
		"RUNNER_ONLY_SECRET":              "",
	}
	for k, v := range want {
		if rep.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, rep.Env[k], v)
		}
	}
	// The trigger's trace goes on, under a function segment of its own.
	traceEnv := rep.Env["_X_AMZN_TRACE_ID"]
	if !regexp.MustCompile(`^Root=1-6741a2b3-0123456789abcdef01234567;Parent=[0-9a-f]{16};Sampled=1$`).MatchString(traceEnv) ||
		strings.Contains(traceEnv, "1111111111111111") || rep.TraceID != traceEnv {
		t.Errorf("_X_AMZN_TRACE_ID %q, context %q: want the trigger's root under a new parent", traceEnv, rep.TraceID)
	}
	if res.TraceID != "1-6741a2b3-0123456789abcdef01234567" {
		t.Errorf("Result.TraceID = %q, want the trigger's root", res.TraceID)
	}
}

func TestConcurrencyIsBoundedPerFunction(t *testing.T) {
	r := startRuntime(t, testFunction(), Options{MaxConcurrency: 2})
	const calls, sleep = 6, 300 * time.Millisecond
	var wg sync.WaitGroup
	pids := make([]int, calls)
	start := time.Now()
	for i := range calls {
		wg.Go(func() {
			_, rep := invoke(t, r, fmt.Sprintf(`{"action":"sleep","sleepMs":%d}`, sleep.Milliseconds()))
			pids[i] = rep.PID
		})
	}
	wg.Wait()
	took := time.Since(start)
	distinct := map[int]bool{}
	for _, p := range pids {
		distinct[p] = true
	}
	if len(distinct) != 2 {
		t.Errorf("ran in %d processes, want 2 (MaxConcurrency), reused warm", len(distinct))
	}
	// Two at a time: three rounds of 300 ms, not one (unbounded) and not six (one at a time).
	if took < 3*sleep || took > 5*sleep+time.Second {
		t.Errorf("%d calls of %s took %s, want about %s", calls, sleep, took, 3*sleep)
	}
}

func TestInitFailure(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		timeout   time.Duration
		wantError string
	}{
		{"exits at start-up", map[string]string{"FAIL_INIT": "1"}, 0, ErrorExit},
		{"init too slow", map[string]string{"INIT_SLEEP_MS": "3000"}, 200 * time.Millisecond, ErrorTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := testFunction()
			fn.Env = tt.env
			logs := &stacktest.LogBuffer{}
			r := startRuntime(t, fn, Options{Logs: logs, InitTimeout: tt.timeout})
			res, _ := invoke(t, r, `{"action":"echo"}`)
			if res.Error != tt.wantError {
				t.Fatalf("Error = %q (%s), want %q", res.Error, res.Payload, tt.wantError)
			}
			_ = r.Stop()
			if !strings.Contains(logs.String(), "INIT_REPORT Init Duration") {
				t.Errorf("logs lack INIT_REPORT:\n%s", logs)
			}
		})
	}
}

func TestStartFailsWithoutBootstrap(t *testing.T) {
	fn := testFunction()
	fn.Bootstrap = filepath.Join(t.TempDir(), "missing", "bootstrap")
	r := New(map[string]spec.Function{fnID: fn}, Options{})
	if err := r.Start(t.Context()); err == nil || !strings.Contains(err.Error(), fnID) {
		t.Errorf("Start = %v, want an error naming %s", err, fnID)
	}
}

func TestUnknownFunction(t *testing.T) {
	r := startRuntime(t, testFunction(), Options{})
	if _, err := r.Invoke(t.Context(), "NoSuchFunction", spec.Invocation{}); err == nil {
		t.Error("invoking an unknown function did not fail")
	}
	for _, name := range []string{testFunction().ARN, testFunction().ARN + ":$LATEST", testFunction().Name} {
		if _, err := r.Invoke(t.Context(), name, spec.Invocation{Payload: []byte(`{"action":"echo"}`)}); err != nil {
			t.Errorf("invoke by %s: %v", name, err)
		}
	}
}

func TestFunctionSegmentParentsSDKSubsegments(t *testing.T) {
	daemon := xraylocal.NewDaemon("", "")
	if err := daemon.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Stop() })
	r := startRuntime(t, testFunction(), Options{XRayDaemonAddr: daemon.Addr()})

	const root = "1-6741a2b3-00000000000000000000beef"
	res, err := r.Invoke(t.Context(), fnID, spec.Invocation{
		Payload:     []byte(`{"action":"trace","message":"rec-1"}`),
		TraceHeader: "Root=" + root + ";Parent=2222222222222222;Sampled=1",
	})
	if err != nil || res.Error != "" {
		t.Fatalf("invoke: %v %s", err, res.Payload)
	}
	failed, err := r.Invoke(t.Context(), fnID, spec.Invocation{Payload: []byte(`{"action":"error","message":"no"}`)})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := daemon.WaitFor(ctx, root, "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.WaitFor(ctx, root, testFunction().Name); err != nil {
		t.Fatal(err)
	}
	tr, _ := daemon.Trace(root)
	var b strings.Builder
	_ = xraylocal.Print(&b, tr)
	fnSeg := tr.Find(testFunction().Name)
	if len(tr.Roots) != 1 || tr.Roots[0] != fnSeg || fnSeg.Origin != "AWS::Lambda::Function" || fnSeg.Fault {
		t.Fatalf("want the function segment as the one root, not a fault:\n%s", b.String())
	}
	var names []string
	for _, c := range fnSeg.Children {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "Initialization,Invocation,work" && strings.Join(names, ",") != "Initialization,work,Invocation" {
		t.Errorf("function segment's children %v, want Initialization, Invocation and the SDK's work:\n%s", names, b.String())
	}
	if w := tr.Find("work"); w == nil || w.Annotations["record_id"] != "rec-1" {
		t.Errorf("work subsegment lacks record_id=rec-1:\n%s", b.String())
	}

	ft, err := daemon.WaitFor(ctx, failed.TraceID, testFunction().Name)
	if err != nil {
		t.Fatal(err)
	}
	if seg := ft.Find(testFunction().Name); !seg.Fault {
		t.Errorf("segment of a failed invocation is not a fault")
	}
}

func TestStopEndsInvocationsInFlight(t *testing.T) {
	r := startRuntime(t, testFunction(), Options{})
	done := make(chan error, 1)
	go func() {
		_, err := r.Invoke(t.Context(), fnID, spec.Invocation{Payload: []byte(`{"action":"sleep","sleepMs":1500}`)})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond) // the call is in the function by now
	start := time.Now()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrStopped) {
			t.Errorf("Invoke during Stop = %v, want ErrStopped", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Invoke still waiting after Stop")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Stop took %s: it waited for the function instead of ending it", took)
	}
	if _, err := r.Invoke(t.Context(), fnID, spec.Invocation{Payload: []byte(`{"action":"echo"}`)}); !errors.Is(err, ErrStopped) {
		t.Errorf("Invoke after Stop = %v, want ErrStopped", err)
	}
}

// TestInitErrorPosted uses a shell script as the bootstrap: a custom runtime that reports its
// init failure to the Runtime API, as non-Go runtimes do, and then waits.
func TestInitErrorPosted(t *testing.T) {
	body := `{"errorMessage":"config missing","errorType":"Runtime.ConfigError"}`
	fn := shellFunction(t, func(curl string) string {
		return "#!/bin/sh\n" + curl + ` -s -X POST -d '` + body + `' "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error"` + "\nsleep 30\n"
	})
	r := startRuntime(t, fn, Options{})
	start := time.Now()
	res, _ := invoke(t, r, `{}`)
	if res.Error != "Runtime.ConfigError" || string(res.Payload) != body {
		t.Errorf("got %s %s, want the posted init error", res.Error, res.Payload)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s: the sandbox was not ended after its init error", took)
	}
}

// BenchmarkInvokeWarm measures what the runtime adds to a warm invocation of a function that does
// nothing: the Runtime API round trip, the log flush and the REPORT line.
func BenchmarkInvokeWarm(b *testing.B) {
	r := New(map[string]spec.Function{fnID: testFunction()}, Options{Logs: io.Discard})
	if err := r.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer r.Stop()
	inv := spec.Invocation{Payload: []byte(`{"action":"echo","message":"x"}`)}
	if _, err := r.Invoke(b.Context(), fnID, inv); err != nil { // the cold start is not measured
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := r.Invoke(b.Context(), fnID, inv)
		if err != nil || res.Error != "" {
			b.Fatalf("invoke: %v %s", err, res.Payload)
		}
	}
}
