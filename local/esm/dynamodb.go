package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/spec"
)

// streamsAPI is what a shard reader calls.
type streamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

var _ streamsAPI = (*dynamodbstreams.Client)(nil)

// streamMapping is a DynamoDB stream trigger: Events.<name> with Type DynamoDB.
type streamMapping struct {
	mappingBase
	api            streamsAPI
	streamARN      string
	startAt        types.ShardIteratorType
	batchSize      int
	window         time.Duration
	bisect         bool
	maxRetries     int           // -1: until the record expires
	maxAge         time.Duration // 0: no limit
	reportFailed   bool
	filter         *filter
	destinationARN string
	destinationURL string
}

func newStreamMapping(ctx context.Context, b mappingBase) (mapping, error) {
	if !enabled(b.props) {
		return nil, nil
	}
	m := &streamMapping{mappingBase: b, api: b.c.streams}
	m.streamARN, _ = b.props["Stream"].(string)
	if m.streamARN == "" {
		return nil, errors.New("no Stream ARN")
	}
	m.startAt = types.ShardIteratorTypeTrimHorizon
	if s, _ := b.props["StartingPosition"].(string); s == "LATEST" {
		m.startAt = types.ShardIteratorTypeLatest
	}
	m.batchSize = samtemplate.Int(b.props["BatchSize"], 100)
	m.window = time.Duration(samtemplate.Int(b.props["MaximumBatchingWindowInSeconds"], 0)) * time.Second
	m.bisect = boolProp(b.props["BisectBatchOnFunctionError"], false)
	m.maxRetries = samtemplate.Int(b.props["MaximumRetryAttempts"], -1)
	if age := samtemplate.Int(b.props["MaximumRecordAgeInSeconds"], -1); age > 0 {
		m.maxAge = time.Duration(age) * time.Second
	}
	m.reportFailed = reportsItemFailures(b.props)
	f, err := newFilter(b.props["FilterCriteria"])
	if err != nil {
		return nil, err
	}
	m.filter = f
	m.destinationARN, m.destinationURL, err = destination(ctx, b.c.sqs, b.props["DestinationConfig"])
	if err != nil {
		return nil, err
	}
	return m, nil
}

// run reads every shard of the stream, each in its own goroutine: one batch in flight per shard.
func (m *streamMapping) run(ctx context.Context, stop <-chan struct{}) {
	var shards []types.Shard
	for {
		out, err := m.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(m.streamARN)})
		if err == nil {
			shards = out.StreamDescription.Shards
			break
		}
		m.log.Warn("describe stream failed", "stream", m.streamARN, "error", err)
		if !sleep(ctx, stop, time.Second) {
			return
		}
	}
	var wg sync.WaitGroup
	for _, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.readShard(ctx, stop, aws.ToString(sh.ShardId))
		}()
	}
	wg.Wait()
}

// pending is a stream record that passed the filter, as Lambda will send it.
type pending struct {
	rec     events.DynamoDBEventRecord
	created time.Time
}

func (m *streamMapping) readShard(ctx context.Context, stop <-chan struct{}, shardID string) {
	var iter *string
	var lastSeq string // of the last record read, to read on after it with a new iterator
	var buf []pending
	var firstSeen time.Time
	for !stopped(stop) && ctx.Err() == nil {
		if iter == nil {
			in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(m.streamARN), ShardId: aws.String(shardID), ShardIteratorType: m.startAt}
			if lastSeq != "" {
				in.ShardIteratorType, in.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(lastSeq)
			}
			out, err := m.api.GetShardIterator(ctx, in)
			if err != nil {
				m.log.Warn("get shard iterator failed", "shard", shardID, "error", err)
				sleep(ctx, stop, time.Second)
				continue
			}
			iter = out.ShardIterator
		}
		if len(buf) < m.batchSize {
			out, err := m.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
			if err != nil {
				// An expired or refused iterator is replaced by one after the last record read.
				m.log.Warn("get records failed", "shard", shardID, "error", err)
				iter = nil
				sleep(ctx, stop, time.Second)
				continue
			}
			iter = out.NextShardIterator
			for _, r := range out.Records {
				if r.Dynamodb != nil {
					lastSeq = aws.ToString(r.Dynamodb.SequenceNumber)
				}
				p, pass, err := m.convert(r)
				if err != nil {
					m.log.Error("stream record not convertible: skipped", "eventID", aws.ToString(r.EventID), "error", err)
					continue
				}
				if !pass {
					m.filtered.Add(1)
					continue
				}
				if len(buf) == 0 {
					firstSeen = time.Now()
				}
				buf = append(buf, p)
			}
			if iter == nil {
				m.log.Info("shard closed", "shard", shardID)
				if len(buf) > 0 {
					m.process(ctx, shardID, buf)
				}
				return
			}
		}
		if len(buf) == 0 || (len(buf) < m.batchSize && time.Since(firstSeen) < m.window) {
			sleep(ctx, stop, m.opts.StreamPollInterval)
			continue
		}
		n := min(len(buf), m.batchSize)
		m.process(ctx, shardID, buf[:n])
		buf = buf[n:]
		if len(buf) > 0 {
			firstSeen = time.Now()
		}
	}
	// On stop, what was read is still delivered: there is no checkpoint to resume from.
	for len(buf) > 0 && ctx.Err() == nil {
		n := min(len(buf), m.batchSize)
		m.process(ctx, shardID, buf[:n])
		buf = buf[n:]
	}
}

