package badinput

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/api"
	"github.com/stream-to-events/stream-to-events/local/runner"
)

// testAPI sends bad requests to the local REST API (API Gateway's routing in front of the real
// RecordsApiFunction bootstrap, over the projection the firehose part filled). Each must be
// answered with the status API Gateway or the API documents, as JSON with a message: a 4xx,
// never a 5xx, and the function keeps answering afterwards.
func testAPI(t *testing.T, r *runner.Runner) {
	base := r.APIURL()
	if base == "" {
		t.Fatal("the REST API does not run")
	}
	// A real token from a real listing, to forge from.
	status, body := get(t, base+"/records/widget?limit=1")
	var page struct{ Next string }
	if status != 200 || json.Unmarshal([]byte(body), &page) != nil {
		t.Fatalf("GET /records/widget?limit=1 = %d %s", status, body)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	tampered := []byte(api.EncodeNext("widget", "w-1"))
	tampered[len(tampered)/2] ^= 0x01

	tests := []struct {
		name, method, path string
		want               int
	}{
		// Routes API Gateway does not have: its own 403, before the function.
		{"unknown route", "GET", "/nope", 403},
		{"root", "GET", "/", 403},
		{"records without a type", "GET", "/records", 403},
		{"too many segments", "GET", "/records/order/a/b", 403},
		{"a method the API does not have", "POST", "/records/order", 403},
		{"DELETE of a record", "DELETE", "/records/order/SKU-1", 403},
		// limit: 1 to 100, digits only.
		{"limit zero", "GET", "/records/order?limit=0", 400},
		{"limit negative", "GET", "/records/order?limit=-1", 400},
		{"limit over 100", "GET", "/records/order?limit=101", 400},
		{"limit not a number", "GET", "/records/order?limit=ten", 400},
		{"limit as an exponent", "GET", "/records/order?limit=1e2", 400},
		{"limit with a plus sign", "GET", "/records/order?limit=%2B5", 400},
		{"limit empty", "GET", "/records/order?limit=", 400},
		{"limit twice", "GET", "/records/order?limit=1&limit=2", 400},
		{"limit beyond int64", "GET", "/records/order?limit=99999999999999999999999999", 400},
		{"limit of 10,000 digits", "GET", "/records/order?limit=" + strings.Repeat("9", 10_000), 400},
		{"limit with a NUL byte", "GET", "/records/order?limit=1%00", 400},
		// next: opaque, for one type, and checked before the store is asked.
		{"next not base64", "GET", "/records/order?next=!!!", 400},
		{"next base64 of junk", "GET", "/records/order?next=" + b64([]byte("\x00\xffjunk")), 400},
		{"next of another type", "GET", "/records/order?next=" + page.Next, 400},
		{"next with one bit flipped", "GET", "/records/widget?next=" + string(tampered), 400},
		{"next with an unknown field", "GET", "/records/widget?next=" + b64([]byte(`{"t":"widget","k":"w-1","admin":true}`)), 400},
		{"next with a key over 1024 bytes", "GET", "/records/widget?next=" + b64([]byte(`{"t":"widget","k":"`+strings.Repeat("k", 2000)+`"}`)), 400},
		{"next of 8 KiB", "GET", "/records/widget?next=" + strings.Repeat("A", 8<<10), 400},
		{"next empty", "GET", "/records/widget?next=", 400},
		{"next twice", "GET", "/records/widget?next=" + page.Next + "&next=" + page.Next, 400},
		// Injection-like parameters: the type is checked, the key is only ever a key.
		{"SQL in the type", "GET", "/records/" + url.PathEscape("order' OR '1'='1"), 400},
		{"NoSQL operator in the type", "GET", "/records/" + url.PathEscape(`{"$ne":null}`), 400},
		{"template expression in the type", "GET", "/records/" + url.PathEscape("${jndi:ldap:x}"), 400},
		{"type of 65 characters", "GET", "/records/" + strings.Repeat("t", 65), 400},
		{"SQL in the key", "GET", "/records/order/" + url.PathEscape(`x'; DROP TABLE records; --`), 404},
		{"DynamoDB expression in the key", "GET", "/records/order/" + url.PathEscape(`SKU-1" OR begins_with(pk, "`), 404},
		{"script in the key", "GET", "/records/order/" + url.PathEscape(`<img src=x onerror=alert(1)>`), 404},
		// API Gateway routes on the path as sent: an encoded slash stays in the key, which is
		// only ever looked up; bare dot segments make a path no route of the API matches.
		{"path traversal in the key", "GET", "/records/order/..%2F..%2Fetc%2Fpasswd", 404},
		{"dot segments in the path", "GET", "/records/order/../../../etc/passwd", 403},
		{"NUL byte in the key", "GET", "/records/order/a%00b", 404},
		{"invalid UTF-8 in the key", "GET", "/records/order/%FF%FE", 400},
		{"key of 2,000 bytes", "GET", "/records/order/" + strings.Repeat("k", 2000), 400},
	}
	var table strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, contentType := do(t, tt.method, base+tt.path)
			var answer struct {
				Message *string `json:"message"`
			}
			if err := json.Unmarshal([]byte(body), &answer); err != nil || answer.Message == nil || !strings.HasPrefix(contentType, "application/json") {
				t.Errorf("%s %s = %d %s %q; want a JSON answer with a message", tt.method, clip(tt.path, 80), status, contentType, clip(body, 200))
			}
			if status != tt.want {
				t.Errorf("%s %s = %d %s, want %d", tt.method, clip(tt.path, 80), status, clip(body, 200), tt.want)
			}
			table.WriteString("\n  " + clip(tt.name, 40) + strings.Repeat(" ", max(0, 42-len(clip(tt.name, 40)))) + http.StatusText(status) + ": " + clip(derefOr(answer.Message), 90))
		})
	}
	t.Logf("bad API requests (input → result):%s", table.String())

	// After all that, the API still answers a good request.
	if status, body := get(t, base+"/records/widget/w-1"); status != 200 {
		t.Errorf("GET /records/widget/w-1 after the bad requests = %d %s", status, body)
	}
}

func derefOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	status, body, _ := do(t, http.MethodGet, u)
	return status, body
}

func do(t *testing.T, method, u string) (status int, body, contentType string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, clip(u, 100), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}
