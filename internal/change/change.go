// Package change turns the records that DynamoDB's Kinesis streaming destination writes for the
// event store into the lake's change lines: one JSON object per item-level change, with the keys
// and the new and old images as plain JSON (not DynamoDB's attribute-value JSON), so that Athena
// and any JSON reader can use them without knowing DynamoDB's type descriptors.
//
// A change line reads
//
//	{"operation":"INSERT","table":"…","keys":{…},"newImage":{…},"oldImage":null,
//	 "approximateCreationTime":"2026-11-23T10:00:00.123Z","eventId":"…"}
//
// and ends in "\n". Numbers keep their decimal digits exactly as DynamoDB stored them, sets become
// arrays, binary values base64 strings, attribute names are sorted; an image the record does not
// carry is null. The conversion is the one jsonattr's FromLambda + AppendJSON make (a differential
// fuzz test holds them together), done straight from the bytes at about a seventh of the
// allocations (image.go).
package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stream-to-events/stream-to-events/internal/record"
)

// ErrNotChange is wrapped by every error about bytes that are not a change record DynamoDB wrote:
// the record goes to Firehose's error prefix with its bytes as they came.
var ErrNotChange = errors.New("not a DynamoDB change record")

// Operations DynamoDB reports in eventName.
const (
	Insert = "INSERT"
	Modify = "MODIFY"
	Remove = "REMOVE"
)

// Precisions of ApproximateCreationDateTime (the table's KinesisStreamSpecification chooses).
const (
	Millisecond = "MILLISECOND"
	Microsecond = "MICROSECOND"
)

// microsecondsFrom tells a microsecond timestamp from a millisecond one when a record does not
// say its precision: 1e14 µs is 1973, 1e14 ms the year 5138.
const microsecondsFrom = 1e14

// kinesisRecord is the documented record format of the Kinesis streaming destination.
type kinesisRecord struct {
	AWSRegion    string          `json:"awsRegion"`
	EventID      string          `json:"eventID"`
	EventName    string          `json:"eventName"`
	RecordFormat string          `json:"recordFormat"`
	TableName    string          `json:"tableName"`
	EventSource  string          `json:"eventSource"`
	DynamoDB     *dynamodbFields `json:"dynamodb"`
}

// The images stay raw: image.go turns them into plain JSON straight from the bytes.
type dynamodbFields struct {
	ApproximateCreationDateTime          *json.Number    `json:"ApproximateCreationDateTime"`
	ApproximateCreationDateTimePrecision string          `json:"ApproximateCreationDateTimePrecision"`
	Keys                                 json.RawMessage `json:"Keys"`
	NewImage                             json.RawMessage `json:"NewImage"`
	OldImage                             json.RawMessage `json:"OldImage"`
	SizeBytes                            int64           `json:"SizeBytes"`
}

// Line decodes one Kinesis record DynamoDB wrote and returns its change line.
func Line(data []byte) ([]byte, error) {
	return AppendLine(make([]byte, 0, len(data)), data)
}

// AppendLine decodes one Kinesis record DynamoDB wrote and appends its change line to dst. On
// error dst is returned as it was; the error wraps ErrNotChange.
func AppendLine(dst, data []byte) ([]byte, error) {
	var r kinesisRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrNotChange, err)
	}
	if err := r.check(); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrNotChange, err)
	}
	created, err := r.DynamoDB.created()
	if err != nil {
		return dst, fmt.Errorf("%w: %v", ErrNotChange, err)
	}
	start := len(dst)
	out := append(dst, `{"operation":`...)
	out = appendString(out, r.EventName)
	out = append(out, `,"table":`...)
	out = appendString(out, r.TableName)
	for _, img := range []struct {
		name, field string
		image       json.RawMessage
	}{{`,"keys":`, "Keys", r.DynamoDB.Keys}, {`,"newImage":`, "NewImage", r.DynamoDB.NewImage}, {`,"oldImage":`, "OldImage", r.DynamoDB.OldImage}} {
		out = append(out, img.name...)
		if out, err = appendImage(out, img.image); err != nil {
			return dst[:start], fmt.Errorf("%w: event %s dynamodb.%s: %v", ErrNotChange, r.EventID, img.field, err)
		}
	}
	out = append(out, `,"approximateCreationTime":"`...)
	out = created.UTC().AppendFormat(out, record.TimeLayout)
	out = append(out, `","eventId":`...)
	out = appendString(out, r.EventID)
	out = append(out, '}', '\n')
	return out, nil
}

func (r *kinesisRecord) check() error {
	switch {
	case r.EventSource != "aws:dynamodb":
		return fmt.Errorf("eventSource %q, want aws:dynamodb", r.EventSource)
	case r.RecordFormat != "" && r.RecordFormat != "application/json":
		return fmt.Errorf("recordFormat %q, want application/json", r.RecordFormat)
	case r.EventName != Insert && r.EventName != Modify && r.EventName != Remove:
		return fmt.Errorf("eventName %q, want INSERT, MODIFY or REMOVE", r.EventName)
	case r.TableName == "":
		return errors.New("no tableName")
	case r.EventID == "":
		return errors.New("no eventID")
	case r.DynamoDB == nil:
		return errors.New("no dynamodb")
	case isNull(r.DynamoDB.Keys) || bytes.Equal(bytes.TrimSpace(r.DynamoDB.Keys), []byte("{}")):
		return errors.New("no dynamodb.Keys")
	case r.EventName != Remove && isNull(r.DynamoDB.NewImage):
		// The destination always writes both images: an INSERT or MODIFY without the new one
		// was not written by it.
		return fmt.Errorf("%s without dynamodb.NewImage", r.EventName)
	}
	return nil
}

// created reads ApproximateCreationDateTime in the precision the record states.
func (d *dynamodbFields) created() (time.Time, error) {
	if d.ApproximateCreationDateTime == nil {
		return time.Time{}, errors.New("no dynamodb.ApproximateCreationDateTime")
	}
	n, err := d.ApproximateCreationDateTime.Int64()
	if err != nil || n <= 0 {
		return time.Time{}, fmt.Errorf("dynamodb.ApproximateCreationDateTime %s is not a positive integer", *d.ApproximateCreationDateTime)
	}
	switch d.ApproximateCreationDateTimePrecision {
	case Microsecond:
		return time.UnixMicro(n), nil
	case Millisecond:
		return time.UnixMilli(n), nil
	case "":
		if n >= microsecondsFrom {
			return time.UnixMicro(n), nil
		}
		return time.UnixMilli(n), nil
	}
	return time.Time{}, fmt.Errorf("dynamodb.ApproximateCreationDateTimePrecision %q, want MILLISECOND or MICROSECOND", d.ApproximateCreationDateTimePrecision)
}

// appendImage writes an image as plain JSON, null when the record has none.
func appendImage(dst []byte, image json.RawMessage) ([]byte, error) {
	if isNull(image) {
		return append(dst, "null"...), nil
	}
	return appendPlainItem(dst, image, 0)
}

// isNull reports a field that is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// appendString writes s as a JSON string; s came out of a JSON decoder, so it marshals.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
