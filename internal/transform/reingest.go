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

// PutRecordBatch limits of one call: 500 records and 4 MiB of record data. They cannot be raised.
const (
	MaxPutRecords = 500
	MaxPutBytes   = 4 << 20
)

// RecordBatchPutter is Firehose's PutRecordBatch, as a *firehose.Client has it.
type RecordBatchPutter interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

var _ RecordBatchPutter = (*firehose.Client)(nil)

// Reingester puts records back into the delivery stream they came from, as their original bytes,
// the way AWS's own Firehose processor blueprints hand back what one invocation cannot answer.
type Reingester struct {
	Client RecordBatchPutter
	Policy batch.Policy
}

// Reput puts every record into stream, at most 500 records and 4 MiB a call, and puts the
// entries Firehose refused again with backoff. It returns an error unless all of them got in.
func (r *Reingester) Reput(ctx context.Context, stream string, data [][]byte) error {
	recs := make([]fhtypes.Record, len(data))
	for i, d := range data {
		recs[i] = fhtypes.Record{Data: d}
	}
	size := func(rec fhtypes.Record) int { return len(rec.Data) }
	for _, chunk := range batch.Chunks(recs, MaxPutRecords, MaxPutBytes, size) {
		var refused string // why Firehose last refused an entry
		left, err := batch.Retry(ctx, r.Policy, chunk, func(ctx context.Context, pending []fhtypes.Record) ([]fhtypes.Record, error) {
			again, why, err := PutRecordBatch(ctx, r.Client, stream, pending)
			if err != nil {
				return pending, err
			}
			if why != "" {
				refused = why
			}
			failed := make([]fhtypes.Record, len(again))
			for i, at := range again {
				failed[i] = pending[at]
			}
			return failed, nil
		})
		if len(left) > 0 {
			return fmt.Errorf("reingest: %d records not put back into %s (last refusal %q): %w", len(left), stream, refused, err)
		}
	}
	return nil
}

// PutRecordBatch makes one PutRecordBatch call of recs to stream. It returns the positions in recs
// of the entries to put again (Firehose refused them, or its answer does not say), with why the
// last was refused; or an error when the call itself failed, and then none of recs got in.
//
// PutRecordBatch has no idempotency key: a call sent again after Firehose took it in puts its
// records in twice, and each lands twice in the lake. So a call that Firehose answered with
// success but whose answer could not be read (the connection failed mid-answer) is not sent
// again, by the SDK or here: its records are in. Only the rare entries Firehose might have
// refused within that very answer are unconfirmed, and that is logged with their count.
func PutRecordBatch(ctx context.Context, client RecordBatchPutter, stream string, recs []fhtypes.Record) (again []int, why string, err error) {
	out, err := client.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: recs}, noResendOfAccepted)
	if err != nil && accepted(err) {
		slog.WarnContext(ctx, "records put, but Firehose's answer could not be read: entries it may have refused in it are unconfirmed",
			"deliveryStream", stream, "records", len(recs), "error", err)
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("PutRecordBatch to %s: %w", stream, err)
	}
	if aws.ToInt32(out.FailedPutCount) == 0 {
		return nil, "", nil
	}
	if len(out.RequestResponses) != len(recs) {
		// Without an answer per record there is no telling which got in: all go again, and the
		// lake may hold some twice, which at-least-once delivery allows.
		again = make([]int, len(recs))
		for i := range again {
			again[i] = i
		}
		return again, fmt.Sprintf("%d failed, but %d answers for %d records", aws.ToInt32(out.FailedPutCount), len(out.RequestResponses), len(recs)), nil
	}
	for i, rr := range out.RequestResponses {
		if rr.ErrorCode != nil {
			again = append(again, i)
			why = aws.ToString(rr.ErrorCode) + ": " + aws.ToString(rr.ErrorMessage)
		}
	}
	return again, why, nil
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
