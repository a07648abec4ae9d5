package main

import (
	"context"
	"crypto/md5" // #nosec G501 -- SQS names message bodies by their MD5, not a security use
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/stream-to-events/stream-to-events/bench/report"
	"github.com/stream-to-events/stream-to-events/cmd/generator/generate"
	"github.com/stream-to-events/stream-to-events/local/lambdaproc"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// fullTransformerBatch invokes the transformer once with a Firehose batch as large as the
// template lets Firehose hand it (ProcessorBufferSizeMB), against an in-process SQS that accepts
// every SendMessageBatch at once, and returns its REPORT: the peak memory under a full batch,
// which the local run's smaller batches do not reach, and the duration without moto's waits.
func fullTransformerBatch(ctx context.Context, fn spec.Function, bufferMB float64) (report.FullBatch, error) {
	sqs := httptest.NewServer(http.HandlerFunc(answerSendMessageBatch))
	defer sqs.Close()

	limit := int(bufferMB * 1024 * 1024)
	gen, err := generate.New(generate.Options{Seed: 2, Entities: generate.MaxEntities})
	if err != nil {
		return report.FullBatch{}, err
	}
	type fhRecord struct {
		RecordID string `json:"recordId"`
		Arrival  int64  `json:"approximateArrivalTimestamp"`
		Data     string `json:"data"`
	}
	var recs []fhRecord
	size := 0
	for {
		g := gen.Next()
		if size+len(g.Data) > limit {
			break
		}
		size += len(g.Data)
		recs = append(recs, fhRecord{RecordID: strconv.Itoa(len(recs)), Arrival: 1795428000456 + int64(len(recs)), Data: base64.StdEncoding.EncodeToString(g.Data)})
	}
	payload, err := json.Marshal(map[string]any{
		"invocationId":      "bench-full-batch",
		"deliveryStreamArn": "arn:aws:firehose:" + spec.Region + ":" + spec.Account + ":deliverystream/" + spec.StackName + "-IngestDeliveryStream",
		"region":            spec.Region,
		"records":           recs,
	})
	if err != nil {
		return report.FullBatch{}, err
	}
	reports := &report.Reports{}
	rt := lambdaproc.New(map[string]spec.Function{fn.LogicalID: fn}, lambdaproc.Options{Endpoint: sqs.URL, Logs: reports, MaxConcurrency: 1, Logger: slog.New(slog.DiscardHandler)})
	if err := rt.Start(ctx); err != nil {
		return report.FullBatch{}, err
	}
	res, err := rt.Invoke(ctx, fn.LogicalID, spec.Invocation{Payload: payload})
	_ = rt.Stop()
	if err != nil {
		return report.FullBatch{}, fmt.Errorf("full batch: %w", err)
	}
	if res.Error != "" {
		return report.FullBatch{}, fmt.Errorf("full batch: the transformer failed: %s %s", res.Error, res.Payload)
	}
	invs := reports.Invocations()
	if len(invs) == 0 {
		return report.FullBatch{}, fmt.Errorf("full batch: no REPORT line")
	}
	return report.FullBatch{Function: fn.LogicalID, Records: len(recs), Bytes: size, Invocation: invs[len(invs)-1]}, nil
}

// answerSendMessageBatch accepts every entry of a SendMessageBatch with its body's MD5, which the
// SQS client checks, and every record the transformer puts back into its delivery stream (a full
// buffer holds more records than one invocation takes on); any other call is refused.
func answerSendMessageBatch(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-Amz-Target") == "Firehose_20150804.PutRecordBatch" {
		answerPutRecordBatch(w, body)
		return
	}
	if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessageBatch" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"com.amazonaws.sqs#InvalidAction","message":"bench: only SendMessageBatch"}`)
		return
	}
	var in struct {
		Entries []struct{ Id, MessageBody string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"bad JSON"}`)
		return
	}
	type ok struct{ Id, MessageId, MD5OfMessageBody, SequenceNumber string }
	out := struct {
		Successful []ok
		Failed     []struct{}
	}{Failed: []struct{}{}}
	for i, e := range in.Entries {
		sum := md5.Sum([]byte(e.MessageBody)) // #nosec G401 -- the MD5OfMessageBody the SDK checks; nothing is protected by it
		out.Successful = append(out.Successful, ok{e.Id, "m-" + strconv.Itoa(i), hex.EncodeToString(sum[:]), strconv.Itoa(i + 1)})
	}
	_ = json.NewEncoder(w).Encode(out)
}

// answerPutRecordBatch accepts every record of a PutRecordBatch.
func answerPutRecordBatch(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	var in struct{ Records []struct{ Data []byte } }
	if err := json.Unmarshal(body, &in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"InvalidArgumentException","message":"bad JSON"}`)
		return
	}
	type answer struct{ RecordId string }
	out := struct {
		FailedPutCount   int
		Encrypted        bool
		RequestResponses []answer
	}{}
	for i := range in.Records {
		out.RequestResponses = append(out.RequestResponses, answer{"r-" + strconv.Itoa(i)})
	}
	_ = json.NewEncoder(w).Encode(out)
}
