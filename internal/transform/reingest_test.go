package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/stream-to-events/stream-to-events/internal/batch"
	"github.com/stream-to-events/stream-to-events/test/awsfake"
)

// fakeReingester keeps what was put back, and fails when told to.
type fakeReingester struct {
	calls  int
	stream string
	put    []string
	err    error
}

func (f *fakeReingester) Reput(_ context.Context, stream string, data [][]byte) error {
	f.calls++
	f.stream = stream
	for _, d := range data {
		f.put = append(f.put, string(d))
	}
	return f.err
}

// TestTransformDropsWhatDoesNotFit: past MaxRecords, or past the answer's budget, records are
// answered Dropped, not queued, and put back once each as their original bytes; a failed put
// fails the invocation so that Firehose retries the batch.
func TestTransformDropsWhatDoesNotFit(t *testing.T) {
	data := []string{order, `not json`, device, inventory, security, raw, device}
	in := inputs(data...)
	okLen := func(i int) int { // what in[i] costs in the answer when taken on
		res, err := newTransformer(t, &fakeSender{}).Transform(t.Context(), in[i:i+1])
		out := res.Outputs
		if err != nil {
			t.Fatal(err)
		}
		return AnswerRecordLen(in[i].RecordID, out[0].Result, len(out[0].Data))
	}
	droppedLen := func(from int) int {
		n := 0
		for _, x := range in[from:] {
			n += AnswerRecordLen(x.RecordID, Dropped, 0)
		}
		return n
	}
	// A budget that holds the first three records and the Dropped answers of the rest, but not
	// the fourth record as well.
	budget := answerEnvelopeLen + okLen(0) + okLen(1) + okLen(2) + droppedLen(3)
	tests := []struct {
		name     string
		mod      func(*Transformer)
		wantKept int
	}{
		{"record count", func(tr *Transformer) { tr.MaxRecords = 4 }, 4},
		{"answer size", func(tr *Transformer) { tr.MaxAnswerBytes = budget }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, re := &fakeSender{}, &fakeReingester{}
			tr := newTransformer(t, q)
			tr.Reingester = re
			tt.mod(tr)
			res, err := tr.Transform(t.Context(), in)
			out := res.Outputs
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range out {
				if got, want := o.Result == Dropped, i >= tt.wantKept; got != want {
					t.Errorf("record %d: %v, want dropped = %v", i, o.Result, want)
				}
				if o.Result == Dropped && len(o.Data) != 0 {
					t.Errorf("dropped record %d answered with data %q", i, o.Data)
				}
			}
			if re.calls != 1 || re.stream != "ingest" || strings.Join(re.put, "\n") != strings.Join(data[tt.wantKept:], "\n") {
				t.Errorf("put back %d times into %q:\n%s\nwant once into ingest the original bytes of\n%s", re.calls, re.stream,
					strings.Join(re.put, "\n"), strings.Join(data[tt.wantKept:], "\n"))
			}
			var ids []string
			for _, m := range q.sent {
				ids = append(ids, m.Record.Key)
			}
			if want := tt.wantKept - 1; len(q.sent) != want { // record 1 is not JSON
				t.Errorf("queued %v, want the %d good records taken on", ids, want)
			}
			if res.Taken != tt.wantKept || res.Failed != 1 { // record 1 is not JSON
				t.Errorf("outcome: %d taken, %d failed; want %d taken (the rest dropped) and 1 failed", res.Taken, res.Failed, tt.wantKept)
			}
			if n := AnswerLen(out); tt.name == "answer size" && n > budget {
				t.Errorf("answer of %d bytes, over the budget of %d", n, budget)
			}
		})
	}
	t.Run("the put fails", func(t *testing.T) {
		tr := newTransformer(t, &fakeSender{})
		tr.Reingester = &fakeReingester{err: errors.New("firehose down")}
		tr.MaxRecords = 2
		res, err := tr.Transform(t.Context(), in)
		out := res.Outputs
		if err == nil || out != nil || !strings.Contains(err.Error(), "firehose down") {
			t.Fatalf("Transform = %v, %v; want an error and no answer, so Firehose retries the batch", out, err)
		}
	})
	t.Run("nothing to put back with", func(t *testing.T) {
		tr := newTransformer(t, &fakeSender{})
		tr.MaxRecords = 2
		if _, err := tr.Transform(t.Context(), in); err == nil {
			t.Fatal("records past the bound were neither answered nor put back, and no error said so")
		}
	})
}