// convert builds the Lambda record of a stream record and runs the filter over it.
func (m *streamMapping) convert(r types.Record) (pending, bool, error) {
	d := r.Dynamodb
	if d == nil {
		return pending{}, false, errors.New("record without dynamodb")
	}
	change, err := spec.LambdaChange(d)
	if err != nil {
		return pending{}, false, err
	}
	rec := events.DynamoDBEventRecord{
		AWSRegion:      spec.Region,
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    "aws:dynamodb",
		EventVersion:   aws.ToString(r.EventVersion),
		EventSourceArn: m.streamARN,
		Change:         change,
	}
	if rec.EventVersion == "" {
		rec.EventVersion = "1.1"
	}
	created := time.Now()
	if d.ApproximateCreationDateTime != nil {
		created = *d.ApproximateCreationDateTime
	}
	p := pending{rec: rec, created: created}
	if m.filter == nil || len(m.filter.patterns) == 0 {
		return p, true, nil
	}
	obj, err := asJSONObject(rec)
	if err != nil {
		return p, false, err
	}
	return p, m.filter.match(obj), nil
}

// segment is part of a batch still to be delivered, with the invocations it has had.
type segment struct {
	recs     []pending
	attempts int
}

// outcome of one invocation.
type outcome struct {
	ok        bool
	partial   bool // ReportBatchItemFailures named the records to retry
	resumeAt  int  // with a partial failure: index of the first failed record
	requestID string
	errType   string
	statusErr bool // the runner could not invoke at all
}

// process delivers one batch as Lambda does for a stream: on a function error the batch is
// retried (bisected first when BisectBatchOnFunctionError; splitting is no retry); with
// ReportBatchItemFailures it resumes from the first reported record; when the retries or the
// record age run out, an OnFailure record goes to the destination and the shard moves on.
func (m *streamMapping) process(ctx context.Context, shardID string, batch []pending) {
	work := []segment{{recs: batch}}
	for len(work) > 0 {
		if ctx.Err() != nil {
			return
		}
		seg := &work[0]
		if m.maxAge > 0 && time.Since(seg.recs[0].created) > m.maxAge {
			m.onFailure(ctx, shardID, seg.recs, seg.attempts, outcome{}, "RecordAgeExceeded")
			work = work[1:]
			continue
		}
		o := m.invoke(ctx, seg.recs)
		seg.attempts++
		if o.ok {
			work = work[1:]
			continue
		}
		m.failed.Add(int64(len(seg.recs) - o.resumeAt))
		if o.partial {
			seg.recs = seg.recs[o.resumeAt:]
		} else if m.bisect && len(seg.recs) > 1 && !o.statusErr {
			half := len(seg.recs) / 2
			first := segment{recs: seg.recs[:half], attempts: seg.attempts - 1}
			second := segment{recs: seg.recs[half:], attempts: seg.attempts - 1}
			work = append([]segment{first, second}, work[1:]...)
			continue
		}
		if m.maxRetries >= 0 && seg.attempts > m.maxRetries {
			m.onFailure(ctx, shardID, seg.recs, seg.attempts, o, "RetryAttemptsExhausted")
			work = work[1:]
			continue
		}
		sleep(ctx, nil, m.opts.RetryBackoff)
	}
}

