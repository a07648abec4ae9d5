package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stream-to-events/stream-to-events/internal/contracts"
	"github.com/stream-to-events/stream-to-events/internal/queue"
	"github.com/stream-to-events/stream-to-events/internal/record"
)

const (
	order     = `{"type":"order","key":"SKU-1","id":"o-1","time":"2026-11-23T10:00:00Z","data":{"customer":{"name":"Ada"},"sku":"SKU-1","price":12.5,"shipTo":{"name":"Ada","address":"1 Main St","city":"Springfield","state":"IL","zip":"62701"},"billTo":{"name":"Ada","address":"1 Main St","city":"Springfield","state":"IL","zip":"62701"}}}`
	device    = `{"type":"device","key":"motor-7","data":{"motorId":"motor-7","sensorData":{"readingId":"r-1","pressure":101.3,"temperature":-4}}}`
	inventory = `{"type":"inventory","key":"mi-0abc","data":{"schemaVersion":"1.0","typeName":"Custom:SAPInstance","id":"mi-0abc","content":[{"sid":"HDB","systemNumber":"00","virtualHostname":"sap-hana-1","instanceName":"HDB00"},{"sid":"S4H","systemNumber":"01","virtualHostname":"sap-app-1","instanceName":"ASCS01"}]}}`
	security  = `{"type":"security","key":"arn:aws:securityhub:us-east-1:123456789012:insight/123456789012/custom/a1","data":{"version":"0","id":"e-1","detail-type":"Security Hub Insight Results","source":"aws.securityhub","account":"123456789012","time":"2026-11-23T10:00:00Z","region":"us-east-1","resources":["arn:aws:securityhub:us-east-1::product/aws/macie"],"detail":{"insightName":"Users with keys","insightArn":"arn:aws:securityhub:us-east-1:123456789012:insight/123456789012/custom/a1","resultType":"ResourceAwsIamAccessKeyUserName","insightResults":[{"admin":5},{"ci":6}]}}}`
	raw       = `{"hello":"world","n":[1,2,3]}`
)

func newTransformer(t testing.TB, s sender) *Transformer {
	t.Helper()
	set, err := contracts.Load("../../layers/contracts")
	if err != nil {
		t.Fatal(err)
	}
	return &Transformer{Parser: record.NewParser(set), Sender: s}
}

type fakeSender struct {
	sent []queue.Message
	err  error
}

func (f *fakeSender) SendMessages(_ context.Context, msgs []queue.Message, _ string) error {
	f.sent = append(f.sent, msgs...)
	return f.err
}

func inputs(data ...string) []Input {
	in := make([]Input, len(data))
	for i, d := range data {
		in[i] = Input{RecordID: "rec-" + string(rune('a'+i)), Data: []byte(d), ArrivalMillis: 1795428000456, Source: "ingest"}
	}
	return in
}

func TestTransformMixedBatch(t *testing.T) {
	fake := &fakeSender{}
	tr := newTransformer(t, fake)
	in := inputs(order, `not json`, device, inventory, `{"type":"order","key":"k","data":{"sku":1}}`, security, raw)
	res, err := tr.Transform(t.Context(), in)
	out := res.Outputs
	if err != nil {
		t.Fatal(err)
	}
	wantOk := []bool{true, false, true, true, false, true, true}
	var okLines []string
	for i, o := range out {
		if o.RecordID != in[i].RecordID {
			t.Errorf("output %d has record id %q, want %q", i, o.RecordID, in[i].RecordID)
		}
		if (o.Result == Ok) != wantOk[i] {
			t.Errorf("record %d: %v (%v), want ok=%v", i, o.Result, o.Err, wantOk[i])
			continue
		}
		if o.Result == ProcessingFailed {
			if !bytes.Equal(o.Data, in[i].Data) || o.Err == nil {
				t.Errorf("failed record %d: data %q, err %v; want the original bytes and a reason", i, o.Data, o.Err)
			}
			continue
		}
		if !bytes.HasSuffix(o.Data, []byte("\n")) || bytes.Count(o.Data, []byte("\n")) != 1 {
			t.Errorf("record %d is not one line: %q", i, o.Data)
		}
		var r record.Record
		if err := json.Unmarshal(o.Data, &r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if want, _ := json.Marshal(r); string(want)+"\n" != string(o.Data) {
			t.Errorf("record %d is not canonical:\n%s\nwant %s", i, o.Data, want)
		}
		okLines = append(okLines, strings.TrimSuffix(string(o.Data), "\n"))
	}
	var bodies []string
	for _, m := range fake.sent {
		bodies = append(bodies, m.Body)
	}
	if strings.Join(bodies, "\n") != strings.Join(okLines, "\n") {
		t.Errorf("queue got\n%s\nwant the Ok records\n%s", strings.Join(bodies, "\n"), strings.Join(okLines, "\n"))
	}
	var first record.Record
	if err := json.Unmarshal([]byte(okLines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if res.Taken != 7 || res.Failed != 2 || res.First.ID != first.ID {
		t.Errorf("outcome: %d taken, %d failed, first %q; want 7, 2 and the first good record, %q", res.Taken, res.Failed, res.First.ID, first.ID)
	}
}

func TestTransformQueueFailures(t *testing.T) {
	in := inputs(order, device, raw)
	tests := []struct {
		name     string
		err      error
		wantErr  bool
		wantFail []bool
	}{
		{"queue down: the invocation fails", &queue.SendError{Failures: []queue.Failure{{ID: "o-1"}}, Err: errors.New("throttled")}, true, nil},
		{"unexpected error: the invocation fails", errors.New("boom"), true, nil},
		{"a record SQS refuses for good is failed, the rest go on", &queue.SendError{Failures: []queue.Failure{{ID: "o-1", Code: "InvalidMessageContents", Message: "bad", Permanent: true}}}, false, []bool{true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := newTransformer(t, &fakeSender{err: tt.err}).Transform(t.Context(), in)
			out := res.Outputs
			if tt.wantErr {
				if err == nil || out != nil {
					t.Fatalf("Transform = %v, %v; want an error and no output, so no record is Ok", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range out {
				if (o.Result == ProcessingFailed) != tt.wantFail[i] {
					t.Errorf("record %d: %v (%v)", i, o.Result, o.Err)
				}
			}
		})
	}
}

func TestTransformEmptyBatch(t *testing.T) {
	res, err := newTransformer(t, &fakeSender{}).Transform(t.Context(), nil)
	out := res.Outputs
	if err != nil || len(out) != 0 {
		t.Errorf("empty batch: %v, %v", out, err)
	}
}
