// Package apigw serves the template's REST API locally, as `sam local start-api` does: each Api
// event of a function is a route; a request that matches one becomes an API Gateway proxy event
// (events.APIGatewayProxyRequest) for that function, and the function's proxy response becomes
// the HTTP response. Paths are served without the stage prefix, as SAM serves them; a path that
// carries it (the stack's API URL ends in /<stage>) is accepted too. With SetXRayDaemon, each
// request gets an AWS::ApiGateway::Stage segment that the function's segment continues.
//
// What API Gateway does and this does not: IAM authorisation (and any other authoriser) is not
// checked locally, so every request is let through as if signed by an allowed caller; throttling
// and usage plans are not applied; binary media types are not negotiated (a body that is not
// UTF-8 is passed base64-encoded).
package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

// DefaultAddr is where `sam local start-api` listens.
const DefaultAddr = "127.0.0.1:3000"

// IntegrationTimeout is API Gateway's limit on waiting for the function.
const IntegrationTimeout = 29 * time.Second

// maxBody is API Gateway's payload limit.
const maxBody = 10 << 20

// Route is one Api event of a function.
type Route struct {
	Function string // logical ID
	Event    string // the event's name in the template
	Method   string // upper case; ANY matches every method
	Path     string // the resource path, e.g. /records/{type}/{key}
	Stage    string
	APIID    string

	segments []string
}

// Server is the local REST API.
type Server struct {
	inv    spec.Invoker
	addr   string
	routes []Route
	log    *slog.Logger
	// timeout is IntegrationTimeout; tests shorten it.
	timeout time.Duration

	srv *http.Server
	ln  net.Listener

	xray *xraylocal.Emitter // the X-Ray daemon, when requests are traced
}

// New reads the Api events of stack's functions. addr is host:port; "" means DefaultAddr.
func New(stack spec.Stack, inv spec.Invoker, addr string) (*Server, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	routes, err := Routes(stack)
	if err != nil {
		return nil, err
	}
	return &Server{inv: inv, addr: addr, routes: routes, log: slog.Default(), timeout: IntegrationTimeout}, nil
}

// SetLogger replaces the logger for the server's own problems. Call before Start.
func (s *Server) SetLogger(l *slog.Logger) { s.log = l }

// Routes lists the API routes of stack's functions, most specific first.
func Routes(stack spec.Stack) ([]Route, error) {
	tpl := stack.Template()
	var routes []Route
	for _, fnID := range slices.Sorted(maps.Keys(stack.Functions())) {
		props, err := tpl.Function(fnID)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", fnID, err)
		}
		evs, _ := props["Events"].(map[string]any)
		for _, evName := range slices.Sorted(maps.Keys(evs)) {
			ev, _ := evs[evName].(map[string]any)
			if ev["Type"] != "Api" {
				continue
			}
			p, _ := ev["Properties"].(map[string]any)
			path, _ := p["Path"].(string)
			method, _ := p["Method"].(string)
			if path == "" || method == "" {
				return nil, fmt.Errorf("function %s event %s: Api event without Path or Method", fnID, evName)
			}
			r := Route{Function: fnID, Event: evName, Method: strings.ToUpper(method), Path: path}
			r.Stage, r.APIID = apiOf(stack, p["RestApiId"])
			r.segments = splitPath(path)
			routes = append(routes, r)
		}
	}
	sort.SliceStable(routes, func(i, j int) bool { return moreSpecific(routes[i], routes[j]) })
	return routes, nil
}

// apiOf finds the stage and ID of the API an event names. An event without RestApiId is on
// SAM's implicit API, whose stage is Prod.
func apiOf(stack spec.Stack, restAPIID any) (stage, id string) {
	stage, id = "Prod", "ServerlessRestApi"
	ref, ok := restAPIID.(map[string]any)
	if !ok {
		if s, ok := restAPIID.(string); ok && s != "" {
			id = s
		}
		return stage, id
	}
	logical, _ := ref["Ref"].(string)
	if logical == "" {
		return stage, id
	}
	id = logical
	if v, err := stack.Resolve(ref); err == nil {
		if s, ok := v.(string); ok && s != "" {
			id = s
		}
	}
	if res, ok := stack.Template().Resources[logical]; ok {
		if v, err := stack.Resolve(res.Properties["StageName"]); err == nil {
			if s, ok := v.(string); ok && s != "" {
				stage = s
			}
		}
	}
	return stage, id
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// moreSpecific orders routes as API Gateway prefers them: literal segments over parameters,
// parameters over a greedy {proxy+}, a named method over ANY.
func moreSpecific(a, b Route) bool {
	for i := 0; i < min(len(a.segments), len(b.segments)); i++ {
		ka, kb := segmentKind(a.segments[i]), segmentKind(b.segments[i])
		if ka != kb {
			return ka < kb
		}
	}
	if len(a.segments) != len(b.segments) {
		return len(a.segments) > len(b.segments)
	}
	return a.Method != "ANY" && b.Method == "ANY"
}

func segmentKind(s string) int {
	switch {
	case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}"):
		return 2
	case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
		return 1
	default:
		return 0
	}
}

