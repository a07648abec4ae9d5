package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
	"github.com/stream-to-events/stream-to-events/internal/transform"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
	"github.com/stream-to-events/stream-to-events/test/lambdatest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func newHandler(t *testing.T, tr *awsfake.Transport, logs *bytes.Buffer) *Handler {
	t.Helper()
	set, err := contracts.Load("../../layers/contracts")
	if err != nil {
		t.Fatal(err)
	}
	client := sqs.NewFromConfig(tr.Config(t.Context()))
	return &Handler{
		Transformer: &transform.Transformer{Parser: record.NewParser(set), Sender: queue.NewSender(client, "https://sqs.us-east-1.amazonaws.com/123456789012/IngestQueue.fifo")},
		Logger:      slog.New(slog.NewJSONHandler(logs, nil)),
		Metrics:     io.Discard,
	}
}

// result is a response record as a reader checks it: the data decoded.
type result struct {
	RecordID string `json:"recordId"`
	Result   string `json:"result"`
	Data     string `json:"data"`
}

func TestHandleFixture(t *testing.T) {
	payload, err := os.ReadFile("../../events/firehose-transform.json")
	if err != nil {
		t.Fatal(err)
	}
	tr := &awsfake.Transport{Respond: awsfake.SQSTakesAll, Record: true}
	var logs, emf bytes.Buffer
	h := newHandler(t, tr, &logs)
	h.Metrics = &emf
	out, err := lambda.NewHandler(h.Handle).Invoke(t.Context(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisFirehoseEvent
	var resp events.KinesisFirehoseResponse
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Records) != len(ev.Records) {
		t.Fatalf("%d records answered, %d sent", len(resp.Records), len(ev.Records))
	}
	var got []result
	var okBodies []string
	for i, r := range resp.Records {
		in := ev.Records[i]
		if r.RecordID != in.RecordID {
			t.Errorf("record %d answered as %q, want %q", i, r.RecordID, in.RecordID)
		}
		switch r.Result {
		case events.KinesisFirehoseTransformedStateOk:
			var rec record.Record
			if err := json.Unmarshal(r.Data, &rec); err != nil {
				t.Errorf("record %s: %v", r.RecordID, err)
			}
			if want, _ := json.Marshal(rec); string(want)+"\n" != string(r.Data) {
				t.Errorf("record %s is not a canonical JSON line: %q", r.RecordID, r.Data)
			}
			if rec.Source != "stream-to-events-ingest" {
				t.Errorf("record %s has source %q, want the delivery stream's name", r.RecordID, rec.Source)
			}
			okBodies = append(okBodies, strings.TrimSuffix(string(r.Data), "\n"))
		case events.KinesisFirehoseTransformedStateProcessingFailed:
			if !bytes.Equal(r.Data, in.Data) {
				t.Errorf("failed record %s: data %q, want the original bytes", r.RecordID, r.Data)
			}
			if !strings.Contains(logs.String(), r.RecordID) {
				t.Errorf("failed record %s not logged: %s", r.RecordID, logs.String())
			}
		default:
			t.Errorf("record %s: result %q", r.RecordID, r.Result)
		}
		got = append(got, result{r.RecordID, r.Result, string(r.Data)})
	}
	var sent []string
	for _, req := range tr.Requests() {
		var in struct {
			Entries []struct{ MessageBody string }
		}
		if err := json.Unmarshal(req.Body, &in); err != nil {
			t.Fatal(err)
		}
		for _, e := range in.Entries {
			sent = append(sent, e.MessageBody)
		}
	}
	if strings.Join(sent, "\n") != strings.Join(okBodies, "\n") {
		t.Errorf("queue got\n%s\nwant exactly the Ok records\n%s", strings.Join(sent, "\n"), strings.Join(okBodies, "\n"))
	}
	golden(t, "testdata/firehose-transform.golden.json", got)
	failed := len(resp.Records) - len(okBodies)
	if want := fmt.Sprintf(`"Hop":"transform","RecordsIn":%d,"RecordsOut":%d,"RecordsFailed":%d`, len(resp.Records), len(okBodies), failed); !strings.Contains(emf.String(), want) {
		t.Errorf("EMF line %s, want %s", emf.String(), want)
	}
}

func golden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("response differs from %s:\n%s", path, got)
	}
}

