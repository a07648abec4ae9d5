package apigw

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

const templateYAML = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: v1
Resources:
  RecordsApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
  RecordsApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        ListRecords:
          Type: Api
          Properties:
            RestApiId: !Ref RecordsApi
            Path: /records/{type}
            Method: get
        GetRecord:
          Type: Api
          Properties:
            RestApiId: !Ref RecordsApi
            Path: /records/{type}/{key}
            Method: get
        Special:
          Type: Api
          Properties:
            RestApiId: !Ref RecordsApi
            Path: /records/special
            Method: get
  FilesFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Anything:
          Type: Api
          Properties:
            Path: /files/{proxy+}
            Method: any
        Queue:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:123456789012:q
`

// testStack is templateYAML as a stack: a Ref names its parameter's default, or local-<ID>.
func testStack(t *testing.T) *stacktest.Fake {
	t.Helper()
	f := stacktest.NewFake(t, templateYAML, "http://127.0.0.1:4566")
	f.Ref = func(id string) (any, error) {
		if p, ok := f.Tmpl.Parameters[id]; ok {
			return p["Default"], nil
		}
		return "local-" + id, nil
	}
	f.GetAtt = func(id, attribute string) (any, error) { return "local-" + id + "." + attribute, nil }
	return f
}

// fakeInvoker answers every call with res and keeps the events it was given.
type fakeInvoker struct {
	mu     sync.Mutex
	res    spec.Result
	calls  []string
	events []events.APIGatewayProxyRequest
	traces []string
}

func (f *fakeInvoker) Invoke(_ context.Context, logicalID string, inv spec.Invocation) (spec.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(inv.Payload, &ev); err != nil {
		return spec.Result{}, err
	}
	f.calls = append(f.calls, logicalID)
	f.events = append(f.events, ev)
	f.traces = append(f.traces, inv.TraceHeader)
	res := f.res
	res.RequestID = "req-1"
	res.TraceID, _ = spec.TraceIDs(inv.TraceHeader)
	return res, nil
}

func newServer(t *testing.T, res spec.Result) (*httptest.Server, *fakeInvoker) {
	t.Helper()
	inv := &fakeInvoker{res: res}
	s, err := New(testStack(t), inv, "")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, inv
}

func ok(body string) spec.Result {
	b, _ := json.Marshal(events.APIGatewayProxyResponse{StatusCode: 200, Body: body})
	return spec.Result{Payload: b}
}

func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestRouting(t *testing.T) {
	tests := []struct {
		method, path string
		wantStatus   int
		wantFunction string
		wantResource string
		wantParams   map[string]string
		wantPath     string // the path the function sees; "" means the request's
	}{
		{"GET", "/records/order", 200, "RecordsApiFunction", "/records/{type}", map[string]string{"type": "order"}, ""},
		{"GET", "/records/order/order-1", 200, "RecordsApiFunction", "/records/{type}/{key}", map[string]string{"type": "order", "key": "order-1"}, ""},
		{"GET", "/records/special", 200, "RecordsApiFunction", "/records/special", nil, ""},
		{"GET", "/v1/records/order/order-1", 200, "RecordsApiFunction", "/records/{type}/{key}", map[string]string{"type": "order", "key": "order-1"}, "/records/order/order-1"},
		{"GET", "/records/security/arn:aws:securityhub:us-east-1:1:insight%2F1%2Fcustom%2Fx", 200, "RecordsApiFunction", "/records/{type}/{key}", map[string]string{"type": "security", "key": "arn:aws:securityhub:us-east-1:1:insight%2F1%2Fcustom%2Fx"}, ""},
		{"DELETE", "/files/a/b/c.txt", 200, "FilesFunction", "/files/{proxy+}", map[string]string{"proxy": "a/b/c.txt"}, ""},
		{"POST", "/records/order", 403, "", "", nil, ""},
		{"GET", "/records", 403, "", "", nil, ""},
		{"GET", "/records/order/order-1/extra", 403, "", "", nil, ""},
		{"GET", "/nothing", 403, "", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			ts, inv := newServer(t, ok(`{}`))
			res, body := get(t, tt.method, ts.URL+tt.path)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, body, tt.wantStatus)
			}
			if tt.wantFunction == "" {
				if body != `{"message":"Missing Authentication Token"}` || len(inv.calls) != 0 {
					t.Errorf("body %s after %d calls, want API Gateway's message and no call", body, len(inv.calls))
				}
				return
			}
			if len(inv.calls) != 1 || inv.calls[0] != tt.wantFunction {
				t.Fatalf("calls %v, want one of %s", inv.calls, tt.wantFunction)
			}
			ev := inv.events[0]
			if ev.Resource != tt.wantResource || ev.RequestContext.ResourcePath != tt.wantResource {
				t.Errorf("resource %q / %q, want %q", ev.Resource, ev.RequestContext.ResourcePath, tt.wantResource)
			}
			wantPath := tt.wantPath
			if wantPath == "" {
				wantPath = tt.path
			}
			if ev.Path != wantPath || (tt.wantFunction == "RecordsApiFunction" && ev.RequestContext.Path != "/v1"+wantPath) {
				t.Errorf("path %q, context path %q; want %q and /v1%s", ev.Path, ev.RequestContext.Path, wantPath, wantPath)
			}
			if len(ev.PathParameters) != len(tt.wantParams) {
				t.Errorf("path parameters %v, want %v", ev.PathParameters, tt.wantParams)
			}
			for k, v := range tt.wantParams {
				if ev.PathParameters[k] != v {
					t.Errorf("path parameter %s = %q, want %q", k, ev.PathParameters[k], v)
				}
			}
		})
	}
}

func TestProxyEvent(t *testing.T) {
	ts, inv := newServer(t, ok(`{}`))
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/records/order?limit=10&tag=a&tag=b", nil)
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-6741a2b3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	ev := inv.events[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"path", ev.Path, "/records/order"},
		{"httpMethod", ev.HTTPMethod, "GET"},
		{"header last value", ev.Headers["X-Multi"], "two"},
		{"multiValueHeaders", strings.Join(ev.MultiValueHeaders["X-Multi"], ","), "one,two"},
		{"query", ev.QueryStringParameters["limit"], "10"},
		{"multi query", strings.Join(ev.MultiValueQueryStringParameters["tag"], ","), "a,b"},
		{"stage", ev.RequestContext.Stage, "v1"},
		{"apiId", ev.RequestContext.APIID, "local-RecordsApi"},
		{"context httpMethod", ev.RequestContext.HTTPMethod, "GET"},
		{"context path", ev.RequestContext.Path, "/v1/records/order"},
		{"sourceIp", ev.RequestContext.Identity.SourceIP, "127.0.0.1"},
		{"requestId set", ev.RequestContext.RequestID != "", true},
		{"no body", ev.Body, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestResponses(t *testing.T) {
	proxy := func(r events.APIGatewayProxyResponse) spec.Result {
		b, _ := json.Marshal(r)
		return spec.Result{Payload: b}
	}
	tests := []struct {
		name       string
		res        spec.Result
		wantStatus int
		wantBody   string
		wantHeader map[string]string
		wantCookie []string
	}{
		{
			name: "found",
			res: proxy(events.APIGatewayProxyResponse{StatusCode: 200, Body: `{"key":"order-1"}`,
				Headers:           map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
				MultiValueHeaders: map[string][]string{"Set-Cookie": {"a=1", "b=2"}}}),
			wantStatus: 200, wantBody: `{"key":"order-1"}`,
			wantHeader: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
			wantCookie: []string{"a=1", "b=2"},
		},
		{
			name:       "not found from the function",
			res:        proxy(events.APIGatewayProxyResponse{StatusCode: 404, Body: `{"message":"no record order/x"}`}),
			wantStatus: 404, wantBody: `{"message":"no record order/x"}`,
		},
		{
			name:       "base64 body",
			res:        proxy(events.APIGatewayProxyResponse{StatusCode: 200, Body: "aGVsbG8=", IsBase64Encoded: true, Headers: map[string]string{"Content-Type": "text/plain"}}),
			wantStatus: 200, wantBody: "hello", wantHeader: map[string]string{"Content-Type": "text/plain"},
		},
		{
			name:       "function error",
			res:        spec.Result{Error: "errorString", Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`)},
			wantStatus: 502, wantBody: `{"message":"Internal server error"}`,
		},
		{
			name:       "timeout",
			res:        spec.Result{Error: "Sandbox.Timedout", Payload: []byte(`{"errorMessage":"Task timed out","errorType":"Sandbox.Timedout"}`)},
			wantStatus: 502, wantBody: `{"message":"Internal server error"}`,
		},
		{
			name:       "not a proxy response",
			res:        spec.Result{Payload: []byte(`"just a string"`)},
			wantStatus: 502, wantBody: `{"message":"Internal server error"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, _ := newServer(t, tt.res)
			res, body := get(t, "GET", ts.URL+"/records/order/order-1")
			if res.StatusCode != tt.wantStatus || body != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", res.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if res.Header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, res.Header.Get(k), v)
				}
			}
			if got := strings.Join(res.Header.Values("Set-Cookie"), ","); got != strings.Join(tt.wantCookie, ",") {
				t.Errorf("Set-Cookie %q, want %q", got, tt.wantCookie)
			}
		})
	}
}

func TestStartServesOnItsAddress(t *testing.T) {
	inv := &fakeInvoker{res: ok(`{"items":[]}`)}
	s, err := New(testStack(t), inv, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	res, body := get(t, "GET", s.URL()+"/records/device")
	if res.StatusCode != 200 || body != `{"items":[]}` {
		t.Errorf("got %d %s, want 200 with the function's body", res.StatusCode, body)
	}
	if n := len(s.Routes()); n != 4 {
		t.Errorf("%d routes, want the template's 4 Api events (not its SQS event)", n)
	}
}

func TestTracedRequests(t *testing.T) {
	tests := []struct {
		name      string
		res       spec.Result
		wantFault bool
	}{
		{"ok", ok(`{}`), false},
		{"function error", spec.Result{Error: "errorString", Payload: []byte(`{}`)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			daemon := xraylocal.NewDaemon("", "")
			if err := daemon.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = daemon.Stop() })
			inv := &fakeInvoker{res: tt.res}
			s, err := New(testStack(t), inv, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetXRayDaemon(t.Context(), daemon.Addr()); err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(s)
			t.Cleanup(ts.Close)

			const root = "1-6741a2b3-0123456789abcdef01234567"
			req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/records/order/o-1", nil)
			req.Header.Set("X-Amzn-Trace-Id", "Root="+root+";Parent=53995c3f42cd8ad8;Sampled=1")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()

			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			tr, err := daemon.WaitFor(ctx, root, "local-RecordsApi/v1")
			if err != nil {
				t.Fatal(err)
			}
			seg := tr.Find("local-RecordsApi/v1")
			if seg.Origin != "AWS::ApiGateway::Stage" || seg.Fault != tt.wantFault {
				t.Errorf("stage segment origin %q fault %v, want AWS::ApiGateway::Stage, fault %v", seg.Origin, seg.Fault, tt.wantFault)
			}
			// The function continues the trace under the stage segment.
			if want := "Root=" + root + ";Parent=" + seg.ID + ";Sampled=1"; inv.traces[0] != want {
				t.Errorf("function got trace header %q, want %q", inv.traces[0], want)
			}
		})
	}
}

// slowInvoker takes longer than API Gateway waits.
type slowInvoker struct{}

func (slowInvoker) Invoke(ctx context.Context, _ string, _ spec.Invocation) (spec.Result, error) {
	<-ctx.Done()
	return spec.Result{}, ctx.Err()
}

func TestIntegrationTimeout(t *testing.T) {
	s, err := New(testStack(t), slowInvoker{}, "")
	if err != nil {
		t.Fatal(err)
	}
	s.timeout = 100 * time.Millisecond
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	res, body := get(t, "GET", ts.URL+"/records/order")
	if res.StatusCode != http.StatusGatewayTimeout || body != `{"message":"Endpoint request timed out"}` {
		t.Errorf("got %d %s, want 504 with API Gateway's message", res.StatusCode, body)
	}
}