// invoke sends recs and reads the answer.
func (m *streamMapping) invoke(ctx context.Context, recs []pending) outcome {
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, len(recs))}
	for i, p := range recs {
		ev.Records[i] = p.rec
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		m.log.Error("dynamodb event not encodable", "error", err)
		return outcome{statusErr: true}
	}
	m.batches.Add(1)
	m.records.Add(int64(len(recs)))
	// Lambda's IteratorAge: how old the batch's last record is when the function gets it.
	m.opts.Metrics.Put("AWS/Lambda", "IteratorAge", map[string]string{"FunctionName": m.function.Name},
		float64(time.Since(recs[len(recs)-1].created).Milliseconds()))
	res, err := m.inv.Invoke(ctx, m.functionID, spec.Invocation{Payload: payload})
	if err != nil {
		m.log.Error("stream batch invocation failed", "error", err)
		return outcome{statusErr: true, errType: "Runtime.InvokeFailed"}
	}
	if res.Error != "" {
		m.log.Warn("stream batch function error", "errorType", res.Error, "requestId", res.RequestID, "records", len(recs))
		return outcome{requestID: res.RequestID, errType: res.Error}
	}
	if !m.reportFailed {
		return outcome{ok: true, requestID: res.RequestID}
	}
	var resp events.DynamoDBEventResponse
	if len(res.Payload) > 0 && string(res.Payload) != "null" {
		if err := json.Unmarshal(res.Payload, &resp); err != nil {
			m.log.Warn("stream batch response is no DynamoDBEventResponse: whole batch failed", "error", err)
			return outcome{requestID: res.RequestID}
		}
	}
	if len(resp.BatchItemFailures) == 0 {
		return outcome{ok: true, requestID: res.RequestID}
	}
	first := -1
	for _, f := range resp.BatchItemFailures {
		i := indexOfSequence(recs, f.ItemIdentifier)
		if i < 0 {
			m.log.Warn("stream batch response reports an unknown sequence number: whole batch failed", "itemIdentifier", f.ItemIdentifier)
			return outcome{requestID: res.RequestID}
		}
		if first < 0 || i < first {
			first = i
		}
	}
	return outcome{partial: true, resumeAt: first, requestID: res.RequestID}
}

func indexOfSequence(recs []pending, seq string) int {
	for i, p := range recs {
		if seq != "" && p.rec.Change.SequenceNumber == seq {
			return i
		}
	}
	return -1
}

// streamFailure is the record Lambda sends to a stream mapping's OnFailure destination.
type streamFailure struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError,omitempty"`
	} `json:"responseContext"`
	Version   string `json:"version"`
	Timestamp string `json:"timestamp"`
	BatchInfo struct {
		ShardID                         string `json:"shardId"`
		StartSequenceNumber             string `json:"startSequenceNumber"`
		EndSequenceNumber               string `json:"endSequenceNumber"`
		ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
		ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
		BatchSize                       int    `json:"batchSize"`
		StreamARN                       string `json:"streamArn"`
	} `json:"DDBStreamBatchInfo"`
}

// onFailure sends the OnFailure record of recs (the records themselves stay in the stream,
// 24 hours on AWS; the record says where they are) and counts them as dead-lettered.
func (m *streamMapping) onFailure(ctx context.Context, shardID string, recs []pending, attempts int, o outcome, condition string) {
	var f streamFailure
	f.RequestContext.RequestID = o.requestID
	if f.RequestContext.RequestID == "" {
		f.RequestContext.RequestID = newRequestID()
	}
	f.RequestContext.FunctionARN = m.function.ARN
	f.RequestContext.Condition = condition
	f.RequestContext.ApproximateInvokeCount = attempts
	f.ResponseContext.StatusCode = 200
	f.ResponseContext.ExecutedVersion = "$LATEST"
	if o.errType != "" {
		f.ResponseContext.FunctionError = "Unhandled"
	}
	f.Version = "1.0"
	f.Timestamp = isoMillis(time.Now())
	f.BatchInfo.ShardID = shardID
	f.BatchInfo.StartSequenceNumber = recs[0].rec.Change.SequenceNumber
	f.BatchInfo.EndSequenceNumber = recs[len(recs)-1].rec.Change.SequenceNumber
	f.BatchInfo.ApproximateArrivalOfFirstRecord = recs[0].created.UTC().Format(time.RFC3339)
	f.BatchInfo.ApproximateArrivalOfLastRecord = recs[len(recs)-1].created.UTC().Format(time.RFC3339)
	f.BatchInfo.BatchSize = len(recs)
	f.BatchInfo.StreamARN = m.streamARN
	m.deadLettered.Add(int64(len(recs)))
	log := m.log.With("condition", condition, "startSequenceNumber", f.BatchInfo.StartSequenceNumber, "batchSize", len(recs))
	if m.destinationURL == "" {
		log.Error("stream batch given up, and no OnFailure destination")
		return
	}
	body, _ := json.Marshal(f) // plain values: cannot fail
	if err := sendWithRetry(ctx, m.c.sqs, &sqs.SendMessageInput{QueueUrl: aws.String(m.destinationURL), MessageBody: aws.String(string(body))}); err != nil {
		log.Error("stream batch given up, and its OnFailure record was not sent", "destination", m.destinationARN, "error", err)
		return
	}
	log.Warn("stream batch given up: OnFailure record sent", "destination", m.destinationARN)
}

// sendWithRetry sends one message, retrying failed calls (the edge may inject faults).
func sendWithRetry(ctx context.Context, c *sqs.Client, in *sqs.SendMessageInput) error {
	var err error
	for attempt := range deletePolicy.Attempts {
		if attempt > 0 && !sleep(ctx, nil, deletePolicy.Backoff(attempt)) {
			break
		}
		if _, err = c.SendMessage(ctx, in); err == nil {
			return nil
		}
	}
	return fmt.Errorf("send to %s: %w", aws.ToString(in.QueueUrl), err)
}
