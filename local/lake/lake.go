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
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Keys lists the keys of bucket under prefix, every page of them.
func Keys(ctx context.Context, c *s3.Client, bucket, prefix string) ([]string, error) {
	objects, err := list(ctx, c, bucket, prefix)
	keys := make([]string, len(objects))
	for i, o := range objects {
		keys[i] = aws.ToString(o.Key)
	}
	return keys, err
}

// list lists the objects of bucket under prefix, every page of them.
func list(ctx context.Context, c *s3.Client, bucket, prefix string) ([]types.Object, error) {
	var objects []types.Object
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		objects = append(objects, page.Contents...)
	}
	return objects, nil
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
// the objects that are new or rewritten since the last poll (a delivery stream writes every
// object under a key of its own; a redrive rewrites the error objects it took records from).
type Reader[T any] struct {
	Client *s3.Client
	Bucket string
	// Read makes what is kept of an object from its body, gunzipped.
	Read func(key string, body []byte) (T, error)

	mu   sync.Mutex
	read map[string]readObject[T] // by key
}

// readObject is what Read made of one version of an object, known by its ETag.
type readObject[T any] struct {
	etag string
	v    T
}

// Objects returns what Read made of every object under prefix, by key, reading the objects it
// has not read before in their listed version.
func (r *Reader[T]) Objects(ctx context.Context, prefix string) (map[string]T, error) {
	objects, err := list(ctx, r.Client, r.Bucket, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(objects))
	for _, o := range objects {
		key, etag := aws.ToString(o.Key), aws.ToString(o.ETag)
		r.mu.Lock()
		got, ok := r.read[key]
		r.mu.Unlock()
		if !ok || got.etag != etag {
			body, _, err := Object(ctx, r.Client, r.Bucket, key)
			if err != nil {
				return nil, err
			}
			v, err := r.Read(key, body)
			if err != nil {
				return nil, fmt.Errorf("s3://%s/%s: %w", r.Bucket, key, err)
			}
			got = readObject[T]{etag: etag, v: v}
			r.mu.Lock()
			if r.read == nil {
				r.read = map[string]readObject[T]{}
			}
			r.read[key] = got
			r.mu.Unlock()
		}
		out[key] = got.v
	}
	return out, nil
}
