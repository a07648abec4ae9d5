package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// FetchLocal asks a running local edge (GET /_local/alarms) to evaluate the stack's alarms, as
// `s2e status --endpoint` shows them.
func FetchLocal(ctx context.Context, endpoint string) ([]Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/_local/alarms", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req) // #nosec G704 -- the endpoint the user named, the local edge
	if err != nil {
		return nil, fmt.Errorf("the local edge at %s: %w (is s2e-local start running?)", endpoint, err)
	}
	defer resp.Body.Close()
	var body struct {
		Alarms  []Status
		Message string
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("the local edge's alarms: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the local edge's alarms: %s: %s", resp.Status, body.Message)
	}
	return body.Alarms, nil
}
