package firehose

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

// The real template.yaml, provisioned by the real stack: its delivery stream takes records and
// writes them under its prefixes in the lake bucket.
func TestRealTemplateDeliveryStream(t *testing.T) {
	rt := startRealTemplate(t)
	name := rt.name(t, map[string]any{"Ref": "IngestDeliveryStream"})
	if got := rt.svc.Streams(); len(got) != 1 || got[0] != name {
		t.Fatalf("streams = %v, want [%v]", got, name)
	}
	if _, err := rt.fh.PutRecordBatch(t.Context(), &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(name),
		Records: []fhtypes.Record{{Data: []byte("a")}, {Data: []byte("fail")}}}); err != nil {
		t.Fatal(err)
	}
	if err := rt.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	objs := rt.lake(t)
	now := time.Now().UTC()
	var lake, errs int
	for k := range objs {
		switch {
		case strings.HasPrefix(k, now.Format("records/year=2006/month=01/day=02/")):
			lake++
		case strings.HasPrefix(k, now.Format("errors/processing-failed/year=2006/month=01/day=02/")):
			errs++
		}
	}
	if lake != 1 || errs != 1 || rt.inv.calls.Load() != 1 {
		t.Errorf("objects %v; processor calls %d", keys(objs), rt.inv.calls.Load())
	}
}
