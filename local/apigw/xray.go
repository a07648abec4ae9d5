package apigw

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stream-to-events/stream-to-events/local/spec"
)

// stageSegment is the AWS::ApiGateway::Stage segment of one request.
type stageSegment struct {
	ID          string         `json:"id"`
	TraceID     string         `json:"trace_id"`
	ParentID    string         `json:"parent_id,omitempty"`
	Name        string         `json:"name"`
	Origin      string         `json:"origin"`
	StartTime   float64        `json:"start_time"`
	EndTime     float64        `json:"end_time"`
	Error       bool           `json:"error,omitempty"`
	Fault       bool           `json:"fault,omitempty"`
	HTTP        map[string]any `json:"http"`
	AWS         map[string]any `json:"aws"`
	Annotations map[string]any `json:"annotations,omitempty"`
}

func (seg *stageSegment) childHeader() string {
	return fmt.Sprintf("Root=%s;Parent=%s;Sampled=1", seg.TraceID, seg.ID)
}

// beginSegment starts the stage segment of a request, or returns nil when tracing is off.
func (s *Server) beginSegment(req *http.Request, route Route, callerHeader string) *stageSegment {
	s.xrayMu.Lock()
	on := s.xray != nil
	s.xrayMu.Unlock()
	if !on {
		return nil
	}
	now := time.Now()
	root, parent := spec.TraceIDs(callerHeader)
	if root == "" {
		root, parent = fmt.Sprintf("1-%08x-%s", now.Unix(), spec.RandomHex(12)), ""
	}
	clientIP := req.RemoteAddr
	if i := strings.LastIndexByte(clientIP, ':'); i > 0 {
		clientIP = clientIP[:i]
	}
	return &stageSegment{
		ID: spec.RandomHex(8), TraceID: root, ParentID: parent,
		Name: route.APIID + "/" + route.Stage, Origin: "AWS::ApiGateway::Stage",
		StartTime: epoch(now),
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
func (s *Server) endSegment(seg *stageSegment, status int) {
	seg.EndTime = epoch(time.Now())
	seg.HTTP["response"] = map[string]any{"status": status}
	seg.Error = status >= 400 && status < 500
	seg.Fault = status >= 500
	doc, err := json.Marshal(seg)
	if err != nil {
		s.log.Warn("api x-ray segment", "error", err)
		return
	}
	s.xrayMu.Lock()
	defer s.xrayMu.Unlock()
	if s.xray == nil {
		return
	}
	if _, err := s.xray.Write(append([]byte("{\"format\": \"json\", \"version\": 1}\n"), doc...)); err != nil {
		s.log.Warn("api x-ray segment", "error", err)
	}
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// statusRecorder remembers the status written, for the segment.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
