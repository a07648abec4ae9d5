package redrive

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// streamRecorder takes PutRecordBatch calls, refusing the first entry of the first call.
type streamRecorder struct {
	mu      sync.Mutex
	got     []string
	refused bool
}

func (f *streamRecorder) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if aws.ToString(in.DeliveryStreamName) != "ingest" {
		return nil, fmt.Errorf("stream %q", aws.ToString(in.DeliveryStreamName))
	}
	out := &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(0), RequestResponses: make([]fhtypes.PutRecordBatchResponseEntry, len(in.Records))}
	for i, r := range in.Records {
		if !f.refused {
			f.refused = true
			out.FailedPutCount = aws.Int32(1)
			out.RequestResponses[i] = fhtypes.PutRecordBatchResponseEntry{ErrorCode: aws.String("ServiceUnavailableException"), ErrorMessage: aws.String("slow down")}
			continue
		}
		f.got = append(f.got, string(r.Data))
		out.RequestResponses[i] = fhtypes.PutRecordBatchResponseEntry{RecordId: aws.String(fmt.Sprint(i))}
	}
	return out, nil
}

func errorLine(code, raw string) string {
	return fmt.Sprintf(`{"attemptsMade":4,"arrivalTimestamp":1,"errorCode":%q,"errorMessage":"m","attemptEndingTimestamp":2,"rawData":%q,"lambdaArn":"arn"}`,
		code, base64.StdEncoding.EncodeToString([]byte(raw)))
}

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = io.WriteString(zw, s)
	_ = zw.Close()
	return b.Bytes()
}

// TestLakeRedrive puts the records of failed processor invocations back into the delivery
// stream, keeps the records the transformer refused, and leaves an object it cannot read.
func TestLakeRedrive(t *testing.T) {
	s3c, bucket := lakeBucket(t)
	refused := errorLine("Lambda.ProcessingFailed", `{"bad":`)
	objects := map[string][]byte{
		ProcessingFailedPrefix + "mixed.gz":   gz(errorLine("Lambda.FunctionError", `{"a":1}`) + "\n" + refused + "\n" + errorLine("Lambda.InvokeFailed", `{"a":2}`) + "\n"),
		ProcessingFailedPrefix + "refused.gz": gz(refused + "\n"),
		ProcessingFailedPrefix + "failed.gz":  gz(errorLine("Lambda.FunctionError", `{"a":3}`) + "\n"),
		ProcessingFailedPrefix + "broken.gz":  gz("not json\n"),
		"errors/format-conversion-failed/x":   []byte(errorLine("Lambda.FunctionError", `{"a":4}`)),
	}
	for k, v := range objects {
		if _, err := s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(v)}); err != nil {
			t.Fatal(err)
		}
	}
	fh := &streamRecorder{}
	r := &Redriver{Names: Names{LakeBucket: bucket, IngestDeliveryStream: "ingest"}, Clients: Clients{S3: s3c, Firehose: fh}, Logger: slog.New(slog.DiscardHandler)}
	c, err := r.Lake(t.Context())
	if err == nil || !strings.Contains(err.Error(), "1 of 4 objects") {
		t.Errorf("error %v, want one saying the broken object was not replayed", err)
	}
	slices.Sort(fh.got)
	if want := []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}; !slices.Equal(fh.got, want) {
		t.Errorf("put back %q, want %q (each once, as original bytes)", fh.got, want)
	}
	if c.Records != 3 || c.Redriven != 2 || c.Messages != 3 || c.Failed != 1 {
		t.Errorf("counts %+v", c)
	}
	left := mototest.Objects(t, s3c, bucket)
	if _, ok := left[ProcessingFailedPrefix+"failed.gz"]; ok {
		t.Error("an object whose every record went back is still there")
	}
	if got := left[ProcessingFailedPrefix+"mixed.gz"]; got != refused+"\n" {
		t.Errorf("mixed object now holds %q, want only the refused record", got)
	}
	for _, k := range []string{ProcessingFailedPrefix + "refused.gz", ProcessingFailedPrefix + "broken.gz", "errors/format-conversion-failed/x"} {
		if _, ok := left[k]; !ok {
			t.Errorf("%s was removed", k)
		}
	}
}

// lakeBucket starts moto and makes a lake bucket in it.
func lakeBucket(t *testing.T) (*s3.Client, string) {
	t.Helper()
	c := s3.NewFromConfig(mototest.StartConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
	const bucket = "lake"
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return c, bucket
}
