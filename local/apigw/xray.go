package apigw

import (
	"net/http"
	"strings"
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/xraylocal"
)

// beginSegment starts the AWS::ApiGateway::Stage segment of a request, continuing the caller's
// trace (else starting one), or returns nil when tracing is off.
func (s *Server) beginSegment(req *http.Request, route Route, callerHeader string) *xraylocal.Document {
	if !s.xray.Open() {
		return nil
	}
	now := time.Now()
	root, parent := spec.ContinueTrace(callerHeader, now)
	clientIP := req.RemoteAddr
	if i := strings.LastIndexByte(clientIP, ':'); i > 0 {
		clientIP = clientIP[:i]
	}
	return &xraylocal.Document{
		ID: spec.RandomHex(8), TraceID: root, ParentID: parent,
		Name: route.APIID + "/" + route.Stage, Origin: "AWS::ApiGateway::Stage",
		StartTime: xraylocal.Epoch(now),
		HTTP: map[string]any{"request": map[string]any{
			"method": req.Method, "url": "http://" + req.Host + req.URL.RequestURI(),
			"client_ip": clientIP, "user_agent": req.UserAgent(),
		}},
		AWS:         map[string]any{"account_id": spec.Account, "api_id": route.APIID, "stage": route.Stage},
		Annotations: map[string]any{"resource_path": route.Path},
	}
}

// endSegment finishes and sends the segment; tracing never fails a request, so a send error is
// only logged.
func (s *Server) endSegment(seg *xraylocal.Document, status int) {
	seg.EndTime = xraylocal.Epoch(time.Now())
	seg.HTTP["response"] = map[string]any{"status": status}
	seg.Error = status >= 400 && status < 500
	seg.Fault = status >= 500
	if err := s.xray.Send(*seg); err != nil {
		s.log.Warn("api x-ray segment", "error", err)
	}
}

// statusRecorder remembers the status written, for the segment.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
