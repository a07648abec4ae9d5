package firehose

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// maxInvocationPayload is Lambda's synchronous invocation limit, which a transformation event
// must fit in.
const maxInvocationPayload = 6 << 20

// eventOverhead is an upper bound of a transformation event's bytes besides the records', and
// recordOverhead of one record's besides its base64 data.
const (
	eventOverhead  = 512
	recordOverhead = 128
)

// tick is how often a stream looks at its buffers' age.
const tick = 50 * time.Millisecond

type inRecord struct {
	id      string
	data    []byte
	arrival time.Time
	kinesis *kinesisRecordMetadata // where a Kinesis-sourced stream read the record; nil for puts
}

type outRecord struct {
	data    []byte
	arrival time.Time
}

// errorRecord is Firehose's error record format for a record that failed processing.
type errorRecord struct {
	AttemptsMade           int    `json:"attemptsMade"`
	ArrivalTimestamp       int64  `json:"arrivalTimestamp"`
	ErrorCode              string `json:"errorCode"`
	ErrorMessage           string `json:"errorMessage"`
	AttemptEndingTimestamp int64  `json:"attemptEndingTimestamp"`
	RawData                []byte `json:"rawData"`
	LambdaARN              string `json:"lambdaArn"`
	arrival                time.Time
}

// transformationEvent is the event Firehose sends a processor for a DirectPut stream. It is
// declared here rather than taken from events.KinesisFirehoseEvent because that type always
// writes the Kinesis-source fields (sourceKinesisStreamArn, kinesisRecordMetadata), which a
// DirectPut event does not have.
// A Kinesis-sourced stream's event also names the source stream and each record's place in it.
type transformationEvent struct {
	InvocationID           string                `json:"invocationId"`
	SourceKinesisStreamARN string                `json:"sourceKinesisStreamArn,omitempty"`
	DeliveryStreamARN      string                `json:"deliveryStreamArn"`
	Region                 string                `json:"region"`
	Records                []transformationInput `json:"records"`
}

type transformationInput struct {
	RecordID                    string                 `json:"recordId"`
	ApproximateArrivalTimestamp int64                  `json:"approximateArrivalTimestamp"`
	Data                        []byte                 `json:"data"`
	KinesisRecordMetadata       *kinesisRecordMetadata `json:"kinesisRecordMetadata,omitempty"`
}

type stream struct {
	cfg  streamConfig
	inv  spec.Invoker
	s3   objectPutter
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	in       []inRecord // waiting for the processor
	inBytes  int
	out      []outRecord // waiting for delivery
	outBytes int
	nextID   uint64
	kick     chan struct{}

	work sync.Mutex // one processing or delivery at a time

	nIn, nDelivered, nDropped, nFailed atomic.Int64
}

func newStream(c streamConfig, inv spec.Invoker, s3c objectPutter, opts Options) *stream {
	return &stream{cfg: c, inv: inv, s3: s3c, opts: opts, kick: make(chan struct{}, 1),
		log: opts.Logger.With("deliveryStream", c.Name)}
}

func (s *stream) counts() Counts {
	return Counts{In: s.nIn.Load(), Delivered: s.nDelivered.Load(), Dropped: s.nDropped.Load(), Failed: s.nFailed.Load()}
}

// put buffers accepted records and returns their record IDs.
func (s *stream) put(data [][]byte, now time.Time) []string {
	recs := make([]inRecord, len(data))
	for i, d := range data {
		recs[i] = inRecord{data: d, arrival: now}
	}
	return s.add(recs)
}