// match returns the path parameters when path fits the route's resource path.
func (r Route) match(path []string) (map[string]string, bool) {
	params := map[string]string{}
	for i, seg := range r.segments {
		switch segmentKind(seg) {
		case 2:
			if i >= len(path) {
				return nil, false
			}
			params[strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "+}")] = strings.Join(path[i:], "/")
			return params, true
		case 1:
			if i >= len(path) || path[i] == "" {
				return nil, false
			}
			params[strings.Trim(seg, "{}")] = path[i]
		default:
			if i >= len(path) || path[i] != seg {
				return nil, false
			}
		}
	}
	return params, len(path) == len(r.segments)
}

// SetXRayDaemon makes the server trace each request as API Gateway does with TracingEnabled: a
// segment for the stage (continuing the caller's X-Amzn-Trace-Id, else starting a trace), which
// the function's segment continues. addr is the daemon's UDP host:port. Call before Start.
func (s *Server) SetXRayDaemon(ctx context.Context, addr string) error {
	xray, err := xraylocal.DialEmitter(ctx, addr)
	if err != nil {
		return err
	}
	s.xray = xray
	return nil
}

// Start listens on the server's address and serves until Stop.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", s.addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server", "error", err)
		}
	}()
	return nil
}

// URL is the server's base URL, e.g. http://127.0.0.1:3000.
func (s *Server) URL() string {
	if s.ln == nil {
		return "http://" + s.addr
	}
	return "http://" + s.ln.Addr().String()
}

// Stop waits for requests in flight until ctx ends, then closes.
func (s *Server) Stop(ctx context.Context) error {
	defer func() { _ = s.xray.Close() }()
	if s.srv == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("api shutdown: %w", err)
	}
	return nil
}

// Routes are the routes the server answers.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// ServeHTTP answers one request as API Gateway's Lambda proxy integration does.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// API Gateway's REST APIs match the path as the client sent it, still percent-encoded, so an
	// encoded "/" stays inside its segment (a key like an ARN with "/" in it) and the function
	// gets the path and its parameters encoded.
	route, params, path, ok := s.find(req.Method, req.URL.EscapedPath())
	if !ok {
		// API Gateway's answer for a REST route (or method) it does not have.
		writeMessage(w, http.StatusForbidden, "Missing Authentication Token")
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		writeMessage(w, http.StatusBadRequest, "could not read the request body")
		return
	}
	if len(body) > maxBody {
		writeMessage(w, http.StatusRequestEntityTooLarge, "Request Too Long")
		return
	}
	ev := proxyEvent(req, route, path, params, body)
	payload, err := json.Marshal(ev)
	if err != nil {
		writeMessage(w, http.StatusInternalServerError, "Internal server error")
		return
	}
	traceHeader := req.Header.Get("X-Amzn-Trace-Id")
	if seg := s.beginSegment(req, route, traceHeader); seg != nil {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		w = rec
		traceHeader = spec.TraceHeader(seg.TraceID, seg.ID)
		defer func() { s.endSegment(seg, rec.status) }()
	}
	// A caller that hangs up does not stop the function on AWS either; API Gateway's own
	// integration timeout does end the request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), s.timeout)
	defer cancel()
	res, err := s.inv.Invoke(ctx, route.Function, spec.Invocation{
		Payload:     payload,
		TraceHeader: traceHeader,
	})
	w.Header().Set("X-Amzn-RequestId", ev.RequestContext.RequestID)
	if errors.Is(err, context.DeadlineExceeded) {
		writeMessage(w, http.StatusGatewayTimeout, "Endpoint request timed out")
		return
	}
	if err != nil {
		s.log.Error("api invoke", "function", route.Function, "path", req.URL.Path, "error", err)
		writeMessage(w, http.StatusInternalServerError, "Internal server error")
		return
	}
	if res.TraceID != "" {
		w.Header().Set("X-Amzn-Trace-Id", "Root="+res.TraceID)
	}
	if res.Error != "" {
		s.log.Warn("api function error", "function", route.Function, "path", req.URL.Path,
			"requestId", res.RequestID, "errorType", res.Error)
		writeMessage(w, http.StatusBadGateway, "Internal server error")
		return
	}
	if err := writeProxyResponse(w, res.Payload); err != nil {
		s.log.Warn("api malformed Lambda proxy response", "function", route.Function, "requestId", res.RequestID, "error", err)
		writeMessage(w, http.StatusBadGateway, "Internal server error")
	}
}