func TestHandleMalformedEvents(t *testing.T) {
	const arn = `"deliveryStreamArn":"arn:aws:firehose:us-east-1:123456789012:deliverystream/ingest"`
	tests := []struct {
		name, payload string
		wantErr       string // "" when the invocation succeeds
		wantResponse  string
	}{
		{"empty batch", `{` + arn + `,"records":[]}`, "", `{"records":[]}`},
		{"no records field", `{` + arn + `}`, "", `{"records":[]}`},
		{"bad base64", `{` + arn + `,"records":[{"recordId":"r1","approximateArrivalTimestamp":1795428000456,"data":"not base64!"}]}`, "illegal base64", ""},
		{"not JSON", `{"records":`, "unexpected", ""},
		{"data of the wrong type", `{` + arn + `,"records":[{"recordId":"r1","approximateArrivalTimestamp":1795428000456,"data":5}]}`, "cannot unmarshal", ""},
		{"no delivery stream", `{"records":[{"recordId":"r1","approximateArrivalTimestamp":1795428000456,"data":"e30="}]}`, "deliveryStreamArn", ""},
		{"no record id", `{` + arn + `,"records":[{"approximateArrivalTimestamp":1795428000456,"data":"e30="}]}`, "no recordId", ""},
		{"no arrival timestamp", `{` + arn + `,"records":[{"recordId":"r1","data":"e30="}]}`, "approximateArrivalTimestamp", ""},
		{"record without data", `{` + arn + `,"records":[{"recordId":"r1","approximateArrivalTimestamp":1795428000456}]}`, "", `"result":"ProcessingFailed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &awsfake.Transport{Respond: awsfake.SQSTakesAll, Record: true}
			var logs bytes.Buffer
			out, err := lambda.NewHandler(newHandler(t, tr, &logs).Handle).Invoke(t.Context(), []byte(tt.payload))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if len(tr.Requests()) != 0 {
					t.Errorf("a malformed event sent %d calls to the queue", len(tr.Requests()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tt.wantResponse) {
				t.Errorf("response %s, want %s", out, tt.wantResponse)
			}
		})
	}
}

// TestHandleQueueRefusals: a queue that keeps failing fails the invocation (Firehose retries the
// batch, and no record is Ok without being on the queue); an entry SQS refuses as malformed is
// ProcessingFailed and the rest of the batch goes on.
func TestHandleQueueRefusals(t *testing.T) {
	awsfake.NoRetryWait(t)
	payload, err := os.ReadFile("../../events/firehose-transform.json")
	if err != nil {
		t.Fatal(err)
	}
	down := func(string, []byte) (int, string) {
		return 500, `{"__type":"com.amazonaws.sqs#InternalError","message":"we are down"}`
	}
	refuseFirst := func(target string, body []byte) (int, string) {
		status, resp := awsfake.SQSTakesAll(target, body)
		if status != 200 {
			return status, resp
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(resp), &out)
		ok := out["Successful"].([]any)
		first := ok[0].(map[string]any)
		out["Successful"] = ok[1:]
		out["Failed"] = []any{map[string]any{"Id": first["Id"], "Code": "InvalidMessageContents", "Message": "bad body", "SenderFault": true}}
		b, _ := json.Marshal(out)
		return 200, string(b)
	}
	t.Run("queue down", func(t *testing.T) {
		var logs bytes.Buffer
		out, err := lambda.NewHandler(newHandler(t, &awsfake.Transport{Respond: down}, &logs).Handle).Invoke(t.Context(), payload)
		if err == nil || !strings.Contains(err.Error(), "not on the queue") {
			t.Fatalf("Invoke = %s, %v; want an error so Firehose retries the batch", out, err)
		}
	})
	t.Run("one entry refused for good", func(t *testing.T) {
		var logs bytes.Buffer
		out, err := lambda.NewHandler(newHandler(t, &awsfake.Transport{Respond: refuseFirst}, &logs).Handle).Invoke(t.Context(), payload)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.KinesisFirehoseResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		var results []string
		for _, r := range resp.Records {
			results = append(results, r.Result)
		}
		want := "ProcessingFailed Ok Ok Ok Ok ProcessingFailed"
		if got := strings.Join(results, " "); got != want {
			t.Errorf("results %s, want %s", got, want)
		}
		if !strings.Contains(logs.String(), "InvalidMessageContents") {
			t.Errorf("the queue's reason is not logged: %s", logs.String())
		}
	})
}

// stuckQueue never answers until the context ends.
type stuckQueue struct{}

func (stuckQueue) SendMessages(ctx context.Context, _ []queue.Message, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestAnswersBeforeTheDeadline: when SQS does not answer, the invocation fails with a reason
// before Lambda's deadline instead of timing out.
func TestAnswersBeforeTheDeadline(t *testing.T) {
	payload, err := os.ReadFile("../../events/firehose-transform.json")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := newHandler(t, &awsfake.Transport{Respond: awsfake.SQSTakesAll}, &logs)
	h.Transformer.Sender = stuckQueue{}
	_, err = lambdatest.InvokeBeforeDeadline(t, h.Handle, payload, batch.DeadlineReserve)
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("err = %v, want the deadline named", err)
	}
}

// firehoseOK answers PutRecordBatch as Firehose does when it takes every record, and counts
// them; other calls go to awsfake.SQSTakesAll.
func firehoseOK(reput *int) func(string, []byte) (int, string) {
	return func(target string, body []byte) (int, string) {
		if target != "Firehose_20150804.PutRecordBatch" {
			return awsfake.SQSTakesAll(target, body)
		}
		var in struct{ Records []struct{ Data []byte } }
		if err := json.Unmarshal(body, &in); err != nil {
			return 400, `{"__type":"SerializationException","message":"bad JSON"}`
		}
		*reput += len(in.Records)
		rr := strings.Repeat(`{"RecordId":"r"},`, len(in.Records))
		return 200, `{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[` + strings.TrimSuffix(rr, ",") + `]}`
	}
}

// tinyEvent is a transformation event of n distinct raw records of 26 bytes, like small IoT
// readings.
func tinyEvent(t *testing.T, n int) []byte {
	t.Helper()
	data := make([]string, n)
	for i := range data {
		data[i] = fmt.Sprintf(`{"sensor":"%06d","t":21}`, i)
	}
	if len(data[0]) != 26 {
		t.Fatalf("tiny records of %d bytes", len(data[0]))
	}
	return eventOf(t, data...)
}

// eventOf is a transformation event of records with these data.
func eventOf(t *testing.T, data ...string) []byte {
	t.Helper()
	ev := events.KinesisFirehoseEvent{DeliveryStreamArn: "arn:aws:firehose:us-east-1:123456789012:deliverystream/ingest"}
	at := events.MilliSecondsEpochTime{Time: time.UnixMilli(1795428000456)}
	for i, d := range data {
		ev.Records = append(ev.Records, events.KinesisFirehoseEventRecord{RecordID: fmt.Sprintf("%056d", i),
			ApproximateArrivalTimestamp: at, Data: []byte(d)})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnswerSize: the answer writes no empty metadata and no data for a Dropped record,
// transform.AnswerRecordLen counts exactly what it writes, and a buffer of tens of thousands of
// tiny records, which once made an answer of 574 bytes a record, is answered under Lambda's
// 6 MB: the records that do not fit are put back into the stream and answered Dropped.
func TestAnswerSize(t *testing.T) {
	byName := map[string]transform.Result{}
	for r, name := range results {
		byName[name] = r
	}
	tests := []struct {
		name       string
		payload    []byte
		maxRecords int
		want       map[string]int // results by name
	}{
		{"Ok, ProcessingFailed and Dropped", eventOf(t, `{"a":1}`, "not JSON", `{"type":"order","key":"k","data":{}}`, "", `{"b":"<&>"}`, `{"c":3}`, `{"d":4}`),
			5, map[string]int{"Ok": 2, "ProcessingFailed": 3, "Dropped": 2}},
		{"30,000 tiny records, bounded by count", tinyEvent(t, 30_000), 0, map[string]int{"Ok": transform.DefaultMaxRecords, "Dropped": 30_000 - transform.DefaultMaxRecords}},
		{"30,000 tiny records, bounded by size", tinyEvent(t, 30_000), 1 << 30, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reput := 0
			var logs bytes.Buffer
			h := newHandler(t, &awsfake.Transport{Respond: firehoseOK(&reput)}, &logs)
			h.Transformer.MaxRecords = tt.maxRecords
			h.Transformer.Reingester = &transform.Reingester{Client: firehose.NewFromConfig((&awsfake.Transport{Respond: firehoseOK(&reput)}).Config(t.Context())), Policy: batch.DefaultPolicy}
			out, err := lambda.NewHandler(h.Handle).Invoke(t.Context(), tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			var resp struct{ Records []map[string]any }
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			counted, got := 0, map[string]int{}
			for _, r := range resp.Records {
				result, _ := r["result"].(string)
				got[result]++
				data, _ := r["data"].(string)
				dataLen := 0
				if data != "" {
					b, err := base64.StdEncoding.DecodeString(data)
					if err != nil {
						t.Fatal(err)
					}
					dataLen = len(b)
				}
				if _, ok := r["metadata"]; ok {
					t.Fatalf("record answered with metadata: %v", r)
				}
				if _, ok := r["data"]; ok == (result == "Dropped") && result != "ProcessingFailed" {
					t.Fatalf("record answered %v: a Dropped record has no data, an Ok one has", r)
				}
				counted += transform.AnswerRecordLen(r["recordId"].(string), byName[result], dataLen)
			}
			counted += len(`{"records":[]}`) - 1 // the envelope, and no comma after the last record
			if len(out) != counted {
				t.Errorf("answer of %d bytes, AnswerRecordLen counts %d", len(out), counted)
			}
			if len(out) > transform.AnswerLimit {
				t.Errorf("answer of %d bytes, over Lambda's limit", len(out))
			}
			if tt.want != nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("results %v, want %v", got, tt.want)
			}
			if reput != got["Dropped"] || got["Dropped"] == 0 {
				t.Errorf("%d records put back, %d answered Dropped", reput, got["Dropped"])
			}
			t.Logf("%d records: answer of %d bytes (%d a record), %v", len(resp.Records), len(out), len(out)/len(resp.Records), got)
		})
	}
}