// add buffers records (their arrival set, their id not) and returns their record IDs.
func (s *stream) add(recs []inRecord) []string {
	ids := make([]string, len(recs))
	s.mu.Lock()
	for i, r := range recs {
		s.nextID++
		// Firehose's record IDs are long opaque digit strings, unique per stream.
		ids[i] = fmt.Sprintf("%019d%037d", r.arrival.UnixMilli(), s.nextID)
		r.id = ids[i]
		if s.cfg.Processor != nil {
			s.in = append(s.in, r)
			s.inBytes += len(r.data)
		} else {
			s.out = append(s.out, outRecord{data: r.data, arrival: r.arrival})
			s.outBytes += len(r.data)
		}
	}
	full := s.inBytes >= s.processorSize() || s.outBytes >= s.cfg.BufferSize
	s.mu.Unlock()
	s.nIn.Add(int64(len(recs)))
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return ids
}

func (s *stream) processorSize() int {
	if s.cfg.Processor == nil {
		return s.cfg.BufferSize
	}
	return s.cfg.Processor.BufferSize
}

// run processes and delivers whenever a buffer is full or old enough, until stop.
func (s *stream) run(stop <-chan struct{}) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.kick:
		case <-t.C:
		}
		s.step(context.Background(), time.Now(), false)
	}
}

// flush processes and delivers everything buffered now.
func (s *stream) flush(ctx context.Context) error {
	s.step(ctx, time.Now(), true)
	s.mu.Lock()
	left := len(s.in) + len(s.out)
	s.mu.Unlock()
	if left > 0 && ctx.Err() != nil {
		return fmt.Errorf("delivery stream %s: %d records still buffered: %w", s.cfg.Name, left, ctx.Err())
	}
	return nil
}

// step takes what is due from the buffers: the processor's buffer when it is full or its oldest
// record waited the processor's interval, the destination's likewise; all of both when force.
func (s *stream) step(ctx context.Context, now time.Time, force bool) {
	s.work.Lock()
	defer s.work.Unlock()

	s.mu.Lock()
	var in []inRecord
	if len(s.in) > 0 && (force || s.inBytes >= s.processorSize() || now.Sub(s.in[0].arrival) >= s.cfg.Processor.BufferInterval) {
		in, s.in, s.inBytes = s.in, nil, 0
	}
	s.mu.Unlock()
	if len(in) > 0 {
		ok, failed := s.process(ctx, in)
		s.mu.Lock()
		for _, r := range ok {
			s.out = append(s.out, r)
			s.outBytes += len(r.data)
		}
		s.mu.Unlock()
		if len(failed) > 0 {
			s.deliverErrors(ctx, failed)
		}
	}

	s.mu.Lock()
	var out []outRecord
	if len(s.out) > 0 && (force || s.outBytes >= s.cfg.BufferSize || now.Sub(s.out[0].arrival) >= s.cfg.BufferInterval) {
		out, s.out, s.outBytes = s.out, nil, 0
	}
	s.mu.Unlock()
	if len(out) > 0 {
		s.deliver(ctx, out)
	}
}

// process runs the processor over records, in invocations of at most the processor's buffer
// size (records that piled up while an invocation ran are not sent all at once) and of at most
// Lambda's 6 MB payload.
func (s *stream) process(ctx context.Context, records []inRecord) (ok []outRecord, failed []errorRecord) {
	raw := func(r inRecord) int { return len(r.data) }
	encoded := func(r inRecord) int { return base64.StdEncoding.EncodedLen(len(r.data)) + recordOverhead }
	for _, buffer := range batch.Chunks(records, len(records), s.processorSize(), raw) {
		for _, chunk := range batch.Chunks(buffer, len(buffer), maxInvocationPayload-eventOverhead, encoded) {
			o, f := s.invoke(ctx, chunk)
			ok = append(ok, o...)
			failed = append(failed, f...)
		}
	}
	return ok, failed
}

