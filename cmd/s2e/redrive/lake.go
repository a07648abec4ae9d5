package redrive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/internal/transform"
)

// ProcessingFailedPrefix is where the ingest delivery stream writes the records its processor
// did not answer Ok (template.yaml, ErrorOutputPrefix with error-output-type processing-failed).
const ProcessingFailedPrefix = "errors/processing-failed/"

// refusedCode is the errorCode of a record the processor itself answered ProcessingFailed: bad
// input, kept where it is. Every other code is a failure of the whole invocation (the function
// failed, timed out or could not reach the queue), whose records were never looked at.
const refusedCode = "Lambda.ProcessingFailed"

type lakeClient interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ lakeClient = (*s3.Client)(nil)

// errorRecord is one line of a Firehose error object, with the line itself, to keep it as it was.
type errorRecord struct {
	ErrorCode        string `json:"errorCode"`
	RawData          []byte `json:"rawData"` // base64 in the line
	ArrivalTimestamp int64  `json:"arrivalTimestamp"`
	line             []byte
}

// Lake puts the records of whole failed processor invocations, which Firehose wrote under
// errors/processing-failed/ once its retries ran out, back into the ingest delivery stream as
// their original bytes. A failed put leaves the object as it was, for the next run; a record put
// twice is a duplicate the flow absorbs.
func (r *Redriver) Lake(ctx context.Context) (Counts, error) {
	if r.Names.LakeBucket == "" || r.Names.IngestDeliveryStream == "" {
		return Counts{}, fmt.Errorf("lake redrive: the stack names no lake bucket or ingest delivery stream")
	}
	reput := &transform.Reingester{Client: r.Clients.Firehose, Policy: policy}
	return r.replayPrefix(ctx, ProcessingFailedPrefix, func(ctx context.Context, _ string, recs []errorRecord) ([]errorRecord, error) {
		data := make([][]byte, len(recs))
		for i, e := range recs {
			data[i] = e.RawData
		}
		return nil, reput.Reput(ctx, r.Names.IngestDeliveryStream, data)
	})
}

// replayFunc replays the records of one error object that failed with their whole batch, and
// returns those it could not take, which stay in the object.
type replayFunc func(ctx context.Context, key string, recs []errorRecord) (left []errorRecord, err error)

// replayPrefix replays every error object under prefix. An object is then deleted, or rewritten
// with only what stays: the records the processor refused as bad input, which stay for
// inspection, and those replay could not take. An object whose replay failed stays as it was.
func (r *Redriver) replayPrefix(ctx context.Context, prefix string, replay replayFunc) (Counts, error) {
	var c Counts
	pages := s3.NewListObjectsV2Paginator(r.Clients.S3, &s3.ListObjectsV2Input{Bucket: aws.String(r.Names.LakeBucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return c, fmt.Errorf("list s3://%s/%s: %w", r.Names.LakeBucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			n, err := r.replayObject(ctx, key, replay)
			if err != nil {
				c.Failed++
				r.log().Warn("redrive: object left as it was", "key", key, "error", err)
				continue
			}
			c.Messages++
			if n > 0 {
				c.Redriven++
			}
			c.Records += n
		}
	}
	if c.Failed > 0 {
		return c, fmt.Errorf("redrive: %d of %d objects under %s not replayed (they stay)", c.Failed, c.Failed+c.Messages, prefix)
	}
	return c, nil
}

// replayObject replays one error object and returns how many records it replayed.
func (r *Redriver) replayObject(ctx context.Context, key string, replay replayFunc) (int, error) {
	out, err := r.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.Names.LakeBucket), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	body, err := readMaybeGzip(out.Body)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	var failed, stay []errorRecord
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20) // a record is at most 1,000 KiB, base64 a third more
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e := errorRecord{line: bytes.Clone(line)}
		if err := json.Unmarshal(line, &e); err != nil {
			return 0, fmt.Errorf("line is not a Firehose error record: %w", err)
		}
		if e.ErrorCode == refusedCode {
			stay = append(stay, e)
		} else {
			failed = append(failed, e)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if len(failed) == 0 {
		return 0, nil // only refused records: they stay
	}
	left, err := replay(ctx, key, failed)
	if err != nil {
		return 0, err
	}
	n := len(failed) - len(left)
	if n == 0 {
		return 0, nil
	}
	var kept bytes.Buffer
	for _, e := range append(stay, left...) {
		kept.Write(e.line)
		kept.WriteByte('\n')
	}
	if kept.Len() == 0 {
		_, err = r.Clients.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.Names.LakeBucket), Key: aws.String(key)})
	} else {
		// What stays, uncompressed, under the same key.
		_, err = r.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.Names.LakeBucket), Key: aws.String(key),
			Body: bytes.NewReader(kept.Bytes()), ContentLength: aws.Int64(int64(kept.Len()))})
	}
	if err != nil {
		return n, fmt.Errorf("records replayed, but the object not cleared (a next run replays them again): %w", err)
	}
	return n, nil
}

// readMaybeGzip reads an object that Firehose may have compressed (CompressionFormat GZIP).
func readMaybeGzip(body io.ReadCloser) ([]byte, error) {
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 256<<20))
	if err != nil {
		return nil, err
	}
	if len(b) > 1 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(io.LimitReader(zr, 1<<30))
	}
	return b, nil
}
