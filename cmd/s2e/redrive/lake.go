package redrive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/internal/transform"
)

// ProcessingFailedPrefix is where the ingest delivery stream writes the records its processor
// did not answer Ok (template.yaml, ErrorOutputPrefix with error-output-type processing-failed).
const ProcessingFailedPrefix = "errors/processing-failed/"

// refusedCode is the errorCode of a record the transformer itself answered ProcessingFailed: bad
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

type recordPutter interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

var _ recordPutter = (*firehose.Client)(nil)

// errorRecord is one line of a Firehose error object.
type errorRecord struct {
	ErrorCode string `json:"errorCode"`
	RawData   string `json:"rawData"`
}

// Lake puts the records of whole failed processor invocations, which Firehose wrote under
// errors/processing-failed/ once its retries ran out, back into the ingest delivery stream as
// their original bytes. An object is then deleted, or rewritten with only the records the
// transformer refused as bad input, which stay for inspection. A failed put leaves the object as
// it was, for the next run; a record put twice is a duplicate the flow absorbs.
func (r *Redriver) Lake(ctx context.Context) (Counts, error) {
	var c Counts
	if r.Names.LakeBucket == "" || r.Names.IngestDeliveryStream == "" {
		return c, fmt.Errorf("lake redrive: the stack names no lake bucket or ingest delivery stream")
	}
	reput := &transform.Reingester{Client: r.Clients.Firehose, Policy: policy}
	pages := s3.NewListObjectsV2Paginator(r.Clients.S3, &s3.ListObjectsV2Input{Bucket: aws.String(r.Names.LakeBucket), Prefix: aws.String(ProcessingFailedPrefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return c, fmt.Errorf("list s3://%s/%s: %w", r.Names.LakeBucket, ProcessingFailedPrefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			n, err := r.redriveObject(ctx, reput, key)
			if err != nil {
				c.Failed++
				r.log().Warn("lake redrive: object left as it was", "key", key, "error", err)
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
		return c, fmt.Errorf("lake redrive: %d of %d objects not replayed (they stay under %s)", c.Failed, c.Failed+c.Messages, ProcessingFailedPrefix)
	}
	return c, nil
}

// redriveObject replays one error object and returns how many records it put back.
func (r *Redriver) redriveObject(ctx context.Context, reput *transform.Reingester, key string) (int, error) {
	out, err := r.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.Names.LakeBucket), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	body, err := readMaybeGzip(out.Body)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	var data [][]byte
	var kept bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20) // a record is at most 1,000 KiB, base64 a third more
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var er errorRecord
		if err := json.Unmarshal(line, &er); err != nil {
			return 0, fmt.Errorf("line is not a Firehose error record: %w", err)
		}
		if er.ErrorCode == refusedCode {
			kept.Write(line)
			kept.WriteByte('\n')
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(er.RawData)
		if err != nil {
			return 0, fmt.Errorf("rawData is not base64: %w", err)
		}
		data = append(data, raw)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if len(data) == 0 {
		return 0, nil // only refused records: they stay
	}
	if err := reput.Reput(ctx, r.Names.IngestDeliveryStream, data); err != nil {
		return 0, err
	}
	if kept.Len() == 0 {
		_, err = r.Clients.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.Names.LakeBucket), Key: aws.String(key)})
	} else {
		// The refused records stay, uncompressed, under the same key.
		_, err = r.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.Names.LakeBucket), Key: aws.String(key),
			Body: bytes.NewReader(kept.Bytes()), ContentLength: aws.Int64(int64(kept.Len()))})
	}
	if err != nil {
		return len(data), fmt.Errorf("records put back, but the object not cleared (a next run puts them again): %w", err)
	}
	return len(data), nil
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