// invoke sends one transformation event, retrying a failed invocation (function error, timeout,
// invalid response) NumberOfRetries times; then the whole chunk fails.
func (s *stream) invoke(ctx context.Context, chunk []inRecord) ([]outRecord, []errorRecord) {
	p := s.cfg.Processor
	ev := transformationEvent{InvocationID: newUUID(), SourceKinesisStreamARN: s.cfg.SourceStreamARN, DeliveryStreamARN: s.cfg.ARN, Region: spec.Region}
	byID := make(map[string]inRecord, len(chunk))
	for _, r := range chunk {
		ev.Records = append(ev.Records, transformationInput{RecordID: r.id, ApproximateArrivalTimestamp: r.arrival.UnixMilli(), Data: r.data,
			KinesisRecordMetadata: r.kinesis})
		byID[r.id] = r
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, s.failAll(chunk, 0, "Lambda.InvokeFailed", err.Error())
	}
	start := time.Now()
	var code, msg string
	attempts := 0
	for attempts <= p.Retries {
		if attempts > 0 {
			if p.RetryDuration > 0 && time.Since(start) >= p.RetryDuration {
				break
			}
			if err := batch.Sleep(ctx, s.opts.RetryBackoff); err != nil {
				break
			}
		}
		attempts++
		res, err := s.inv.Invoke(ctx, p.FunctionID, spec.Invocation{Payload: payload})
		switch {
		case err != nil:
			code, msg = "Lambda.InvokeFailed", err.Error()
		case res.Error != "":
			code, msg = "Lambda.FunctionError", "The Lambda function was successfully invoked but it returned an error result. "+string(res.Payload)
		default:
			ok, failed, vcode, vmsg := s.answer(res.Payload, byID, attempts)
			if vcode == "" {
				s.putMetric("ExecuteProcessing.Success", 1)
				return ok, failed
			}
			code, msg = vcode, vmsg
		}
		s.log.Warn("firehose processor invocation failed", "function", p.FunctionID, "attempt", attempts, "errorCode", code, "error", msg)
		s.putMetric("ExecuteProcessing.Success", 0)
	}
	return nil, s.failAll(chunk, attempts, code, msg)
}

// answer checks the processor's response as Firehose does: every record ID answered exactly
// once with a known result, else the whole invocation counts as failed (code != "").
func (s *stream) answer(payload []byte, byID map[string]inRecord, attempts int) (ok []outRecord, failed []errorRecord, code, msg string) {
	var resp events.KinesisFirehoseResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return nil, nil, "Lambda.JsonProcessingException", "There was an error parsing returned records from the Lambda function: " + err.Error()
	}
	seen := make(map[string]bool, len(resp.Records))
	for _, r := range resp.Records {
		if _, known := byID[r.RecordID]; !known {
			return nil, nil, "Lambda.MissingRecordId", fmt.Sprintf("The Lambda function returned record ID %q that was not in the invocation.", r.RecordID)
		}
		if seen[r.RecordID] {
			return nil, nil, "Lambda.DuplicatedRecordId", fmt.Sprintf("Multiple records were returned with the same record ID %q.", r.RecordID)
		}
		seen[r.RecordID] = true
		switch r.Result {
		case events.KinesisFirehoseTransformedStateOk, events.KinesisFirehoseTransformedStateDropped, events.KinesisFirehoseTransformedStateProcessingFailed:
		default:
			return nil, nil, "Lambda.JsonProcessingException", fmt.Sprintf("Record %q has result %q; expected Ok, Dropped or ProcessingFailed.", r.RecordID, r.Result)
		}
	}
	if len(seen) != len(byID) {
		return nil, nil, "Lambda.MissingRecordId", fmt.Sprintf("One or more record IDs weren't returned: %d of %d answered.", len(seen), len(byID))
	}
	now := time.Now()
	for _, r := range resp.Records {
		orig := byID[r.RecordID]
		switch r.Result {
		case events.KinesisFirehoseTransformedStateOk:
			ok = append(ok, outRecord{data: r.Data, arrival: orig.arrival})
		case events.KinesisFirehoseTransformedStateDropped:
			s.nDropped.Add(1)
		default:
			failed = append(failed, errorRecord{
				AttemptsMade: attempts, ArrivalTimestamp: orig.arrival.UnixMilli(),
				ErrorCode: "Lambda.ProcessingFailed", ErrorMessage: "The Lambda function returned ProcessingFailed for the record.",
				AttemptEndingTimestamp: now.UnixMilli(), RawData: orig.data, LambdaARN: s.cfg.Processor.ARN + ":$LATEST",
				arrival: orig.arrival,
			})
		}
	}
	return ok, failed, "", ""
}

