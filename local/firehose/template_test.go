package firehose

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/local/samtemplate"
	"github.com/stream-to-events/stream-to-events/local/stack"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// The real template.yaml, provisioned by the real stack: its delivery stream takes records and
// writes them under its prefixes in the lake bucket.
func TestRealTemplateDeliveryStream(t *testing.T) {
	tmpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Skipf("no template.yaml: %v", err)
	}
	moto := mototest.Start(t)
	st, err := stack.New(tmpl, stack.Options{BuildDir: t.TempDir(), Endpoint: moto.URL, APIURL: "http://127.0.0.1:3000"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Provision(t.Context(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	inv := &transformer{}
	svc, err := New(st, inv, Options{RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(t.Context()) })
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	name, err := st.Resolve(map[string]any{"Ref": "IngestDeliveryStream"})
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := st.Resolve(map[string]any{"Ref": "LakeBucket"})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Streams(); len(got) != 1 || got[0] != name {
		t.Fatalf("streams = %v, want [%v]", got, name)
	}
	client := fh.NewFromConfig(clientConfig(srv.URL))
	if _, err := client.PutRecordBatch(t.Context(), &fh.PutRecordBatchInput{DeliveryStreamName: aws.String(fmt.Sprint(name)),
		Records: []fhtypes.Record{{Data: []byte("a")}, {Data: []byte("fail")}}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := &harness{s3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })}
	objs := h.objectsIn(t, fmt.Sprint(bucket))
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
	if lake != 1 || errs != 1 || inv.calls.Load() != 1 {
		t.Errorf("objects %v; processor calls %d", keys(objs), inv.calls.Load())
	}
}
