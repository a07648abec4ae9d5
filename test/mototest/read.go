package mototest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/local/lake"
)

// What a test reads back from moto (or from the local runner's edge in front of it): the lake's
// lines (see local/lake), and a table's items.

// EachLine calls line with every line of every object of bucket under prefix, and the object's
// key. The objects must be GZIP, as the template's delivery streams write them; one that is
// not, or that cannot be read, fails the test.
func EachLine(t testing.TB, c *s3.Client, bucket, prefix string, line func(key string, line []byte)) {
	t.Helper()
	eachObject(t, c, bucket, prefix, []string{prefix}, func(key string, body []byte) {
		for _, l := range lake.Lines(body) {
			line(key, l)
		}
	})
}

// Objects are the bodies of every object of bucket by key, gunzipped. Those under a prefix of
// gzipped must be GZIP, as the template's delivery streams write them ("" for every object); one
// that is not, or that cannot be read, fails the test.
func Objects(t testing.TB, c *s3.Client, bucket string, gzipped ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	eachObject(t, c, bucket, "", gzipped, func(key string, body []byte) { out[key] = string(body) })
	return out
}

func eachObject(t testing.TB, c *s3.Client, bucket, prefix string, gzipped []string, each func(key string, body []byte)) {
	t.Helper()
	keys, err := lake.Keys(t.Context(), c, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		body, wasGzip, err := lake.Object(t.Context(), c, bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		if !wasGzip && slices.ContainsFunc(gzipped, func(p string) bool { return strings.HasPrefix(key, p) }) {
			t.Fatalf("s3://%s/%s is not GZIP, as the template's CompressionFormat says", bucket, key)
		}
		each(key, body)
	}
}

// Scan calls each with every item of table, with the attributes projection names ("" for all).
func Scan(ctx context.Context, db *dynamodb.Client, table, projection string, each func(item map[string]types.AttributeValue)) error {
	in := &dynamodb.ScanInput{TableName: aws.String(table)}
	if projection != "" {
		in.ProjectionExpression = aws.String(projection)
	}
	pages := dynamodb.NewScanPaginator(db, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan %s: %w", table, err)
		}
		for _, item := range page.Items {
			each(item)
		}
	}
	return nil
}