// find matches a request to a route and returns the path as API Gateway gives it to the
// function. A path that starts with a stage name is tried without it as well, so that the stack's
// API URL (…/v1) works against the local server; the function sees the path without the stage,
// as it does behind API Gateway's own domain.
func (s *Server) find(method, path string) (Route, map[string]string, string, bool) {
	segs := splitPath(path)
	for _, r := range s.routes {
		if r.Method != method && r.Method != "ANY" {
			continue
		}
		if params, ok := r.match(segs); ok {
			return r, params, path, true
		}
	}
	if len(segs) > 0 {
		for _, r := range s.routes {
			if segs[0] != r.Stage || (r.Method != method && r.Method != "ANY") {
				continue
			}
			if params, ok := r.match(segs[1:]); ok {
				return r, params, strings.TrimPrefix(path, "/"+r.Stage), true
			}
		}
	}
	return Route{}, nil, "", false
}

// proxyEvent is the request as API Gateway's proxy integration hands it to the function.
func proxyEvent(req *http.Request, route Route, path string, params map[string]string, body []byte) events.APIGatewayProxyRequest {
	now := time.Now().UTC()
	headers, multiHeaders := map[string]string{}, map[string][]string{}
	for k, vs := range req.Header {
		headers[k] = vs[len(vs)-1] // API Gateway keeps the last value of a repeated header
		multiHeaders[k] = slices.Clone(vs)
	}
	if req.Host != "" {
		headers["Host"], multiHeaders["Host"] = req.Host, []string{req.Host}
	}
	var query map[string]string
	var multiQuery map[string][]string
	if q := req.URL.Query(); len(q) > 0 {
		query, multiQuery = map[string]string{}, map[string][]string{}
		for k, vs := range q {
			query[k] = vs[len(vs)-1]
			multiQuery[k] = vs
		}
	}
	var pathParams map[string]string
	if len(params) > 0 {
		pathParams = params
	}
	sourceIP, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		sourceIP = req.RemoteAddr
	}
	ev := events.APIGatewayProxyRequest{
		Resource:                        route.Path,
		Path:                            path,
		HTTPMethod:                      req.Method,
		Headers:                         headers,
		MultiValueHeaders:               multiHeaders,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		PathParameters:                  pathParams,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:        spec.Account,
			ResourceID:       spec.RandomHex(3),
			Stage:            route.Stage,
			RequestID:        spec.NewRequestID(),
			Identity:         events.APIGatewayRequestIdentity{SourceIP: sourceIP, UserAgent: req.UserAgent()},
			ResourcePath:     route.Path,
			Path:             "/" + route.Stage + path,
			HTTPMethod:       req.Method,
			RequestTime:      now.Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: now.UnixMilli(),
			APIID:            route.APIID,
			Protocol:         req.Proto,
			DomainName:       req.Host,
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

// writeProxyResponse writes a Lambda proxy response; one API Gateway would refuse is an error.
func writeProxyResponse(w http.ResponseWriter, payload []byte) error {
	var res events.APIGatewayProxyResponse
	if err := json.Unmarshal(payload, &res); err != nil {
		return fmt.Errorf("response is not a proxy response: %w", err)
	}
	if res.StatusCode < 100 || res.StatusCode > 599 {
		return fmt.Errorf("statusCode %d", res.StatusCode)
	}
	body := []byte(res.Body)
	if res.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(res.Body)
		if err != nil {
			return fmt.Errorf("body is not base64: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, vs := range res.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
	return nil
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", errorTypeOf(status))
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}

func errorTypeOf(status int) string {
	switch status {
	case http.StatusForbidden:
		return "MissingAuthenticationTokenException"
	case http.StatusRequestEntityTooLarge:
		return "RequestTooLongException"
	case http.StatusGatewayTimeout:
		return "IntegrationTimeoutException"
	default:
		return "InternalServerErrorException"
	}
}
