package xraylocal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/xray"

	"github.com/stream-to-events/stream-to-events/local/spec"
)

// batchGetTracesMax is the X-Ray API's limit of trace IDs per BatchGetTraces call.
const batchGetTracesMax = 5

// FetchTraces reads the newest n traces that started since `since` back from the X-Ray API at
// endpoint (the edge, or moto) and assembles them as trees, for a process that is not the one
// running the daemon (`s2e-local traces` while `start` runs elsewhere). n <= 0 returns them all.
func FetchTraces(ctx context.Context, endpoint string, since time.Time, n int) ([]Trace, error) {
	ids, err := traceSummaryIDs(ctx, endpoint, since, time.Now().Add(time.Minute))
	if err != nil {
		return nil, err
	}
	api := newXRayClient(endpoint)
	var traces []Trace
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), batchGetTracesMax)]
		ids = ids[len(chunk):]
		out, err := api.BatchGetTraces(ctx, &xray.BatchGetTracesInput{TraceIds: chunk})
		if err != nil {
			return nil, fmt.Errorf("batch-get-traces: %w", err)
		}
		for _, tr := range out.Traces {
			docs := map[string]Document{}
			for _, seg := range tr.Segments {
				var doc Document
				if err := json.Unmarshal([]byte(aws.ToString(seg.Document)), &doc); err != nil || doc.ID == "" {
					continue // a document this package cannot read is left out of the tree, not fatal
				}
				docs[doc.ID] = doc
			}
			traces = append(traces, assemble(aws.ToString(tr.Id), docs))
		}
	}
	sortNewestFirst(traces)
	if n > 0 && len(traces) > n {
		traces = traces[:n]
	}
	return traces, nil
}

// traceSummaryIDs calls GetTraceSummaries without the SDK's decoder: moto answers "Users": {}
// where the API has a list, which the Go SDK refuses, so only the IDs are read.
func traceSummaryIDs(ctx context.Context, endpoint string, start, end time.Time) ([]string, error) {
	var ids []string
	var next string
	for {
		in := map[string]any{"StartTime": start.Unix(), "EndTime": end.Unix()}
		if next != "" {
			in["NextToken"] = next
		}
		body, _ := json.Marshal(in)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/TraceSummaries", bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("get-trace-summaries: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: spec.RunnerAccessKey, SecretAccessKey: "test"}
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "xray", spec.Region, time.Now()); err != nil {
			return nil, fmt.Errorf("get-trace-summaries: sign: %w", err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("get-trace-summaries: %w", err)
		}
		b, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("get-trace-summaries: %w", err)
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("get-trace-summaries: %s: %s", res.Status, b)
		}
		var out struct {
			TraceSummaries []struct{ Id string }
			NextToken      string
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("get-trace-summaries: answer %.200s: %w", b, err)
		}
		for _, s := range out.TraceSummaries {
			ids = append(ids, s.Id)
		}
		if out.NextToken == "" {
			return ids, nil
		}
		next = out.NextToken
	}
}
