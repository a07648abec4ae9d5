package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// This file adapts API Gateway's REST proxy integration to net/http, so that the API is a plain
// http.Handler.
//
// It is kept instead of aws-lambda-go-api-proxy's httpadapter on purpose. That module's go.mod
// requires the web frameworks it has adapters for (gin, echo, fiber, iris, chi, gorilla/mux,
// negroni), so taking it for one adapter adds them all to this module's graph, go.sum and
// vulnerability checks, while the function would still link only the same translation this file
// does. What the API needs of the event is small and fixed (method, path, repeated query values,
// headers, a base64 body, and a UTF-8 or base64 answer) and each part is tested in
// proxy_test.go; the adapter's extras (stage and base-path stripping, custom-domain handling,
// the request context under its own key) are not used here.

// serveProxy runs h on the request an API Gateway proxy event describes and returns h's answer
// as the proxy response.
func serveProxy(ctx context.Context, h http.Handler, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	req, err := newRequest(ctx, ev)
	if err != nil {
		return proxyError(http.StatusBadRequest, "invalid request: "+err.Error())
	}
	w := newResponseWriter()
	h.ServeHTTP(w, req)
	return w.response(req.Method == http.MethodHead)
}

// newRequest builds the http.Request of a proxy event: method, path, query (every value of a
// repeated parameter), headers, body (decoded when API Gateway sent it in base64) and the
// invocation's context, so that cancellation, the Lambda request ID and the trace reach the
// handler.
func newRequest(ctx context.Context, ev events.APIGatewayProxyRequest) (*http.Request, error) {
	method := ev.HTTPMethod
	if method == "" {
		method = http.MethodGet
	}
	var body []byte
	if ev.Body != "" {
		body = []byte(ev.Body)
		if ev.IsBase64Encoded {
			var err error
			if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
				return nil, errBody
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "/", bytes.NewReader(body))
	if err != nil {
		return nil, errMethod
	}
	req.URL = requestURL(ev)
	req.RequestURI = req.URL.RequestURI()
	req.Header = requestHeader(ev)
	req.Host = req.Header.Get("Host")
	req.RemoteAddr = ev.RequestContext.Identity.SourceIP
	return req, nil
}

type adapterError string

func (e adapterError) Error() string { return string(e) }

const (
	errBody   adapterError = "body is not valid base64"
	errMethod adapterError = "not a valid HTTP method"
)

// requestURL is the path and query of the event. API Gateway's REST APIs pass the path as the
// client sent it, still percent-encoded, so an encoded "/" in a key stays inside its segment; a
// path that is not a valid encoding (as some emulators send it, already decoded) is taken as is.
func requestURL(ev events.APIGatewayProxyRequest) *url.URL {
	p := ev.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u := &url.URL{Path: p}
	if decoded, err := url.PathUnescape(p); err == nil {
		// URL.EscapedPath uses RawPath only if it is a valid encoding of Path, else re-encodes Path.
		u.Path, u.RawPath = decoded, p
	}
	q := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			q[k] = append([]string(nil), vs...)
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u
}

func requestHeader(ev events.APIGatewayProxyRequest) http.Header {
	h := http.Header{}
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		return h
	}
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	return h
}

// responseWriter keeps what the handler writes, for the proxy response.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponseWriter() *responseWriter { return &responseWriter{header: http.Header{}} }

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// response is the proxy response. A header with one value goes in Headers, one with several in
// MultiValueHeaders (API Gateway merges the two). A body that is not UTF-8 text is sent in base64,
// as API Gateway expects binary bodies.
func (w *responseWriter) response(head bool) events.APIGatewayProxyResponse {
	resp := events.APIGatewayProxyResponse{StatusCode: w.status}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	for k, vs := range w.header {
		switch len(vs) {
		case 0:
		case 1:
			if resp.Headers == nil {
				resp.Headers = map[string]string{}
			}
			resp.Headers[k] = vs[0]
		default:
			if resp.MultiValueHeaders == nil {
				resp.MultiValueHeaders = map[string][]string{}
			}
			resp.MultiValueHeaders[k] = vs
		}
	}
	if head {
		return resp
	}
	if b := w.body.Bytes(); utf8.Valid(b) {
		resp.Body = string(b)
	} else {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(b), true
	}
	return resp
}

// proxyError is an error answer made by the adapter itself, in the API's JSON form.
func proxyError(status int, msg string) events.APIGatewayProxyResponse {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg}) // a string always marshals
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(b) + "\n",
	}
}
