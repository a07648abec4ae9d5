package redrive

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/internal/change"
)

// changesFailedPrefix is where the change archive's delivery stream writes the changes its
// processor did not answer Ok (template.yaml, ChangeDeliveryStream's ErrorOutputPrefix).
const changesFailedPrefix = "errors/changes/processing-failed/"

// changesPrefix is where the change lines are kept, by day of arrival, as Firehose writes them.
const changesPrefix = "changes/"

// Changes replays what the change archive's delivery stream could not process. That stream
// reads a Kinesis stream, so nothing can be put back into it: instead each change record of a
// batch that failed whole (its rawData, the record DynamoDB wrote) becomes its change line here,
// as the change transformer makes it, and the lines go under changes/, in the day partition of
// their arrival, one gzip object per error object. The object's key derives from the error
// object's, so a run that wrote it and then failed to clear the error object writes the same
// object again rather than a second copy. What the transformer refused, and what is still no
// change record, stays under the prefix.
func (r *Redriver) Changes(ctx context.Context) (Counts, error) {
	if r.Names.LakeBucket == "" {
		return Counts{}, fmt.Errorf("changes redrive: the stack names no lake bucket")
	}
	return r.replayPrefix(ctx, changesFailedPrefix, func(ctx context.Context, key string, recs []errorRecord) ([]errorRecord, error) {
		byDay := map[string][]byte{} // day partition -> change lines
		var left []errorRecord
		for _, e := range recs {
			day := dayPartition(time.UnixMilli(e.ArrivalTimestamp))
			lines, err := change.AppendLine(byDay[day], e.RawData)
			if err != nil {
				left = append(left, e)
				continue
			}
			byDay[day] = lines
		}
		sum := sha256.Sum256([]byte(key))
		name := "redriven-" + hex.EncodeToString(sum[:8]) + ".gz"
		for day, lines := range byDay {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, _ = zw.Write(lines) // into memory: cannot fail
			if err := zw.Close(); err != nil {
				return nil, err
			}
			if _, err := r.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.Names.LakeBucket), Key: aws.String(changesPrefix + day + name),
				Body: bytes.NewReader(z.Bytes()), ContentLength: aws.Int64(int64(z.Len()))}); err != nil {
				return nil, fmt.Errorf("write the change lines: %w", err)
			}
		}
		return left, nil
	})
}

// dayPartition is the lake's date partition of t, as the delivery streams' prefixes write it.
func dayPartition(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("year=%04d/month=%02d/day=%02d/", t.Year(), int(t.Month()), t.Day())
}
