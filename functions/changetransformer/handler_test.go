package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const golden = "testdata/firehose-kinesis-changes.golden.json"

// result is a response record as a reader checks it: the data decoded.
type result struct {
	RecordID string `json:"recordId"`
	Result   string `json:"result"`
	Data     []byte `json:"data"`
}

// TestHandleFixture runs the events/ fixture through the handler as Lambda would (JSON in, JSON
// out): the four change records come back as change lines, the stray record as ProcessingFailed
// with its bytes unchanged, and the answer is the golden file's.
func TestHandleFixture(t *testing.T) {
	payload, err := os.ReadFile("../../events/firehose-kinesis-changes.json")
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Records []struct {
			RecordID string `json:"recordId"`
			Data     []byte `json:"data"`
		} `json:"records"`
	}
	if err := json.Unmarshal(payload, &in); err != nil {
		t.Fatal(err)
	}
	var logs, emf bytes.Buffer
	h := &Handler{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &emf}
	out, err := lambda.NewHandler(h.Handle).Invoke(t.Context(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct{ Records []result }
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Records) != len(in.Records) {
		t.Fatalf("%d records answered, want %d", len(resp.Records), len(in.Records))
	}
	ops := map[string]int{}
	for i, r := range resp.Records {
		if r.RecordID != in.Records[i].RecordID {
			t.Errorf("record %d answered as %s, want %s", i, r.RecordID, in.Records[i].RecordID)
		}
		switch r.Result {
		case "Ok":
			var line struct {
				Operation string         `json:"operation"`
				Keys      map[string]any `json:"keys"`
			}
			data := r.Data
			if err := json.Unmarshal(data, &line); err != nil || !bytes.HasSuffix(data, []byte("\n")) {
				t.Errorf("record %s: %q is not one JSON line (%v)", r.RecordID, r.Data, err)
			}
			ops[line.Operation]++
		case "ProcessingFailed":
			if !bytes.Equal(r.Data, in.Records[i].Data) {
				t.Errorf("failed record %s came back as %q, want its original bytes %q", r.RecordID, r.Data, in.Records[i].Data)
			}
			ops["failed"]++
		default:
			t.Errorf("record %s: result %q", r.RecordID, r.Result)
		}
	}
	if want := map[string]int{"INSERT": 2, "MODIFY": 1, "REMOVE": 1, "failed": 1}; !mapsEqual(ops, want) {
		t.Errorf("results %v, want %v", ops, want)
	}
	if !strings.Contains(logs.String(), `"msg":"change record refused"`) || !strings.Contains(logs.String(), `"shardId":"shardId-000000000000"`) {
		t.Errorf("no warning with the refused record's shard: %s", logs.String())
	}
	if !strings.Contains(emf.String(), `"RecordsIn":5,"RecordsOut":4,"RecordsFailed":1`) {
		t.Errorf("metrics line %s, want 5 in, 4 out, 1 failed", emf.String())
	}
	checkGolden(t, out)
}

func checkGolden(t *testing.T, out []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("response differs from %s (go test -update rewrites it):\n%s", golden, pretty.Bytes())
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestHandleRefusesOtherEvents(t *testing.T) {
	tests := []struct{ name, payload, why string }{
		{"no delivery stream", `{"records":[{"recordId":"1","data":"e30="}]}`, "deliveryStreamArn"},
		{"record without ID", `{"deliveryStreamArn":"arn:aws:firehose:us-east-1:1:deliverystream/x","records":[{"data":"e30="}]}`, "recordId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Handler{Logger: slog.New(slog.DiscardHandler)}
			_, err := lambda.NewHandler(h.Handle).Invoke(t.Context(), []byte(tt.payload))
			if err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("err = %v, want one about %s", err, tt.why)
			}
		})
	}
}
