package generate

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	firehosetypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
)

// The PutRecordBatch limits: 500 records and 4 MiB of record data a call. They cannot be raised.
const (
	FirehoseMaxRecords = 500
	FirehoseMaxBytes   = 4 << 20
)

type recordBatchPutter interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

var _ recordBatchPutter = (*firehose.Client)(nil)

// Firehose sends records to a delivery stream with PutRecordBatch.
type Firehose struct {
	client recordBatchPutter
	stream string
}

var _ Destination = (*Firehose)(nil)

// NewFirehose returns a destination that puts records on the delivery stream named stream;
// client is a *firehose.Client.
func NewFirehose(client recordBatchPutter, stream string) *Firehose {
	return &Firehose{client: client, stream: stream}
}

// Limits are PutRecordBatch's.
func (f *Firehose) Limits() (int, int) { return FirehoseMaxRecords, FirehoseMaxBytes }

// Put makes one PutRecordBatch call. A 200 answer can still refuse records (FailedPutCount, an
// ErrorCode per record, in request order): those are returned to be sent again.
func (f *Firehose) Put(ctx context.Context, records []Record) ([]Record, error) {
	in := &firehose.PutRecordBatchInput{
		DeliveryStreamName: aws.String(f.stream),
		Records:            make([]firehosetypes.Record, len(records)),
	}
	for i, r := range records {
		in.Records[i] = firehosetypes.Record{Data: r.Data}
	}
	out, err := f.client.PutRecordBatch(ctx, in)
	if err != nil {
		err = fmt.Errorf("PutRecordBatch to %s: %w", f.stream, err)
		if !retryable(err) {
			return records, &PermanentError{Err: err}
		}
		return records, err
	}
	if aws.ToInt32(out.FailedPutCount) == 0 {
		return nil, nil
	}
	if len(out.RequestResponses) != len(records) {
		// Without a per-record answer there is no telling which got in: all go again, and the
		// lake may hold some twice, which at-least-once delivery allows.
		return records, fmt.Errorf("PutRecordBatch to %s: %d failed but %d answers for %d records",
			f.stream, aws.ToInt32(out.FailedPutCount), len(out.RequestResponses), len(records))
	}
	var failed []Record
	for i, resp := range out.RequestResponses {
		if resp.ErrorCode != nil {
			failed = append(failed, records[i])
		}
	}
	return failed, nil
}

// retryableCodes are the error codes of a call that may get through later.
var retryableCodes = map[string]bool{
	"ServiceUnavailableException": true,
	"ThrottlingException":         true,
	"LimitExceededException":      true,
	"InternalFailure":             true,
	"InternalServerError":         true,
	"RequestTimeout":              true,
}

// retryable tells a call that may get through later (throttling, a server error) from one that
// will not (no such stream, bad input, access denied, nothing listening: the SDK has already
// retried connection errors by then).
func retryable(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && retryableCodes[apiErr.ErrorCode()] {
		return true
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		code := respErr.HTTPStatusCode()
		return code >= 500 || code == 429
	}
	return false
}
