package lake_test

import (
	"bytes"
	"compress/gzip"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/local/lake"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// A Reader fetches each object once, however often it is polled, and sees new objects as they
// land and rewritten ones anew; a gzipped object is read gunzipped.
func TestReaderReadsEachObjectOnce(t *testing.T) {
	c := s3.NewFromConfig(mototest.StartConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
	const bucket = "lake"
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte("c\nd\ne\n"))
	zw.Close()
	put("records/1", []byte("a\nb\n"))
	put("records/2", zipped.Bytes())
	put("errors/1", []byte("x\n"))

	var fetched []string
	r := &lake.Reader[int]{Client: c, Bucket: bucket, Read: func(key string, body []byte) (int, error) {
		fetched = append(fetched, key)
		return len(lake.Lines(body)), nil
	}}
	for range 3 {
		got, err := r.Objects(t.Context(), "records/")
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"records/1": 2, "records/2": 3}; !maps.Equal(got, want) {
			t.Fatalf("Objects = %v, want %v", got, want)
		}
	}
	put("records/3", []byte("f\n"))
	got, err := r.Objects(t.Context(), "records/")
	if err != nil {
		t.Fatal(err)
	}
	if got["records/3"] != 1 || len(got) != 3 {
		t.Errorf("after a new object, Objects = %v", got)
	}
	if want := []string{"records/1", "records/2", "records/3"}; !slices.Equal(fetched, want) {
		t.Errorf("fetched %v, want each object once: %v", fetched, want)
	}

	// A redrive rewrites an object in place with the lines it keeps: the new version is read.
	put("records/1", []byte("b\n"))
	if got, err = r.Objects(t.Context(), "records/"); err != nil || got["records/1"] != 1 {
		t.Errorf("after records/1 was rewritten with one line, Objects = %v (%v)", got, err)
	}
}
