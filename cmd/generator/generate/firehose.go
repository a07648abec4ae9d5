package generate

import (
	"context"
	"errors"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	firehosetypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"

	"github.com/stream-to-events/stream-to-events/internal/transform"
)

// Firehose sends records to a delivery stream with PutRecordBatch.
type Firehose struct {
	client transform.RecordBatchPutter
	stream string
}

var _ Destination = (*Firehose)(nil)

// NewFirehose returns a destination that puts records on the delivery stream named stream;
// client is a *firehose.Client.
func NewFirehose(client transform.RecordBatchPutter, stream string) *Firehose {
	return &Firehose{client: client, stream: stream}
}

// Limits are PutRecordBatch's.
func (f *Firehose) Limits() (int, int) { return transform.MaxPutRecords, transform.MaxPutBytes }

// Put makes one PutRecordBatch call, as the transformer puts records back (transform.PutRecordBatch:
// a call Firehose took in is never sent again). A 200 answer can still refuse records
// (FailedPutCount, an ErrorCode per record, in request order): those are returned to be sent again.
func (f *Firehose) Put(ctx context.Context, records []Record) ([]Record, string, error) {
	recs := make([]firehosetypes.Record, len(records))
	for i, r := range records {
		recs[i] = firehosetypes.Record{Data: r.Data}
	}
	again, why, err := transform.PutRecordBatch(ctx, f.client, f.stream, recs)
	if err != nil {
		if !retryable(err) {
			return records, "", &PermanentError{Err: err}
		}
		return records, "", err
	}
	failed := make([]Record, len(again))
	for i, at := range again {
		failed[i] = records[at]
	}
	return failed, why, nil
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