// TestReputSplitsAndRetries: Reput calls PutRecordBatch at its limits and puts the refused
// entries again, and reports the ones that never got in.
func TestReputSplitsAndRetries(t *testing.T) {
	awsfake.NoRetryWait(t)
	type call struct {
		DeliveryStreamName string
		Records            []struct{ Data []byte }
	}
	// respond refuses the first entry of every call while refuse is set.
	respond := func(refuse *bool) func(string, []byte) (int, string) {
		return func(target string, body []byte) (int, string) {
			if target != "Firehose_20150804.PutRecordBatch" {
				return 400, `{"__type":"InvalidArgumentException","message":"unexpected ` + target + `"}`
			}
			var in call
			if err := json.Unmarshal(body, &in); err != nil {
				return 400, `{"__type":"SerializationException","message":"bad JSON"}`
			}
			var rr []string
			failed := 0
			for i := range in.Records {
				if i == 0 && *refuse {
					failed++
					rr = append(rr, `{"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."}`)
					continue
				}
				rr = append(rr, fmt.Sprintf(`{"RecordId":"r%d"}`, i))
			}
			return 200, fmt.Sprintf(`{"FailedPutCount":%d,"Encrypted":false,"RequestResponses":[%s]}`, failed, strings.Join(rr, ","))
		}
	}
	data := make([][]byte, 1203)
	for i := range data {
		data[i] = []byte(fmt.Sprintf(`{"n":%d}`, i))
	}
	t.Run("all get in", func(t *testing.T) {
		refuse := true
		tr := &awsfake.Transport{Record: true}
		calls := 0
		tr.Respond = func(target string, body []byte) (int, string) {
			calls++
			refuse = calls%2 == 1 // each chunk's first call refuses one entry, its second takes it
			return respond(&refuse)(target, body)
		}
		r := &Reingester{Client: firehose.NewFromConfig(tr.Config(t.Context())), Policy: batch.DefaultPolicy}
		if err := r.Reput(t.Context(), "ingest", data); err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		var sizes []int
		for _, req := range tr.Requests() {
			var in call
			if err := json.Unmarshal(req.Body, &in); err != nil {
				t.Fatal(err)
			}
			if in.DeliveryStreamName != "ingest" {
				t.Errorf("put into %q", in.DeliveryStreamName)
			}
			sizes = append(sizes, len(in.Records))
			for i, rec := range in.Records {
				if i == 0 && len(in.Records) > 1 {
					continue // refused by this call
				}
				got[string(rec.Data)]++
			}
		}
		if fmt.Sprint(sizes) != "[500 1 500 1 203 1]" {
			t.Errorf("calls of %v records, want chunks of at most 500 and each refused entry again", sizes)
		}
		for _, d := range data {
			if got[string(d)] != 1 {
				t.Fatalf("record %s got in %d times, want once", d, got[string(d)])
			}
		}
	})
	t.Run("refused until the retries are spent", func(t *testing.T) {
		refuse := true
		tr := &awsfake.Transport{Respond: respond(&refuse)}
		r := &Reingester{Client: firehose.NewFromConfig(tr.Config(t.Context())), Policy: batch.Policy{Attempts: 2}}
		err := r.Reput(t.Context(), "ingest", data[:3])
		if err == nil || !strings.Contains(err.Error(), "ServiceUnavailableException") {
			t.Fatalf("Reput = %v, want an error naming Firehose's refusal", err)
		}
	})
}

// TestReputDoesNotResendWhatFirehoseTookIn: a PutRecordBatch that Firehose answered with success
// is not sent again when its answer cannot be read, by the SDK or by Reput, since each call sent
// again would put its records in twice; a call that failed before Firehose answered it still is.
func TestReputDoesNotResendWhatFirehoseTookIn(t *testing.T) {
	awsfake.NoRetryWait(t)
	data := make([][]byte, 700)
	for i := range data {
		data[i] = fmt.Appendf(nil, `{"n":%d}`, i)
	}
	for _, tt := range []struct {
		name      string
		status    int
		wantCalls int
		wantErr   bool
	}{
		{"answered 200, answer unreadable: each chunk once", 200, 2, false},
		{"answered 500: the SDK and Reput try again, then give up", 500, 3 * 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := &awsfake.Transport{Record: true, CutAnswers: tt.status == 200, Respond: func(string, []byte) (int, string) {
				if tt.status != 200 {
					return tt.status, `{"__type":"InternalFailure","message":"boom"}`
				}
				return 200, `{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[]}`
			}}
			cfg := fake.Config(t.Context())
			cfg.Retryer = awsfake.SDKRetries
			r := &Reingester{Client: firehose.NewFromConfig(cfg), Policy: batch.Policy{Attempts: 2}}
			err := r.Reput(t.Context(), "ingest", data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Reput = %v, want error %v", err, tt.wantErr)
			}
			if n := len(fake.Requests()); n != tt.wantCalls {
				t.Errorf("%d PutRecordBatch calls for 700 records, want %d", n, tt.wantCalls)
			}
		})
	}
}
