// Package lake reads the lake bucket as the delivery streams write it: objects under a prefix,
// GZIP when a stream's CompressionFormat says so, one record a line. The local runner's summary
// and the tests read what landed through it; a Reader reads each object once, for those that
// poll the lake until a run has settled.
package lake

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Keys lists the keys of bucket under prefix, every page of them.
func Keys(ctx context.Context, c *s3.Client, bucket, prefix string) ([]string, error) {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// Object reads the object bucket/key, gunzipped when it is GZIP (a delivery stream's
// CompressionFormat); gzipped says whether it was.
func Object(ctx context.Context, c *s3.Client, bucket, key string) (body []byte, gzipped bool, err error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, false, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	body, err = io.ReadAll(out.Body)
	if err != nil || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		return body, false, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, true, fmt.Errorf("gunzip s3://%s/%s: %w", bucket, key, err)
	}
	body, err = io.ReadAll(zr)
	return body, true, err
}

// Lines are the lines of a lake object's body, as bufio.ScanLines splits them (no line end, a
// last line without one kept), each a part of body.
func Lines(body []byte) [][]byte {
	var lines [][]byte
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte("\n"))
		lines = append(lines, bytes.TrimSuffix(line, []byte("\r")))
		body = rest
	}
	return lines
}

// Reader keeps what it made of each object of a bucket, so that polling the lake fetches only
// the objects that are new since the last poll. A delivery stream writes every object under a key
// of its own and never rewrites it, so what was read of an object stays true.
type Reader[T any] struct {
	Client *s3.Client
	Bucket string
	// Read makes what is kept of an object from its body, gunzipped.
	Read func(key string, body []byte) (T, error)

	mu   sync.Mutex
	read map[string]T // by key
}

// Objects returns what Read made of every object under prefix, by key, reading the objects it
// has not read before.
func (r *Reader[T]) Objects(ctx context.Context, prefix string) (map[string]T, error) {
	keys, err := Keys(ctx, r.Client, r.Bucket, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(keys))
	for _, key := range keys {
		r.mu.Lock()
		v, ok := r.read[key]
		r.mu.Unlock()
		if !ok {
			body, _, err := Object(ctx, r.Client, r.Bucket, key)
			if err != nil {
				return nil, err
			}
			if v, err = r.Read(key, body); err != nil {
				return nil, fmt.Errorf("s3://%s/%s: %w", r.Bucket, key, err)
			}
			r.mu.Lock()
			if r.read == nil {
				r.read = map[string]T{}
			}
			r.read[key] = v
			r.mu.Unlock()
		}
		out[key] = v
	}
	return out, nil
}
