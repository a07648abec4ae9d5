package mototest

import (
	"context"
	"fmt"
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
	keys, err := lake.Keys(t.Context(), c, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		body, gzipped, err := lake.Object(t.Context(), c, bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		if !gzipped {
			t.Fatalf("s3://%s/%s is not GZIP, as the template's CompressionFormat says", bucket, key)
		}
		for _, l := range lake.Lines(body) {
			line(key, l)
		}
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
