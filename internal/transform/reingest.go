package transform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stream-to-events/stream-to-events/internal/batch"
)

// PutRecordBatch limits of one call.
const (
	MaxReputRecords = 500
	MaxReputBytes   = 4 << 20
)

type recordBatchPutter interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

var _ recordBatchPutter = (*firehose.Client)(nil)

// Reingester puts records back into the delivery stream they came from, as their original bytes,
// the way AWS's own Firehose processor blueprints hand back what one invocation cannot answer.
type Reingester struct {
	Client recordBatchPutter
	Policy batch.Policy
}

// Reput puts every record into stream, at most 500 records and 4 MiB a call, and puts the
// entries Firehose refused again with backoff. It returns an error unless all of them got in.
//
// PutRecordBatch has no idempotency key: a call sent again after Firehose took it in puts its
// records in twice, and each lands twice in the lake. So a call that Firehose answered with
// success but whose answer could not be read (the connection failed mid-answer) is not sent
// again, by the SDK or here: its records are in. Only the rare entries Firehose might have
// refused within that very answer are unconfirmed, and that is logged with their count.
func (r *Reingester) Reput(ctx context.Context, stream string, data [][]byte) error {
	recs := make([]fhtypes.Record, len(data))
	for i, d := range data {
		recs[i] = fhtypes.Record{Data: d}
	}
	size := func(rec fhtypes.Record) int { return len(rec.Data) }
	for _, chunk := range batch.Chunks(recs, MaxReputRecords, MaxReputBytes, size) {
		var refused string // why Firehose last refused an entry
		left, err := batch.Retry(ctx, r.Policy, chunk, func(ctx context.Context, pending []fhtypes.Record) ([]fhtypes.Record, error) {
			out, err := r.Client.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: pending}, noResendOfAccepted)
			if err != nil && accepted(err) {
				slog.WarnContext(ctx, "records put back, but Firehose's answer could not be read: entries it may have refused in it are unconfirmed",
					"deliveryStream", stream, "records", len(pending), "error", err)
				return nil, nil
			}
			if err != nil {
				return pending, fmt.Errorf("PutRecordBatch to %s: %w", stream, err)
			}
			if aws.ToInt32(out.FailedPutCount) == 0 {
				return nil, nil
			}
			if len(out.RequestResponses) != len(pending) {
				return pending, fmt.Errorf("PutRecordBatch to %s: %d answers for %d records", stream, len(out.RequestResponses), len(pending))
			}
			var failed []fhtypes.Record
			for i, rr := range out.RequestResponses {
				if rr.ErrorCode != nil {
					failed = append(failed, pending[i])
					refused = aws.ToString(rr.ErrorCode) + ": " + aws.ToString(rr.ErrorMessage)
				}
			}
			return failed, nil
		})
		if len(left) > 0 {
			return fmt.Errorf("reingest: %d records not put back into %s (last refusal %q): %w", len(left), stream, refused, err)
		}
	}
	return nil
}

// noResendOfAccepted keeps the SDK from sending a PutRecordBatch again once Firehose has answered
// it with success (see Reput).
func noResendOfAccepted(o *firehose.Options) { o.Retryer = acceptedRetryer{o.Retryer} }

type acceptedRetryer struct{ aws.Retryer }

func (r acceptedRetryer) IsErrorRetryable(err error) bool {
	return !accepted(err) && r.Retryer.IsErrorRetryable(err)
}

// accepted reports whether err came with a 2xx answer: the service took the call in, and only
// reading its answer failed.
func accepted(err error) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 200 && re.HTTPStatusCode() < 300
}
