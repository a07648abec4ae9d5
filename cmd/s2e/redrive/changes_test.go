package redrive

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/internal/change"
	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// TestChangesRedrive turns the change records of a batch that failed whole into their change
// lines under changes/, in the day of their arrival, keeps what the transformer refused and what
// is no change record, and writes the same object again on a second run rather than a copy.
func TestChangesRedrive(t *testing.T) {
	s3c, bucket := lakeBucket(t)
	var sample struct{ Records []struct{ Data []byte } }
	b, err := os.ReadFile("../../../events/firehose-kinesis-changes.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sample); err != nil || len(sample.Records) < 2 {
		t.Fatalf("the change fixture: %v", err)
	}
	line := func(code string, raw []byte, arrival int64) string {
		return fmt.Sprintf(`{"attemptsMade":4,"arrivalTimestamp":%d,"errorCode":%q,"errorMessage":"m","rawData":%q}`,
			arrival, code, base64.StdEncoding.EncodeToString(raw))
	}
	const day1, day2 = 1795428001123, 1795528001123 // 2026-11-23 and 2026-11-24 UTC
	refused := line("Lambda.ProcessingFailed", []byte(`{"x":1}`), day1)
	notChange := line("Lambda.FunctionError", []byte(`{"x":2}`), day1)
	key := changesFailedPrefix + "year=2026/month=11/day=23/batch.gz"
	obj := gz(strings.Join([]string{
		line("Lambda.FunctionError", sample.Records[0].Data, day1), refused,
		line("Lambda.InvokeFailed", sample.Records[1].Data, day2), notChange,
	}, "\n") + "\n")
	if _, err := s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(obj)}); err != nil {
		t.Fatal(err)
	}
	r := &Redriver{Names: Names{LakeBucket: bucket}, Clients: Clients{S3: s3c}, Logger: slog.New(slog.DiscardHandler)}
	c, err := r.Changes(t.Context())
	if err != nil || c.Records != 2 || c.Redriven != 1 {
		t.Fatalf("Changes = %+v, %v; want 2 records of 1 object", c, err)
	}
	objects := mototest.Objects(t, s3c, bucket, changesPrefix)
	want := map[string]string{}
	for i, d := range []string{"year=2026/month=11/day=23/", "year=2026/month=11/day=24/"} {
		l, err := change.Line(sample.Records[i].Data)
		if err != nil {
			t.Fatal(err)
		}
		want[d] = string(l)
	}
	n := 0
	for k, body := range objects {
		if !strings.HasPrefix(k, changesPrefix) {
			continue
		}
		n++
		day := strings.TrimPrefix(k, changesPrefix)[:len("year=2026/month=11/day=23/")]
		if body != want[day] {
			t.Errorf("%s holds %q, want the change line of that day's record %q", k, body, want[day])
		}
	}
	if n != 2 {
		t.Errorf("%d objects under changes/, want one for each day: %v", n, objects)
	}
	if got := objects[key]; got != refused+"\n"+notChange+"\n" {
		t.Errorf("the error object holds %q, want the refused record and the one that is no change", got)
	}
	// What stays is not replayed again, and nothing more is written.
	if again, err := r.Changes(t.Context()); err != nil || again.Records != 0 || len(mototest.Objects(t, s3c, bucket, changesPrefix)) != 3 {
		t.Errorf("a second run: %+v, %v, %d objects; want nothing replayed", again, err, len(mototest.Objects(t, s3c, bucket, changesPrefix)))
	}
	// A run whose clearing of the error object failed replays the object again: it writes the
	// same objects under changes/ again, not copies beside them.
	if _, err := s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(obj)}); err != nil {
		t.Fatal(err)
	}
	if again, err := r.Changes(t.Context()); err != nil || again.Records != 2 {
		t.Fatalf("a run over the restored object: %+v, %v; want its 2 records replayed", again, err)
	}
	after := mototest.Objects(t, s3c, bucket, changesPrefix)
	for k, body := range objects {
		if strings.HasPrefix(k, changesPrefix) && after[k] != body {
			t.Errorf("%s holds %q after the replay again, want %q", k, after[k], body)
		}
	}
	if len(after) != len(objects) {
		t.Errorf("%d objects after the replay again, want the %d there were: %v", len(after), len(objects), after)
	}
}

// The redrive writes change lines where the change archive's delivery stream writes them, and
// reads the failed batches where it puts them: the template's prefixes, expanded for one day.
func TestChangesPrefixesAreTheTemplates(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join("..", "..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dest, _ := tmpl.Resources["ChangeDeliveryStream"].Properties["ExtendedS3DestinationConfiguration"].(map[string]any)
	prefix, _ := dest["Prefix"].(string)
	errPrefix, _ := dest["ErrorOutputPrefix"].(string)
	expand := strings.NewReplacer("!{timestamp:yyyy}", "2027", "!{timestamp:MM}", "03", "!{timestamp:dd}", "04",
		"!{firehose:error-output-type}", "processing-failed")
	if got, want := expand.Replace(prefix), changesPrefix+dayPartition(time.Date(2027, 3, 4, 23, 59, 0, 0, time.UTC)); got != want {
		t.Errorf("ChangeDeliveryStream writes under %q (%q), the redrive under %q", got, prefix, want)
	}
	if got := expand.Replace(errPrefix); !strings.HasPrefix(got, changesFailedPrefix) {
		t.Errorf("ChangeDeliveryStream puts failed batches under %q (%q), the redrive reads %q", got, errPrefix, changesFailedPrefix)
	}
}
