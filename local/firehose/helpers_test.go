package firehose

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stream-to-events/stream-to-events/local/spec"
	"github.com/stream-to-events/stream-to-events/local/stack"
	"github.com/stream-to-events/stream-to-events/local/stacktest"
	"github.com/stream-to-events/stream-to-events/test/mototest"
)

// realTemplate is the real template.yaml provisioned in moto, its delivery streams run by the
// service with the fake transformer as their processor.
type realTemplate struct {
	st  *stack.Stack
	svc *Service
	inv *transformer
	cfg aws.Config // moto's
	fh  *fh.Client // a Firehose client of svc
}

// startRealTemplate starts a realTemplate; the service stops when the test ends.
func startRealTemplate(t *testing.T) *realTemplate {
	t.Helper()
	st, cfg := stacktest.Provisioned(t)
	inv := &transformer{}
	svc, err := New(st, inv, Options{RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(t.Context()) })
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return &realTemplate{
		st: st, svc: svc, inv: inv, cfg: cfg,
		fh: fh.NewFromConfig(spec.ClientConfig(srv.URL, "test")),
	}
}

// name is what the stack resolves v, a Ref or a Fn::GetAtt, to.
func (r *realTemplate) name(t *testing.T, v any) string {
	t.Helper()
	out, err := r.st.Resolve(v)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(out)
}

// lake is the lake bucket's objects by key, gunzipped.
func (r *realTemplate) lake(t *testing.T) map[string]string {
	t.Helper()
	return mototest.Objects(t, s3.NewFromConfig(r.cfg, func(o *s3.Options) { o.UsePathStyle = true }), r.name(t, map[string]any{"Ref": "LakeBucket"}), "")
}