func (s *stream) failAll(chunk []inRecord, attempts int, code, msg string) []errorRecord {
	now := time.Now().UnixMilli()
	out := make([]errorRecord, len(chunk))
	for i, r := range chunk {
		out[i] = errorRecord{AttemptsMade: attempts, ArrivalTimestamp: r.arrival.UnixMilli(), ErrorCode: code, ErrorMessage: msg,
			AttemptEndingTimestamp: now, RawData: r.data, LambdaARN: s.cfg.Processor.ARN + ":$LATEST", arrival: r.arrival}
	}
	return out
}

// deliver writes Ok records, concatenated, as one object under the prefix.
func (s *stream) deliver(ctx context.Context, records []outRecord) {
	var body bytes.Buffer
	oldest := records[0].arrival
	for _, r := range records {
		body.Write(r.data)
		oldest = minTime(oldest, r.arrival)
	}
	key := objectKey(s.cfg.Prefix, "", s.cfg.Name, oldest, s.cfg.GZIP)
	if err := s.write(ctx, key, body.Bytes()); err != nil {
		s.log.Error("firehose delivery lost records", "records", len(records), "key", key, "error", err)
		s.nFailed.Add(int64(len(records)))
		return
	}
	s.nDelivered.Add(int64(len(records)))
}

// deliverErrors writes failed records, one JSON line each, under the error output prefix.
func (s *stream) deliverErrors(ctx context.Context, records []errorRecord) {
	var body bytes.Buffer
	oldest := records[0].arrival
	enc := json.NewEncoder(&body)
	for _, r := range records {
		_ = enc.Encode(r) // plain values: cannot fail
		oldest = minTime(oldest, r.arrival)
	}
	prefix := s.cfg.ErrorPrefix
	if prefix == "" {
		prefix = s.cfg.Prefix
	}
	key := objectKey(prefix, errorTypeProcessingFailed, s.cfg.Name, oldest, s.cfg.GZIP)
	if err := s.write(ctx, key, body.Bytes()); err != nil {
		s.log.Error("firehose error output lost records", "records", len(records), "key", key, "error", err)
	}
	s.nFailed.Add(int64(len(records)))
}

// write puts one object, gzip-compressed when the stream says so, retrying failed calls (the
// edge may inject faults) per the S3 policy.
func (s *stream) write(ctx context.Context, key string, body []byte) error {
	if s.cfg.GZIP {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, _ = zw.Write(body) // writes to memory: cannot fail
		_ = zw.Close()
		body = z.Bytes()
	}
	_, err := batch.Retry(ctx, s.opts.S3Policy, []string{key}, func(ctx context.Context, _ []string) ([]string, error) {
		in := &s3.PutObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body)))}
		_, err := s.s3.PutObject(ctx, in)
		if err != nil {
			s.log.Warn("firehose S3 write failed", "bucket", s.cfg.Bucket, "key", key, "error", err)
		}
		return nil, err
	})
	if err != nil {
		s.putMetric("DeliveryToS3.Success", 0)
		return fmt.Errorf("put s3://%s/%s: %w", s.cfg.Bucket, key, err)
	}
	s.putMetric("DeliveryToS3.Success", 1)
	return nil
}

// putMetric writes one of the stream's AWS/Firehose metrics.
func (s *stream) putMetric(name string, v float64) {
	s.opts.Metrics.Put("AWS/Firehose", name, map[string]string{"DeliveryStreamName": s.cfg.Name}, v)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
